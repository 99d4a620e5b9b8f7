"""Spectra of the recent data: ASD ratios and the BNS inspiral range."""

from __future__ import annotations

import numpy as np
from scipy import signal as sp_signal

from utils import astro
from utils.astro import RANGE_FFTLENGTH
from utils.signal import psd

EDGE_WIDTH = 2.0  # Hz beside each edge of the band
BROADBAND = (20.0, 500.0)  # Hz, less the band and its edges
# the regions outside the band (metric label -> what it is)
OUTSIDE = {
    "edges": f"within {EDGE_WIDTH:g} Hz of the band",
    "broadband": f"{BROADBAND[0]:g}-{BROADBAND[1]:g} Hz",
}


def outside_regions(
    freqs: np.ndarray, freq_low: float, freq_high: float
) -> dict[str, np.ndarray]:
    """The bins of each region of :data:`OUTSIDE` for the band
    ``[freq_low, freq_high]``: within ``EDGE_WIDTH`` of its edges (the
    band-pass's transition and the tracked margins, where a prediction's
    error passes), and ``BROADBAND`` beyond them (clicks, anything
    broadband)."""
    band = (freqs >= freq_low) & (freqs <= freq_high)
    near = (freqs >= freq_low - EDGE_WIDTH) & (freqs <= freq_high + EDGE_WIDTH)
    wide = (freqs >= BROADBAND[0]) & (freqs <= BROADBAND[1])
    return {"edges": near & ~band, "broadband": wide & ~near}


def periodograms(segments: np.ndarray, sample_rate: float) -> np.ndarray:
    """Hann-windowed periodogram of each row, one Welch segment each (the
    window's segments of validation and the production watch)."""
    _, p = sp_signal.welch(
        segments,
        fs=sample_rate,
        nperseg=segments.shape[-1],
        window="hann",
        axis=-1,
    )
    return p


def region_powers(p: np.ndarray, regions: dict[str, np.ndarray]) -> np.ndarray:
    """``(rows, regions)``: the power of each row of periodograms ``p`` in
    each region (:func:`outside_regions`)."""
    return np.stack([p[..., bins].sum(-1) for bins in regions.values()], -1)


def added_fraction(power: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """The power a product adds, a fraction of RAW's (``power / raw - 1``;
    0 where RAW holds none)."""
    ok = raw > 0
    return np.where(ok, power / np.where(ok, raw, 1) - 1, 0.0)


def asd_ratios(
    data: dict[str, np.ndarray],
    raw: str,
    sample_rate: float,
    fftlength: float,
    overlap: float,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """ASD of every channel but ``raw`` divided by the ASD of ``raw``.

    Args:
        data: channel -> samples (same length, contiguous).
        raw: the reference channel.
        sample_rate: Hz.
        fftlength: s per Welch segment (median average).
        overlap: s of overlap of the segments.

    Returns:
        ``(frequencies, {channel: ratio})``; bins where the raw PSD is 0
        are NaN.
    """
    freqs, p_raw = psd(data[raw], sample_rate, fftlength, overlap)
    out = {}
    for name, x in data.items():
        if name == raw:
            continue
        _, p = psd(x, sample_rate, fftlength, overlap)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(p_raw > 0, np.sqrt(p / p_raw), np.nan)
    return freqs, out


def band_mean(
    freqs: np.ndarray, ratio: np.ndarray, low: float, high: float
) -> float:
    """Mean of ``ratio`` over ``[low, high]`` Hz, ignoring NaNs."""
    mask = (freqs >= low) & (freqs <= high) & np.isfinite(ratio)
    return float(np.mean(ratio[mask])) if mask.any() else float("nan")


def inspiral_range(x: np.ndarray, sample_rate: float, fmin: float) -> float:
    """BNS (1.4+1.4 Msun) inspiral range, Mpc, of strain ``x``
    (:func:`utils.astro.inspiral_range`, the SenseMonitor range, of a
    median Welch PSD of ``RANGE_FFTLENGTH``-s segments, as the report of a
    reprocessing). NaN when the PSD is degenerate (e.g. zeros)."""
    freqs, p = psd(x, sample_rate, RANGE_FFTLENGTH, RANGE_FFTLENGTH / 2)
    if not np.all(np.isfinite(p)) or np.all(p[freqs >= fmin] == 0):
        return float("nan")
    return astro.inspiral_range(freqs, p, fmin)
