"""Band-pass and ASD measurements on simulated strain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from conftest import GPS
from utils.signal import Subbands
from utils.signal import asd_ratio
from utils.signal import band_power
from utils.signal import bandpass
from utils.signal import butter_bandpass
from utils.signal import psd
from utils.signal import psds

RATE = 4096


@pytest.fixture(scope="module")
def strain(sim) -> np.ndarray:
    """32 s of simulated strain decimated to 4096 Hz (plain slicing is
    fine for a test: the aliasing it adds is white-ish)."""
    return np.concatenate([sim.second(GPS + k).strain for k in range(32)])[::4]


def test_bandpass_keeps_the_band_and_removes_the_rest() -> None:
    x = np.random.default_rng(0).standard_normal(64 * RATE)
    y = bandpass(x, 58.0, 62.0, RATE, order=8)
    f, p_in = welch(x, RATE, nperseg=4 * RATE)
    _, p_out = welch(y, RATE, nperseg=4 * RATE)
    gain = p_out / p_in
    inside = (f >= 59) & (f <= 61)
    # zero phase: |H|^2 twice -> |H|^4; ~1 in the middle of the pass-band
    assert np.all(np.abs(gain[inside] - 1) < 0.15)
    for lo, hi in [(1, 40), (80, 2000)]:
        outside = (f >= lo) & (f <= hi)
        assert np.max(gain[outside]) < 1e-6
    # out of band, power is removed: < 1e-5 of the total beyond 5 Hz of it
    far = (f < 50) | (f > 70)
    assert p_out[far].sum() < 1e-5 * p_out.sum()


def test_bandpass_of_a_line_is_unchanged(strain) -> None:
    t = np.arange(32 * RATE) / RATE
    line = 1e-21 * np.sin(2 * np.pi * 60.0 * t)
    out = bandpass(line, 58.0, 62.0, RATE)
    middle = slice(4 * RATE, 28 * RATE)  # away from the edges' transients
    np.testing.assert_allclose(out[middle], line[middle], atol=1e-3 * 1e-21)


def test_butter_validation() -> None:
    with pytest.raises(ValueError):
        butter_bandpass(58.0, 62.0, RATE, order=7)
    with pytest.raises(ValueError):
        butter_bandpass(62.0, 58.0, RATE)
    with pytest.raises(ValueError):
        butter_bandpass(58.0, 3000.0, RATE)
    sos = butter_bandpass(58.0, 62.0, RATE, order=8)
    assert sos.shape == (4, 6) and not sos.flags.writeable


def test_asd_ratio_of_itself_is_one(strain) -> None:
    assert asd_ratio(strain, strain, RATE, 58, 62) == pytest.approx(1.0)
    assert asd_ratio(0.5 * strain, strain, RATE, 58, 62) == pytest.approx(0.5)
    zeros = np.zeros_like(strain)
    assert asd_ratio(strain, zeros, RATE, 58, 62) == 1.0


def test_cleaning_the_truth_lowers_the_ratio(sim) -> None:
    seconds = [sim.second(GPS + k) for k in range(16)]
    raw = np.concatenate([s.strain for s in seconds])
    clean = np.concatenate([s.background for s in seconds])
    assert asd_ratio(clean, raw, 16384, 58, 62) < 0.5
    # outside the coupling band nothing changes
    assert asd_ratio(clean, raw, 16384, 100, 200) == pytest.approx(1, abs=1e-3)


def test_band_power_of_a_sinusoid() -> None:
    t = np.arange(16 * RATE) / RATE
    x = 3.0 * np.sin(2 * np.pi * 60.25 * t)
    # A^2 / 2 = 4.5, all of it within 58-62 Hz
    assert band_power(x, RATE, 58, 62) == pytest.approx(4.5, rel=1e-3)
    assert band_power(x, RATE, 100, 200) < 1e-6


@pytest.mark.parametrize("seconds", [2, 3, 8, 9, 16])
def test_both_averages_come_from_one_set_of_segments(strain, seconds) -> None:
    """:func:`psds` gives what ``scipy.signal.welch`` gives with each
    average (the median's bias included, for odd and even numbers of
    segments: 2-s segments by 1 s), from one pass over the data."""
    x = np.stack([strain[: seconds * RATE], strain[-seconds * RATE :]])
    freqs, (mean, median) = psds(x, RATE, 2.0, 1.0, ("mean", "median"))
    for average, ours in (("mean", mean), ("median", median)):
        f, theirs = welch(
            x, RATE, nperseg=2 * RATE, noverlap=RATE, average=average
        )
        np.testing.assert_array_equal(freqs, f)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    # one or two segments: the median is the mean; more: it is not
    assert np.allclose(mean, median, rtol=1e-3, atol=0) == (seconds <= 3)
    with pytest.raises(ValueError, match="mean or median"):
        psds(x, RATE, 2.0, 1.0, ("mode",))


def test_psd_needs_enough_data() -> None:
    with pytest.raises(ValueError, match="at least 2.0 s"):
        psd(np.zeros(RATE), RATE)


def test_subbands_split_the_band_and_judge_each_part() -> None:
    subbands = Subbands(58.0, 62.0, (59.25, 60.75))
    assert subbands.names == ["58-59.25 Hz", "59.25-60.75 Hz", "60.75-62 Hz"]
    freqs = np.arange(0, 100.5, 0.5)
    masks = subbands.masks(freqs)
    assert [list(freqs[m]) for m in masks] == [
        [58.0, 58.5, 59.0],
        [59.5, 60.0, 60.5],
        [61.0, 61.5, 62.0],
    ]
    p_raw = np.ones_like(freqs)
    p_clean = np.where(freqs == 60.0, 4.0, 0.25)  # the line made worse
    ratios = subbands.ratios(p_clean, p_raw, freqs)
    np.testing.assert_allclose(ratios, [0.5, np.sqrt(4.5 / 3), 0.5])
    with pytest.raises(ValueError, match="increase strictly"):
        Subbands(58.0, 62.0, (60.75, 59.25))
    with pytest.raises(ValueError, match="hold no frequency bin"):
        Subbands(58.0, 62.0, (60.1, 60.3)).masks(freqs)
