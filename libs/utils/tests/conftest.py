"""Shared fixtures of the ``utils`` tests: data come from the simulator."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.stream import PreprocessConfig
from utils.testing import logging_to

# tests of utils.nn need torch, which only the trainer and exporter
# environments have; elsewhere (e.g. .venv/replay) they are not collected
if importlib.util.find_spec("torch") is None:
    collect_ignore_glob = ["test_nn*.py"]

GPS = 1400000000  # a GPS second of 2024
IFO = "L1"
MAINS = f"{IFO}:PEM-CS_MAINSMON_EBAY_1_DQ"
STRAIN = f"{IFO}:GDS-CALIB_STRAIN"
STATE = f"{IFO}:GDS-CALIB_STATE_VECTOR"
# the services' preprocessing ([tool.typeo.base])
PREPROCESS = PreprocessConfig(
    sample_rate=4096,
    resample_context_length=1,
    drop_lookahead_length=1,
    taper_length=0.5,
    ready_mask=3,
)
# a small witness set keeps the I/O-bound tests fast
FEW_WITNESSES = (
    MAINS,
    f"{IFO}:ASC-CHARD_P_OUT_DQ",
    f"{IFO}:ASC-DHARD_Y_OUT_DQ",
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)


@pytest.fixture(scope="session")
def sim() -> Simulator:
    """The production L1 witnesses, seed 0."""
    return Simulator(SimulationConfig(ifo=IFO, seed=0))


@pytest.fixture(scope="session")
def small_sim() -> Simulator:
    """Three witnesses, two of them coupled; quick delayed writes."""
    return Simulator(
        SimulationConfig(
            ifo=IFO,
            witness_channels=FEW_WITNESSES,
            seed=1,
            num_coupled=2,
            late_delay=0.2,
            partial_pause=0.2,
        )
    )


@pytest.fixture
def service_log(tmp_path: Path) -> Iterator[Path]:
    """The log file of ``configure_logging("svc", tmp_path / "logs",
    verbose=True)``; the root logger is restored at the end."""
    with logging_to("svc", tmp_path / "logs") as path:
        yield path
