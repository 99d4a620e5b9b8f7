"""The frame source's settings as the root ``pyproject.toml`` gives them.

Tests build their sub-configs from these and change only what they test
(``dataclasses.replace``), so no test repeats a value whose one home is
``[tool.typeo.scripts.replay]``.
"""

from __future__ import annotations

from pathlib import Path

from replay.config import ReplaySettings
from utils.config import parse_settings

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = ROOT / "pyproject.toml"
# what run.sh exports; folders are replaced by each test that uses them
ENVIRON = {
    "IFO": "L1",
    "PROJECT_DIR": "/nonexistent/project",
    "DATA_DIR": "/nonexistent/data",
}


def load_settings(
    section: str = "replay", *flags: str, path: Path = PYPROJECT
) -> ReplaySettings:
    """``replay --typeo <path>:<section> <flags>`` without running it."""
    argv = ["--typeo", f"{path}:{section}", *flags]
    return parse_settings(ReplaySettings, "replay", argv, environ=ENVIRON)


SETTINGS = load_settings()
PACE = SETTINGS.pace_config()
