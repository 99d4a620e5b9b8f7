"""Shared fixtures of the replay tests."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from replay.metrics import SourceMetrics
from utils.simulation import SimulationConfig

GPS = 1400000000  # a GPS second well in the past (2024)


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)


@pytest.fixture
def simulation() -> SimulationConfig:
    """The production L1 witnesses, seed 0."""
    return SimulationConfig(ifo="L1", seed=0)


@pytest.fixture
def stop() -> threading.Event:
    return threading.Event()


@pytest.fixture
def metrics():
    """Metrics without an HTTP server."""
    out = SourceMetrics(0)
    yield out
    out.close()
