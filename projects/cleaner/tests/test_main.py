"""The ``cleaner`` console script with the repository's own typeo section:
it writes frames, serves its metrics, and exits 0 on SIGTERM."""

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from simdata import GPS, Feeder
from triton_server import ROOT

from utils.follower import list_gps
from utils.testing import free_port
from utils.waiting import wait_for

CLEANER = Path(sys.executable).with_name("cleaner")


def test_console_script_runs_and_stops_on_sigterm(tmp_path, sim, triton):
    port = free_port()
    text = (ROOT / "pyproject.toml").read_text()
    text = text.replace('"127.0.0.1:8001"', f'"{triton.url}"')
    text = text.replace("metrics_port = 9103", f"metrics_port = {port}")
    config = tmp_path / "pyproject.toml"
    config.write_text(text)
    env = dict(
        os.environ,
        IFO="L1",
        PROJECT_DIR=str(tmp_path / "project"),
        DATA_DIR=str(tmp_path / "data"),
    )
    feeder = Feeder(sim, tmp_path / "data", GPS, 60, 2.0, prefill=2).start()
    process = subprocess.Popen(
        [str(CLEANER), "--typeo", f"{config}:cleaner"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    carousel = tmp_path / "project" / "carousel"
    try:
        wait_for(
            lambda: len(list_gps(carousel)) >= 3,
            "three frames",
            timeout=30,
            interval=0.2,
            alive=lambda: process.poll() is None,
        )
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            metrics = response.read().decode()
        assert "deepclean_cleaner_latency_seconds_count" in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        feeder.close()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    log = (tmp_path / "project" / "logs" / "cleaner.log").read_text()
    assert "signal SIGTERM (15): stopping" in log
    assert "stopped after" in log
    written = list_gps(carousel)
    assert written == list(range(written[0], written[-1] + 1))
