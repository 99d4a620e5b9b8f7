"""Zero-phase band-pass filtering, ASD / ASD-ratio measurements and
autoregressive extrapolation.

Shapes: time series are 1-D arrays or ``(..., time)`` arrays; frequencies in
Hz; durations in seconds.

SciPy is imported by the functions that use it: ``scipy.signal`` takes ~3 s
to import on a 2-core machine, and services that only read settings
(:class:`Subbands`, through :mod:`utils.settings`: the exporter) restart
that much sooner without it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from utils.errors import ConfigError


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
    from scipy import signal as sp_signal

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
    from scipy import signal as sp_signal

    return sp_signal.sosfiltfilt(sos, x, axis=-1, padlen=padlen)


def psd(
    x: np.ndarray,
    sample_rate: float,
    fftlength: float = 2.0,
    overlap: float = 1.0,
    average: str = "median",
) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD along the last axis. Returns ``(frequencies, psd)``."""
    freqs, (power,) = psds(x, sample_rate, fftlength, overlap, (average,))
    return freqs, power


def psds(
    x: np.ndarray,
    sample_rate: float,
    fftlength: float,
    overlap: float,
    averages: tuple[str, ...],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Welch PSDs along the last axis, one per average (``"mean"`` or
    ``"median"``), all from one set of periodograms (Hann window, the
    segments' means removed, one-sided density: as ``scipy.signal.welch``
    with the same arguments). Returns ``(frequencies, [psd, ...])``."""
    nperseg = int(round(fftlength * sample_rate))
    noverlap = int(round(overlap * sample_rate))
    if x.shape[-1] < nperseg:
        raise ValueError(
            f"need at least {fftlength} s of data for the PSD, "
            f"got {x.shape[-1] / sample_rate} s"
        )
    from scipy import signal as sp_signal

    freqs, _, segments = sp_signal.spectrogram(
        x,
        fs=sample_rate,
        window="hann",
        nperseg=nperseg,
        noverlap=noverlap,
        detrend="constant",
        scaling="density",
        mode="psd",
        axis=-1,
    )
    powers = []
    for average in averages:
        if average == "mean":
            powers.append(segments.mean(axis=-1))
        elif average == "median":
            bias = _median_bias(segments.shape[-1])
            powers.append(np.median(segments, axis=-1) / bias)
        else:
            raise ValueError(f"average {average!r}: mean or median")
    return freqs, powers


def _median_bias(segments: int) -> float:
    """How far below their mean the median of ``segments`` periodograms of
    Gaussian noise lies: ``1 - 1/2 + 1/3 - ...`` up to the largest odd
    number not above ``segments`` (Allen et al., FINDCHIRP, appendix B;
    Welch's median average divides by it)."""
    odd = np.arange(1, segments + 1 if segments % 2 else segments)
    return float(np.sum((-1.0) ** (odd + 1) / odd))


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


@dataclass(frozen=True)
class Subbands:
    """The band ``[freq_low, freq_high]`` split at ``edges`` into regions
    that are judged one by one (the OUT_DQ gate, canary validation), so
    that cleaning which removes one part of the band cannot hide noise it
    adds to another behind a good band average.

    A bin at frequency ``f`` belongs to the region ``edges[i] <= f <
    edges[i + 1]`` (the last region includes ``freq_high``). A region's
    ASD ratio is ``sqrt(sum P_a / sum P_b)`` over its bins: the ratio of
    the region's amplitudes, so its strongest feature (the line) counts
    most, as it does in the data.

    Attributes:
        freq_low: Hz, lower edge of the band.
        freq_high: Hz, upper edge.
        edges: Hz, the interior edges, increasing, strictly inside the band
            (empty: the band is one region).
    """

    freq_low: float
    freq_high: float
    edges: tuple[float, ...]

    def __post_init__(self) -> None:
        bounds = (self.freq_low, *self.edges, self.freq_high)
        if any(a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError(
                f"sub-band edges {list(self.edges)} must increase strictly "
                f"inside {self.freq_low}-{self.freq_high} Hz"
            )

    @property
    def names(self) -> list[str]:
        """``"58-59.25 Hz"`` per region."""
        bounds = (self.freq_low, *self.edges, self.freq_high)
        return [f"{a:g}-{b:g} Hz" for a, b in itertools.pairwise(bounds)]

    def masks(self, freqs: np.ndarray) -> np.ndarray:
        """``(num_regions, len(freqs))`` bins of each region.

        Raises:
            ValueError: a region holds no bin at this resolution.
        """
        bounds = np.array((self.freq_low, *self.edges, self.freq_high))
        masks = (freqs >= bounds[:-1, None]) & (freqs < bounds[1:, None])
        masks[-1] |= freqs == self.freq_high
        empty = [
            n for n, m in zip(self.names, masks, strict=True) if not m.any()
        ]
        if empty:
            step = freqs[1] - freqs[0] if freqs.size > 1 else float("nan")
            raise ValueError(
                f"sub-bands {empty} hold no frequency bin at a "
                f"{step:g} Hz resolution"
            )
        return masks

    def ratios(
        self, p_a: np.ndarray, p_b: np.ndarray, freqs: np.ndarray
    ) -> np.ndarray:
        """ASD ratio a/b of each region (1 where ``p_b`` is all zero)."""
        masks = self.masks(freqs)
        sum_a = masks @ p_a
        sum_b = masks @ p_b
        out = np.ones(len(masks))
        ok = sum_b > 0
        out[ok] = np.sqrt(sum_a[ok] / sum_b[ok])
        return out


def subbands_of(config: object) -> Subbands:
    """The :class:`Subbands` of a config with ``freq_low``, ``freq_high``,
    ``subband_edges``, ``sample_rate`` and ``fftlength`` (s per Welch
    segment).

    Raises:
        ConfigError: naming ``subband_edges``, when they do not split the
            band or a sub-band holds no bin at that resolution.
    """
    try:
        subbands = Subbands(
            config.freq_low, config.freq_high, tuple(config.subband_edges)
        )
        size = int(round(config.fftlength * config.sample_rate))
        subbands.masks(np.fft.rfftfreq(size, 1 / config.sample_rate))
    except ValueError as exc:
        raise ConfigError(f"subband_edges: {exc}") from None
    return subbands


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
    from scipy import signal as sp_signal
    from scipy.linalg import solve_toeplitz

    coef = solve_toeplitz(r[:-1], r[1:])  # x[t] = sum_k coef[k] x[t-1-k]
    den = np.concatenate([[1.0], -coef])
    zi = sp_signal.lfiltic([1.0], den, seg[::-1][:order])
    ext, _ = sp_signal.lfilter([1.0], den, np.zeros(size), zi=zi)
    return np.concatenate([x, ext + mean])
