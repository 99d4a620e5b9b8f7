"""Figures of merit of a cleaned chunk: the in-band ASD ratio and the BNS
inspiral range of the raw and cleaned strain.

The range is the sky-averaged distance at which a 1.4+1.4 Msun inspiral
reaches SNR 8 (the horizon over 2.2648), from the Newtonian chirp
amplitude integrated from ``RANGE_FMIN`` to the innermost stable orbit
(Finn & Chernoff 1993; LIGO-T1500491).
"""

from __future__ import annotations

import numpy as np

from utils.signal import asd_ratio, psd

G = 6.674e-11  # m^3 kg^-1 s^-2
C = 2.998e8  # m/s
MSUN = 1.989e30  # kg
MPC = 3.0857e22  # m
MASS = 1.4  # Msun, each neutron star
SNR = 8.0  # detection threshold of the range
SKY_AVERAGE = 2.2648  # horizon / sky-averaged range
RANGE_FMIN = 10.0  # Hz
FFTLENGTH = 4.0  # s, Welch segments of the range PSD


def inspiral_range(x: np.ndarray, sample_rate: float) -> float:
    """BNS range, Mpc, of strain ``x`` (median Welch PSD, 4 s segments);
    0 when ``x`` is too short or all zeros."""
    if x.size < FFTLENGTH * sample_rate or not np.any(x):
        return 0.0
    freqs, power = psd(x, sample_rate, FFTLENGTH, FFTLENGTH / 2)
    total = 2 * MASS * MSUN
    chirp = (MASS * MSUN) ** 1.2 / total**0.2
    f_isco = C**3 / (6**1.5 * np.pi * G * total)
    band = (freqs >= RANGE_FMIN) & (freqs < f_isco) & (power > 0)
    if not band.any():
        return 0.0
    amplitude = np.sqrt(5 / 24) * np.pi ** (-2 / 3) * C
    amplitude *= (G * chirp / C**3) ** (5 / 6)
    df = freqs[1] - freqs[0]
    integral = np.sum(freqs[band] ** (-7 / 3) / power[band]) * df
    horizon = amplitude * np.sqrt(4 * integral) / SNR
    return float(horizon / SKY_AVERAGE / MPC)


def chunk_figures(
    raw: np.ndarray,
    cleaned: np.ndarray,
    present: np.ndarray,
    sample_rate: int,
    band: tuple[float, float],
) -> dict[str, float]:
    """ASD ratio (band mean) and ranges over the present seconds.

    Args:
        raw: ``(num_seconds * sample_rate,)``.
        cleaned: the same, cleaned.
        present: ``(num_seconds,)`` bool, seconds that had input.
        sample_rate: Hz.
        band: ``(freq_low, freq_high)`` Hz.
    """
    keep = np.repeat(present, sample_rate)
    raw, cleaned = raw[keep], cleaned[keep]
    if raw.size < FFTLENGTH * sample_rate:
        ratio = float("nan")
    else:
        ratio = asd_ratio(cleaned, raw, sample_rate, *band)
    return {
        "asd_ratio": ratio,
        "range_raw_mpc": inspiral_range(raw, sample_rate),
        "range_cleaned_mpc": inspiral_range(cleaned, sample_rate),
    }
