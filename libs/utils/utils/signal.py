"""Zero-phase band-pass filtering, ASD / ASD-ratio measurements and
autoregressive extrapolation.

Shapes: time series are 1-D arrays or ``(..., time)`` arrays; frequencies in
Hz; durations in seconds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as sp_signal
from scipy.linalg import solve_toeplitz


@lru_cache(maxsize=32)
def butter_bandpass(
    freq_low: float, freq_high: float, sample_rate: float, order: int = 8
) -> np.ndarray:
    """Second-order sections of a Butterworth band-pass.

    ``order`` is the order of the designed band-pass (scipy's ``N`` is half
    of it, as a band-pass doubles the order of its low-pass prototype).
    """
    if not 0 < freq_low < freq_high < sample_rate / 2:
        raise ValueError(
            f"band {freq_low}-{freq_high} Hz invalid at {sample_rate} Hz"
        )
    if order % 2:
        raise ValueError(f"band-pass order must be even, got {order}")
    sos = sp_signal.butter(
        order // 2,
        [freq_low, freq_high],
        btype="bandpass",
        fs=sample_rate,
        output="sos",
    )
    sos.setflags(write=False)
    return sos


def bandpass(
    x: np.ndarray,
    freq_low: float,
    freq_high: float,
    sample_rate: float,
    order: int = 8,
) -> np.ndarray:
    """Zero-phase (forward-backward) Butterworth band-pass along the last
    axis, with odd-extension padding at both ends."""
    # a writable copy: scipy's sosfilt refuses the cached read-only array
    sos = np.array(butter_bandpass(freq_low, freq_high, sample_rate, order))
    padlen = min(x.shape[-1] - 1, 3 * (2 * len(sos) + 1))
    return sp_signal.sosfiltfilt(sos, x, axis=-1, padlen=padlen)


def psd(
    x: np.ndarray,
    sample_rate: float,
    fftlength: float = 2.0,
    overlap: float = 1.0,
    average: str = "median",
) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD along the last axis. Returns ``(frequencies, psd)``."""
    nperseg = int(round(fftlength * sample_rate))
    noverlap = int(round(overlap * sample_rate))
    if x.shape[-1] < nperseg:
        raise ValueError(
            f"need at least {fftlength} s of data for the PSD, "
            f"got {x.shape[-1] / sample_rate} s"
        )
    return sp_signal.welch(
        x,
        fs=sample_rate,
        nperseg=nperseg,
        noverlap=noverlap,
        window="hann",
        average=average,
        axis=-1,
    )


def asd_ratio(
    cleaned: np.ndarray,
    raw: np.ndarray,
    sample_rate: float,
    freq_low: float,
    freq_high: float,
    fftlength: float = 2.0,
    overlap: float = 1.0,
    average: str = "median",
) -> float:
    """Mean over ``[freq_low, freq_high]`` of ASD(cleaned) / ASD(raw).

    Bins where the raw PSD is zero are left out; when none is left (e.g. all
    zeros) the ratio is 1 (no change).
    """
    if np.shape(cleaned) == np.shape(raw):  # one Welch call: ~2x faster
        freqs, both = psd(
            np.stack([cleaned, raw]), sample_rate, fftlength, overlap, average
        )
        p_clean, p_raw = both
    else:
        freqs, p_clean = psd(cleaned, sample_rate, fftlength, overlap, average)
        _, p_raw = psd(raw, sample_rate, fftlength, overlap, average)
    mask = (freqs >= freq_low) & (freqs <= freq_high) & (p_raw > 0)
    if not mask.any():
        return 1.0
    return float(np.mean(np.sqrt(p_clean[mask] / p_raw[mask])))


def band_power(
    x: np.ndarray,
    sample_rate: float,
    freq_low: float,
    freq_high: float,
    fftlength: float = 2.0,
) -> float:
    """Power of ``x`` in ``[freq_low, freq_high]`` (mean Welch PSD x band)."""
    freqs, p = psd(x, sample_rate, fftlength, fftlength / 2, "mean")
    mask = (freqs >= freq_low) & (freqs <= freq_high)
    return float(np.sum(p[mask]) * (freqs[1] - freqs[0]))


def extrapolate(
    x: np.ndarray, order: int, fit_size: int, size: int
) -> np.ndarray:
    """Extend ``x`` by ``size`` samples of its Yule-Walker AR prediction.

    Yule-Walker models are stable, so the extension cannot blow up.

    Args:
        x: 1-D stretch; its last ``fit_size`` samples fit the model.
        order: number of AR lags.
        fit_size: samples used for the fit.
        size: samples to append.

    Returns:
        ``x`` followed by the extension (``x`` alone if the fit segment is
        constant, e.g. all zeros).
    """
    seg = x[-fit_size:]
    mean = seg.mean()
    seg = seg - mean
    n = seg.size
    r = np.array([seg[: n - k] @ seg[k:] for k in range(order + 1)]) / n
    if r[0] <= 0:
        return x
    coef = solve_toeplitz(r[:-1], r[1:])  # x[t] = sum_k coef[k] x[t-1-k]
    den = np.concatenate([[1.0], -coef])
    zi = sp_signal.lfiltic([1.0], den, seg[::-1][:order])
    ext, _ = sp_signal.lfilter([1.0], den, np.zeros(size), zi=zi)
    return np.concatenate([x, ext + mean])
