"""The entry point, run as the operator runs it: ``monitor --typeo
pyproject.toml:monitor`` (a copy of the root sections, with free ports and
small windows), stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tomllib
from pathlib import Path

import pytest
from monitor_helpers import GPS0
from monitor_helpers import TOKEN

from utils.testing import free_port
from utils.testing import running_script
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]


def root_config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["typeo"]


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def toml_table(name: str, table: dict) -> str:
    lines = [f"[{name}]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def test_entry_point_runs_and_stops_on_sigterm(tmp_path, frames, exporter):
    frames.write(GPS0, 15, canary_version=2)
    config = root_config()
    section = dict(config["scripts"]["monitor"])
    section.update(
        exporter_url=exporter.url,
        window_length=10,
        settle_length=0,  # its reference is to [cleaner], not written here
        archive_length=10,
        status_port=free_port(),
        metrics_port=free_port(),
        status_interval=1.0,
        missing_timeout=0.5,
        poll_interval=0.1,
    )
    path = tmp_path / "pyproject.toml"
    path.write_text(
        toml_table("tool.typeo.base", config["base"])
        + toml_table("tool.typeo.scripts.monitor", section)
    )
    env = {
        **os.environ,
        "IFO": "L1",
        "PROJECT_DIR": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        "DEEPCLEAN_API_TOKEN": TOKEN,
        "ARCHIVE_DIR": str(tmp_path / "archive"),
    }
    state = tmp_path / "monitor" / "state.json"
    page = tmp_path / "monitor" / "status" / "index.html"
    argv = ["--typeo", f"{path}:monitor"]
    with running_script(
        "monitor",
        *argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            wait_for(
                lambda: (
                    page.exists()
                    and state.exists()
                    and json.loads(state.read_text())["cursor"] == GPS0 + 15
                ),
                "the monitor to catch up",
                90,
                0.2,
                alive=lambda: process.poll() is None,
            )
        except RuntimeError:
            pytest.fail(process.stdout.read())
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert exporter.promotions == [2]
    archive = tmp_path / "archive" / "L-L1_DEEPCLEAN-1400000000-10.gwf"
    assert archive.exists()
    log = (tmp_path / "logs" / "monitor.log").read_text()
    assert "canary 2 promoted to production" in log
    assert "signal SIGTERM (15): stopping" in log
