"""Cleaning quality against the simulator's truth, the one measure of the
tests and the benchmarks:

removed fraction = 1 - (P_band(cleaned) - P_band(background)) / P_band(truth)

where background = raw - truth is what no subtraction can remove, all at
4096 Hz (the simulator's 16384 Hz truth is resampled the way the cleaner
resamples strain), band 58-62 Hz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from utils.signal import band_power
from utils.signal import psd
from utils.simulation import read_truth

SAMPLE_RATE = 4096  # Hz of the cleaned data
BAND = (58.0, 62.0)  # Hz: the removable power


def truth_4096(
    data_dir: Path, ifo: str, gps_start: int, gps_stop: int
) -> np.ndarray:
    """Truth over ``[gps_start, gps_stop)`` resampled to 4096 Hz, with one
    second of context on each side (as the cleaner resamples)."""
    pieces = [
        read_truth(data_dir, ifo, gps)
        for gps in range(gps_start - 1, gps_stop + 1)
    ]
    x = resample_poly(np.concatenate(pieces), 1, 4)
    return x[SAMPLE_RATE:-SAMPLE_RATE]


def removed_fraction(
    cleaned: np.ndarray,
    raw: np.ndarray,
    truth: np.ndarray,
    band: tuple[float, float] = BAND,
    sample_rate: int = SAMPLE_RATE,
) -> float:
    """Of the removable power in ``band``: 1 when ``cleaned`` is the
    background, 0 when it is ``raw``, below 0 when it is worse."""

    def power(x: np.ndarray) -> float:
        return band_power(x, sample_rate, *band)

    return 1.0 - (power(cleaned) - power(raw - truth)) / power(truth)


def out_of_band_change(
    cleaned: np.ndarray, raw: np.ndarray, bands=((20, 50), (70, 500))
) -> float:
    """Largest relative change of the mean PSD in bands away from 58-62 Hz."""
    freqs, p_clean = psd(cleaned, SAMPLE_RATE, 2.0, 1.0, "mean")
    _, p_raw = psd(raw, SAMPLE_RATE, 2.0, 1.0, "mean")
    worst = 0.0
    for low, high in bands:
        mask = (freqs >= low) & (freqs <= high)
        change = abs(p_clean[mask].mean() / p_raw[mask].mean() - 1)
        worst = max(worst, change)
    return worst
