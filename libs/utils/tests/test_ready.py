"""Analysis-ready bits of the state vector."""

from __future__ import annotations

import numpy as np

from conftest import GPS
from utils.ready import ready_samples
from utils.simulation import Fault

MASK = 0b11  # the services' ready_mask: HOFT_OK | OBSERVATION_INTENT


def test_bits_zero_and_one() -> None:
    values = np.array([0, 1, 2, 3, 7, 0x1FF, 0x1FC, 0x1FD], dtype=np.int32)
    expected = [False, False, False, True, True, True, False, False]
    assert ready_samples(values, MASK).tolist() == expected
    # another mask: bit 2 only
    assert ready_samples(values, 4).tolist() == [
        False,
        False,
        False,
        False,
        True,
        True,
        True,
        True,
    ]


def test_float_state_vector() -> None:
    values = np.array([3.0, 1.0, 7.0])
    assert ready_samples(values, MASK).tolist() == [True, False, True]
    assert not ready_samples(np.array([3.0, np.nan]), MASK).any()


def test_simulated_seconds(sim) -> None:
    assert ready_samples(sim.second(GPS).state, MASK).all()
    not_ready = sim.second(GPS, Fault.NOT_READY).state
    assert not ready_samples(not_ready, MASK).any()
    partly = sim.second(GPS).state.copy()
    partly[5] = 1
    assert ready_samples(partly, MASK).sum() == 15
