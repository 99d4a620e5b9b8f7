"""The service as a process: typeo config, frames, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import ContextManager

from conftest import GPS
from utils.names import gps_of
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.testing import free_port
from utils.testing import running_script
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
RUN_TIMEOUT = 60.0  # s for a run of a few seconds of frames to end


def config_file(tmp_path: Path, **values) -> Path:
    """A copy of the root pyproject with the replay section overridden."""
    text = (ROOT / "pyproject.toml").read_text()
    section = "[tool.typeo.scripts.replay]\n"
    extra = "".join(f"{k} = {v}\n" for k, v in values.items())
    lines = []
    skip = set(values)
    in_section = False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            in_section = line == section
        if in_section and line.split("=")[0].strip() in skip:
            continue
        lines.append(line)
        if line == section:
            lines.append(extra)
    path = tmp_path / "pyproject.toml"
    path.write_text("".join(lines))
    return path


def start(
    tmp_path: Path, section: str = "replay", **values
) -> ContextManager[subprocess.Popen]:
    """``replay`` on a copy of the root config with ``values`` in its
    section; killed at the end of the ``with`` if it still runs."""
    config = config_file(tmp_path, **values)
    env = dict(
        os.environ,
        IFO="L1",
        DATA_DIR=str(tmp_path / "data"),
        PROJECT_DIR=str(tmp_path / "project"),
    )
    return running_script(
        "replay",
        "--typeo",
        f"{config}:{section}",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(tmp_path: Path, **values) -> tuple[int, str]:
    """:func:`start`, then its exit status and output once it ends by
    itself (within ``RUN_TIMEOUT`` s)."""
    with start(tmp_path, **values) as process:
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    return process.returncode, output


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    strain = tmp_path / "data" / "kafka" / "L1"
    with start(
        tmp_path,
        prefill_length=2,
        speed=2.0,
        metrics_port=free_port(),
        faults='"drop:1"',
    ) as process:
        wait_for(
            lambda: strain.is_dir() and len(os.listdir(strain)) >= 3,
            f"3 frames in {strain}",
            timeout=60,
            interval=0.1,
        )
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert "signal SIGTERM (15): stopping" in output
    log = (tmp_path / "project" / "logs" / "replay.log").read_text()
    assert "prefilled 2 seconds" in log
    assert not [p for p in (tmp_path / "data").rglob(".*") if p.is_file()]


def test_bad_config_exits_non_zero(tmp_path: Path) -> None:
    code, output = run(tmp_path, faults='"explode:3"', metrics_port=0)
    assert code == 2
    assert "unknown fault 'explode'" in output


def test_replay_mode_restamps_a_recording(tmp_path: Path) -> None:

    recording = tmp_path / "recording"
    Simulator(SimulationConfig()).write_stretch(recording, GPS, 3)
    code, output = run(
        tmp_path,
        mode='"replay"',
        source_dir=f'"{recording}"',
        speed=20.0,
        duration=3,
        metrics_port=0,
    )
    assert code == 0, output
    strain = sorted(
        gps_of(p) for p in os.listdir(tmp_path / "data" / "kafka" / "L1")
    )
    assert len(strain) == 3 and strain[0] > GPS + 10**7  # stamped now
    assert strain == list(range(strain[0], strain[0] + 3))


def test_a_missing_profile_runs_the_base_section(tmp_path: Path) -> None:
    """run.sh asks for replay-production, which the file lacks."""
    code, output = run(
        tmp_path,
        section="replay-production",
        prefill_length=0,
        speed=20.0,
        duration=2,
        metrics_port=0,
    )
    assert code == 0, output
    assert len(os.listdir(tmp_path / "data" / "kafka" / "L1")) == 2
