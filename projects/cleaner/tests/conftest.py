"""Fixtures of the cleaner tests: the simulator, the fitted test model, and
one real ``tritonserver`` per session serving it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from simdata import CANARY_GAIN
from simdata import EDGE_LENGTH
from simdata import GPS
from simdata import fit_coefficients
from simdata import simulation_config as make_config
from triton_server import TritonServer
from triton_server import write_repository

from utils.simulation import Simulator
from utils.testing import TRITON_SERVE

PRODUCTION_VERSION = 1
CANARY_VERSION = 2


@pytest.fixture(autouse=True)
def seeded() -> None:
    np.random.seed(0)


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cleaner")


@pytest.fixture(scope="session")
def sim() -> Simulator:
    return Simulator(make_config())


@pytest.fixture(scope="session")
def coefficients(sim: Simulator) -> np.ndarray:
    """The regression, fitted on data 1000 s before the test data."""
    return fit_coefficients(sim, GPS - 1000)


@pytest.fixture(scope="session")
def triton_session(tmp_path_factory, coefficients):
    root = tmp_path_factory.mktemp("triton")
    if not TRITON_SERVE.exists():
        pytest.fail(f"no {TRITON_SERVE}")
    write_repository(root / "repo", coefficients)
    server = TritonServer(
        root / "repo", root / "triton.log", EDGE_LENGTH, CANARY_GAIN
    )
    server.configure(PRODUCTION_VERSION, CANARY_VERSION)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def triton(triton_session: TritonServer) -> TritonServer:
    """The session's server, running and serving versions 1 and 2."""
    server = triton_session
    if server.process is None or server.process.poll() is not None:
        server.process = None
        server.start()
    versions = (PRODUCTION_VERSION, CANARY_VERSION)
    if server.versions != versions or not server.pipeline_ready():
        server.configure(*versions)
    return server
