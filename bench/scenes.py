"""The simulator's configuration of a scene of the root pyproject.toml:
``[tool.typeo.scripts.replay]`` with ``replay-<scene>`` laid over it, as
``DEEPCLEAN_SCENE=<scene> ./run.sh`` runs the frame source."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from utils.config import read_tables
from utils.config import section_values
from utils.simulation import SimulationConfig

ROOT = Path(__file__).resolve().parents[1]
# the run's site settings do not change what is simulated
SITE = {"DATA_DIR": "/unused", "PROJECT_DIR": "/unused", "IFO": "L1"}


def scene_config(
    scene: str = "", config: Path = ROOT / "pyproject.toml", **more
) -> SimulationConfig:
    """``SimulationConfig`` of ``scene`` ("" = the default section), its
    fields replaced by ``more``; a scene without a section of its own is
    refused, as ``run.sh`` refuses it."""
    section = f"replay-{scene}" if scene else "replay"
    scripts = read_tables(config)[1]
    if section not in scripts:
        scenes = sorted(s[7:] for s in scripts if s.startswith("replay-"))
        raise SystemExit(f"no scene {scene!r} in {config} (scenes: {scenes})")
    values = section_values(config, section, SITE)
    fields = {f.name for f in dataclasses.fields(SimulationConfig)}
    chosen = {k: v for k, v in values.items() if k in fields}
    for key in ("witness_channels", "asc_band", "injection_snr"):
        if key in chosen:
            chosen[key] = tuple(chosen[key])
    return SimulationConfig(**{**chosen, **more})
