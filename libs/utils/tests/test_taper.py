"""Hann ramps next to dropped seconds."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import GPS
from conftest import MAINS
from utils.taper import hann_edge
from utils.taper import taper_second


@pytest.mark.parametrize("size, taper", [(4096, 2048), (16, 8), (10, 10)])
def test_hann_edge_shapes(size: int, taper: int) -> None:
    rising = hann_edge(size, taper, rising=True)
    falling = hann_edge(size, taper, rising=False)
    assert rising.shape == falling.shape == (size,)
    np.testing.assert_array_equal(falling, rising[::-1])
    assert rising[0] == 0.0
    assert np.all(np.diff(rising[:taper]) > 0)  # strictly rising ramp
    assert np.all(rising[taper:] == 1.0)
    # the ramp is half of a Hann window: sin^2(pi n / (2 taper))
    n = np.arange(taper)
    np.testing.assert_allclose(
        rising[:taper], np.sin(np.pi * n / (2 * taper)) ** 2, atol=1e-12
    )


@pytest.mark.parametrize("size, taper", [(16, 0), (16, 17), (16, -1)])
def test_hann_edge_rejects(size: int, taper: int) -> None:
    with pytest.raises(ValueError):
        hann_edge(size, taper, rising=True)


def test_taper_second(sim) -> None:
    data = sim.second(GPS).witnesses[MAINS].data  # float32, 1024 Hz
    both = taper_second(data, 1024, 0.25, taper_in=True, taper_out=True)
    assert both.dtype == np.float64 and data.dtype == np.float32
    window = hann_edge(1024, 256, True) * hann_edge(1024, 256, False)
    np.testing.assert_allclose(both, data * window)
    untouched = taper_second(data, 1024, 0.25, False, False)
    np.testing.assert_array_equal(untouched, data)
    # the input is never modified
    assert not np.shares_memory(untouched, data)


def test_taper_longer_than_the_second_is_clipped(sim) -> None:
    data = sim.second(GPS).state.astype(float)  # 16 samples
    out = taper_second(data, 16, 5.0, taper_in=True, taper_out=False)
    np.testing.assert_allclose(out, data * hann_edge(16, 16, True))
