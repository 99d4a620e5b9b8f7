"""The ``cleaner`` console script with the repository's own typeo section:
it writes frames, serves its metrics, and exits 0 on SIGTERM."""

import signal
import subprocess
import urllib.request

from simdata import GPS
from simdata import Feeder
from triton_server import ROOT

from utils.follower import list_gps
from utils.testing import free_port
from utils.testing import running_script
from utils.testing import service_environ
from utils.waiting import wait_for


def test_console_script_runs_and_stops_on_sigterm(tmp_path, sim, triton):
    port = free_port()
    config = ROOT / "pyproject.toml"
    env = service_environ(
        tmp_path,
        # the ports run.sh would give a run (pyproject.toml, base)
        DEEPCLEAN_PORT_TRITON_GRPC=str(triton.grpc_port),
        DEEPCLEAN_PORT_CLEANER_METRICS=str(port),
    )
    argv = ["--typeo", f"{config}:cleaner"]
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    feeder = Feeder(sim, tmp_path / "data", GPS, 60, 2.0, prefill=2).start()
    carousel = tmp_path / "project" / "carousel"
    try:
        with running_script("cleaner", *argv, env=env, **quiet) as process:
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
    log = (tmp_path / "project" / "logs" / "cleaner.log").read_text()
    assert "signal SIGTERM (15): stopping" in log
    assert "stopped after" in log
    written = list_gps(carousel)
    assert written == list(range(written[0], written[-1] + 1))
