"""Fixtures of the trainer tests: simulated GWF frames in ``tmp_path`` and
small, fast settings (3 witnesses, runs of 16-24 s, 2 s kernels) made from
the root ``pyproject.toml``'s ``[tool.typeo.scripts.trainer]``, so that no
test repeats a value whose home is that section."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.config import TrainerSettings
from utils import settings_checks
from utils.simulation import SimulationConfig
from utils.simulation import Simulator

# what run.sh exports and the root pyproject.toml (test_main.py)
ENVIRON, PYPROJECT = settings_checks.ENVIRON, settings_checks.PYPROJECT
GPS = 1400000000
IFO = "L1"
STRAIN = f"{IFO}:GDS-CALIB_STRAIN"
STATE = f"{IFO}:GDS-CALIB_STATE_VECTOR"
WITNESSES = (
    f"{IFO}:PEM-CS_MAINSMON_EBAY_1_DQ",
    f"{IFO}:ASC-CHARD_P_OUT_DQ",
    f"{IFO}:ASC-DHARD_Y_OUT_DQ",
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def sim() -> Simulator:
    """Three witnesses, two of them coupled into strain."""
    return Simulator(
        SimulationConfig(
            ifo=IFO, witness_channels=WITNESSES, seed=1, num_coupled=2
        )
    )


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


# ``load_settings(section="trainer", *flags, path=PYPROJECT, **values)``
load_settings = settings_checks.settings_loader(TrainerSettings, "trainer")


# fast values of the tests: 16 s runs every 8 s, 2 epochs of 2 s kernels
FAST = {
    "witness_channels": list(WITNESSES),
    "frame_timeout": 0.3,
    "max_consecutive_drops": 3,
    "train_duration": 16,
    "retrain_cadence": 8,
    "ready_settle_length": 2,
    "kernel_length": 2.0,
    "kernel_stride": 0.5,
    "batch_size": 8,
    "max_epochs": 2,
    "patience": 2,
    "metrics_port": 0,
    "export_timeout": 1.0,
    "export_rescan_interval": 0.2,
    "niceness": 0,
}


@pytest.fixture()
def settings(tmp_path: Path, data_dir: Path) -> TrainerSettings:
    """``[trainer]`` with the fast values and folders in ``tmp_path``."""
    return replace(
        load_settings(),
        project_dir=tmp_path / "project",
        data_dir=data_dir,
        **FAST,
    )


def with_(settings: TrainerSettings, **changes) -> TrainerSettings:
    """A copy of ``settings`` with some values changed."""
    return replace(settings, **changes)


class FakeExporter:
    """Answers ``POST /versions`` with the next status of ``statuses``
    (the last one repeats) and records every request."""

    def __init__(self, port: int, statuses: list[int]) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(
                    {
                        "path": self.path,
                        "body": json.loads(body),
                        "auth": self.headers.get("Authorization"),
                    }
                )
                index = min(len(outer.requests), len(statuses)) - 1
                reply = json.dumps({"job": len(outer.requests)}).encode()
                self.send_response(statuses[index])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
