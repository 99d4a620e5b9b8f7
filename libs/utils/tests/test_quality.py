"""The measure of cleaning quality the tests and benchmarks share."""

from __future__ import annotations

import numpy as np
import pytest

from utils.quality import SAMPLE_RATE
from utils.quality import out_of_band_change
from utils.quality import removed_fraction


def scene(seconds: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(background, truth): noise, and a 60 Hz line coupled into it."""
    t = np.arange(seconds * SAMPLE_RATE) / SAMPLE_RATE
    background = np.random.default_rng(3).standard_normal(t.size)
    return background, 5.0 * np.sin(2 * np.pi * 60.0 * t)


def test_removed_fraction_is_1_for_the_background_and_0_for_raw() -> None:
    background, truth = scene()
    raw = background + truth
    assert removed_fraction(background, raw, truth) == pytest.approx(1.0)
    # (raw: 0 but for the cross term of line and noise)
    assert removed_fraction(raw, raw, truth) == pytest.approx(0.0, abs=0.01)
    # a tenth of the line left: 1 - 0.1^2 of its power removed
    left = removed_fraction(background + 0.1 * truth, raw, truth)
    assert left == pytest.approx(0.99, abs=0.002)
    # subtracting twice the line adds as much as raw had: worse than raw
    assert removed_fraction(background - truth, raw, truth) < 0.1
    assert removed_fraction(background - 2 * truth, raw, truth) < -0.9


def test_removed_fraction_measures_only_its_band() -> None:
    background, truth = scene()
    raw = background + truth
    elsewhere = removed_fraction(background, raw, truth, band=(70.0, 80.0))
    assert elsewhere == pytest.approx(1.0)  # no power of the line there
    assert out_of_band_change(background, raw) < 1e-3
    louder = background + 0.5 * np.roll(background, 7)
    assert out_of_band_change(louder, raw) > 0.1
