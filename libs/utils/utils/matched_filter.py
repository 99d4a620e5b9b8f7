"""Matched-filter SNR of a known signal, and what cleaning did to it.

:func:`matched_filter` correlates data with an exact template (the injected
signal, aligned with the data: ``template[k]`` is the signal at the time of
``data[k]``) against a PSD estimated from the data themselves (Welch,
median average, so the signal barely enters it):

    z(tau) = 4 int D(f) H*(f) / S(f) e^{2 pi i f tau} df / sqrt(<h, h>)

over ``[freq_low, freq_high]`` (one-sided, so ``z`` is complex: ``|z|`` is
the SNR maximised over phase, ``arg z`` the phase). A lag of 0 is the
injection's own time; the peak's lag and phase are what a search would
report.

:func:`compare_injection` filters the raw strain and a cleaned product
with the same template; :func:`injection_problems` says whether the
cleaning harmed the signal (the goal: SNR never lower than raw by more
than :data:`MAX_SNR_LOSS`, peak time within :data:`MAX_TIME_OFFSET`
samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal.windows import tukey

from utils.signal import psd

PSD_LENGTH = 4.0  # s, Welch segments (0.25 Hz: resolves the sidebands)
TAPER_LENGTH = 1.0  # s, Tukey ramps at the data's ends
FREQ_LOW = 15.0  # Hz, below: seismic wall, no template power
FREQ_HIGH = 1600.0  # Hz, below the 4096 Hz resampling filter's edge
MAX_SNR_LOSS = 0.005  # relative: never lower than raw by more than this
MAX_TIME_OFFSET = 1  # samples: the peak stays within one sample


@dataclass(frozen=True)
class FilterResult:
    """A matched filter's output.

    Attributes:
        snr: ``(num,)`` complex SNR time series; index = lag in samples
            (negative lags at the end, as in an FFT).
        peak_snr: ``|snr|`` at the peak (searched over every lag).
        peak_lag: lag of the peak, samples, signed.
        peak_phase: ``arg snr`` at the peak, radians.
        sigma: ``sqrt(<h, h>)`` of the template against the PSD.
    """

    snr: np.ndarray
    peak_snr: float
    peak_lag: int
    peak_phase: float
    sigma: float


@dataclass(frozen=True)
class InjectionComparison:
    """Raw vs cleaned for one injection.

    Attributes:
        raw_snr, cleaned_snr: peak ``|SNR|`` of each.
        snr_change: ``cleaned_snr / raw_snr - 1``.
        data_change: the same with RAW's PSD weighting both: the change
            of the data at the signal alone (signal removed or noise
            added there); the rest of ``snr_change`` is the cleaned
            product's own PSD weighting the band differently.
        time_offset: cleaned peak lag - raw peak lag, samples.
        phase_offset: cleaned peak phase - raw peak phase, in (-pi, pi].
    """

    raw_snr: float
    cleaned_snr: float
    snr_change: float
    data_change: float
    time_offset: int
    phase_offset: float


def estimate_psd(
    data: np.ndarray, sample_rate: float, psd_length: float = PSD_LENGTH
) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD (Hann, half overlap, median average): ``(freqs, psd)``."""
    return psd(data, sample_rate, psd_length, psd_length / 2, "median")


def matched_filter(
    data: np.ndarray,
    template: np.ndarray,
    sample_rate: float,
    freq_low: float = FREQ_LOW,
    freq_high: float = FREQ_HIGH,
    psd_length: float = PSD_LENGTH,
    psd: tuple[np.ndarray, np.ndarray] | None = None,
) -> FilterResult:
    """Complex matched-filter SNR of ``template`` in ``data``.

    Args:
        data: ``(num,)`` strain.
        template: ``(num,)`` the exact signal aligned with ``data`` (zero
            outside it; it should vanish within :data:`TAPER_LENGTH` of the
            ends, where the data are tapered).
        sample_rate: Hz.
        freq_low, freq_high: Hz, the band of the inner products.
        psd_length: s, Welch segments of the PSD estimate.
        psd: ``(freqs, psd)`` to weight with instead of the data's own
            estimate (:func:`estimate_psd` of other data).

    Raises:
        ValueError: shapes differ, the data hold NaNs, or the template has
            no power in the band.
    """
    data = np.asarray(data, dtype=float)
    template = np.asarray(template, dtype=float)
    if data.shape != template.shape or data.ndim != 1:
        raise ValueError(f"data {data.shape} vs template {template.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("the data hold NaNs or infinities")
    if psd is None:
        psd = estimate_psd(data, sample_rate, psd_length)
    freqs_psd, psd = psd
    window = tukey(data.size, 2 * TAPER_LENGTH * sample_rate / data.size)
    d = np.fft.rfft(data * window) / sample_rate
    h = np.fft.rfft(template) / sample_rate
    freqs = np.fft.rfftfreq(data.size, 1.0 / sample_rate)
    df = freqs[1] - freqs[0]
    band = (freqs >= freq_low) & (freqs <= freq_high)
    weight = np.zeros(freqs.size)
    weight[band] = 1.0 / np.interp(freqs[band], freqs_psd, psd)
    sigma = float(np.sqrt(4 * df * np.sum(np.abs(h) ** 2 * weight)))
    if sigma == 0:
        raise ValueError("the template has no power in the band")
    # one-sided spectrum -> complex series: the full-length inverse FFT of
    # 4 D H* / S over positive frequencies only
    full = np.zeros(data.size, dtype=complex)
    full[: freqs.size] = 4 * d * np.conj(h) * weight
    snr = np.fft.ifft(full) * data.size * df / sigma
    peak = int(np.argmax(np.abs(snr)))
    lag = peak if peak <= data.size // 2 else peak - data.size
    return FilterResult(
        snr=snr,
        peak_snr=float(np.abs(snr[peak])),
        peak_lag=lag,
        peak_phase=float(np.angle(snr[peak])),
        sigma=sigma,
    )


def compare_injection(
    raw: np.ndarray,
    cleaned: np.ndarray,
    template: np.ndarray,
    sample_rate: float,
    **options: float,
) -> InjectionComparison:
    """Filter ``raw`` and ``cleaned`` (each with its own PSD, and
    ``cleaned`` with RAW's too) with the same template; ``options`` as for
    :func:`matched_filter`."""
    length = options.get("psd_length", PSD_LENGTH)
    raw_psd = estimate_psd(np.asarray(raw, dtype=float), sample_rate, length)
    before = matched_filter(raw, template, sample_rate, **options, psd=raw_psd)
    after = matched_filter(cleaned, template, sample_rate, **options)
    same = matched_filter(
        cleaned, template, sample_rate, **options, psd=raw_psd
    )
    phase = np.angle(np.exp(1j * (after.peak_phase - before.peak_phase)))
    return InjectionComparison(
        raw_snr=before.peak_snr,
        cleaned_snr=after.peak_snr,
        snr_change=after.peak_snr / before.peak_snr - 1,
        data_change=same.peak_snr / before.peak_snr - 1,
        time_offset=after.peak_lag - before.peak_lag,
        phase_offset=float(phase),
    )


def injection_problems(
    comparison: InjectionComparison,
    max_snr_loss: float = MAX_SNR_LOSS,
    max_time_offset: int = MAX_TIME_OFFSET,
) -> list[str]:
    """Why the cleaning harmed the injection (empty: it did not)."""
    problems = []
    if comparison.snr_change < -max_snr_loss:
        problems.append(
            f"SNR {comparison.cleaned_snr:.3f} vs raw "
            f"{comparison.raw_snr:.3f} ({100 * comparison.snr_change:+.2f} "
            f"%, limit -{100 * max_snr_loss:g} %)"
        )
    if abs(comparison.time_offset) > max_time_offset:
        problems.append(
            f"peak moved by {comparison.time_offset} samples (limit "
            f"{max_time_offset})"
        )
    return problems
