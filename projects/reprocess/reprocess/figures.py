"""Figures of merit of a cleaned chunk: the in-band ASD ratio and the BNS
inspiral range of the raw and cleaned strain.

They are accumulated block by block (:class:`ChunkFigures`), so a task
never holds more than a block of strain for them: each is a median Welch
PSD (Hann window, half-overlapping segments, constant detrend, as
:func:`utils.signal.psd`) of the chunk's present seconds, joined end to
end. :class:`MedianWelch` cuts those segments as the data arrive (the
segments that straddle two blocks included) and keeps, per segment, the
periodogram of the bins of interest only; the median is taken at the
end. The figures equal those of one Welch call over the whole chunk.
Each block's ranges are also kept, from the median of the segments it
completed: the range over time at the resolution of a block (256 s),
finer than a file.

The range is :func:`utils.astro.inspiral_range` (the SenseMonitor range,
as on the live status page) of the median PSD of ``RANGE_FFTLENGTH``-s
segments.
"""

from __future__ import annotations

import numpy as np

from utils.astro import F_ISCO
from utils.astro import RANGE_FFTLENGTH
from utils.astro import RANGE_FMIN
from utils.astro import inspiral_range

SEGMENTS_AT_ONCE = 32  # Welch segments transformed together (memory)
DFT_BINS = 64  # up to this many bins: a direct DFT (matrix), not an FFT


def median_bias(num_segments: int) -> float:
    """Median / mean of ``num_segments`` chi^2_2 periodograms (scipy's
    Welch median average divides by it)."""
    even = 2 * np.arange(1.0, (num_segments - 1) // 2 + 1)
    return float(1 + np.sum(1.0 / (even + 1) - 1.0 / even))


class MedianWelch:
    """Median Welch PSD of series that arrive in pieces, on a band only.

    Segments of ``fftlength`` s overlap by half; the last incomplete one
    is left out, as in :func:`scipy.signal.welch`.

    Args:
        sample_rate: Hz.
        fftlength: s per segment.
        band: ``(low, high)`` Hz: the bins kept are ``low <= f < high``
            (``<=`` with ``closed``).
        num_series: series fed together (rows of :meth:`add`).
        closed: keep the bin at ``high`` too.
    """

    def __init__(
        self,
        sample_rate: int,
        fftlength: float,
        band: tuple[float, float],
        num_series: int,
        closed: bool = False,
    ) -> None:
        self.size = int(round(fftlength * sample_rate))
        if self.size % 2:
            raise ValueError(f"{fftlength} s at {sample_rate} Hz: odd")
        self.half = self.size // 2
        from scipy.signal import get_window

        self.window = get_window("hann", self.size)
        freqs = np.fft.rfftfreq(self.size, 1 / sample_rate)
        upper = freqs <= band[1] if closed else freqs < band[1]
        bins = np.flatnonzero((freqs >= band[0]) & upper)
        self.bins = slice(bins[0], bins[-1] + 1) if bins.size else slice(0)
        self.freqs = freqs[self.bins]
        scale = 2.0 / (sample_rate * np.sum(self.window**2))  # one-sided
        edges = (freqs[self.bins] == 0) | (freqs[self.bins] == freqs[-1])
        self.scale = np.where(edges, scale / 2, scale)
        self._basis = None
        if len(self.freqs) <= DFT_BINS:
            self._basis = self._dft_basis(bins)
        self._carry = np.zeros((num_series, 0))
        self._periodograms: list[np.ndarray] = []
        self.num_samples = 0
        self.nonzero = np.zeros(num_series, dtype=bool)

    def add(self, x: np.ndarray) -> np.ndarray | None:
        """Append ``x`` (``(num_series, n)``) to the series.

        Returns:
            ``(num_series, segments, len(freqs))``: the periodograms of
            the segments ``x`` completed (None if it completed none).
        """
        self.num_samples += x.shape[-1]
        if not self.nonzero.all():
            self.nonzero |= np.any(x, axis=-1)
        x = np.concatenate([self._carry, x], axis=-1)
        num_halves = x.shape[-1] // self.half
        if num_halves < 2:
            self._carry = x
            return None
        halves = x[:, : num_halves * self.half].reshape(
            x.shape[0], num_halves, self.half
        )
        if self._basis is not None:
            new = [self._dft_periodogram(halves)]
        else:
            last = num_halves - 1
            new = [
                self._periodogram(
                    halves, first, min(first + SEGMENTS_AT_ONCE, last)
                )
                for first in range(0, last, SEGMENTS_AT_ONCE)
            ]
        self._periodograms.extend(new)
        self._carry = x[:, (num_halves - 1) * self.half :].copy()
        return np.concatenate(new, axis=1)

    def _periodogram(
        self, halves: np.ndarray, first: int, last: int
    ) -> np.ndarray:
        """``(num_series, last - first, len(freqs))`` periodograms
        of the segments starting at half ``first`` to ``last`` (excluded).
        """
        from scipy.fft import rfft

        segments = np.concatenate(
            [halves[:, first:last], halves[:, first + 1 : last + 1]], axis=-1
        )
        segments -= segments.mean(axis=-1, keepdims=True)
        segments *= self.window
        spectrum = rfft(segments, axis=-1)[..., self.bins]
        return np.abs(spectrum) ** 2 * self.scale

    def _dft_basis(self, bins: np.ndarray) -> tuple[np.ndarray, ...]:
        """The windowed DFT of ``bins`` as real matrices applied to the
        first and second half of a segment (``(half, 2 * num_bins)``: real
        then imaginary parts), and its response to a constant (the
        detrend's correction)."""
        phase = np.outer(np.arange(self.size), bins) * (
            -2j * np.pi / self.size
        )
        basis = self.window[:, None] * np.exp(phase)
        real = np.concatenate([basis.real, basis.imag], axis=1)
        return real[: self.half], real[self.half :], real.sum(axis=0)

    def _dft_periodogram(self, halves: np.ndarray) -> np.ndarray:
        """``(num_series, num_halves - 1, len(freqs))`` periodograms of
        every segment of ``halves``, by the DFT of :meth:`_dft_basis`:
        the transform of ``x - mean(x)`` is that of ``x`` less the mean
        times the transform of a constant."""
        first, second, constant = self._basis
        spectrum = halves[:, :-1] @ first + halves[:, 1:] @ second
        sums = halves.sum(axis=-1)
        means = (sums[:, :-1] + sums[:, 1:]) / self.size
        spectrum -= means[..., None] * constant
        num_bins = len(self.freqs)
        power = spectrum[..., :num_bins] ** 2 + spectrum[..., num_bins:] ** 2
        return power * self.scale

    def psd(self) -> np.ndarray | None:
        """``(num_series, len(freqs))`` median PSD; None with no whole
        segment."""
        if not self._periodograms:
            return None
        periodograms = np.concatenate(self._periodograms, axis=1)
        self._periodograms = [periodograms]
        return median_psd(periodograms)


def median_psd(periodograms: np.ndarray) -> np.ndarray:
    """The median over axis 1 of ``(num_series, segments, bins)``
    periodograms, bias-corrected (scipy's Welch median average)."""
    bias = median_bias(periodograms.shape[1])
    return np.median(periodograms, axis=1) / bias


class ChunkFigures:
    """ASD ratio (band mean) and ranges over a chunk's present seconds,
    fed block by block (:meth:`add`), read at the end (:meth:`result`),
    and the ranges of each block (the time series of the summary).

    Args:
        sample_rate: Hz of the strain.
        band: ``(freq_low, freq_high)`` Hz of the ASD ratio.
        fftlength: s per Welch segment of the ASD ratio.
    """

    def __init__(
        self, sample_rate: int, band: tuple[float, float], fftlength: float
    ) -> None:
        self.sample_rate = sample_rate
        self.ratio = MedianWelch(sample_rate, fftlength, band, 2, closed=True)
        self.range = MedianWelch(
            sample_rate, RANGE_FFTLENGTH, (RANGE_FMIN, F_ISCO), 2
        )
        self.blocks: list[dict] = []

    def add(
        self,
        raw: np.ndarray,
        cleaned: np.ndarray,
        present: np.ndarray,
        gps: int,
    ) -> None:
        """Feed a block.

        Args:
            raw: ``(num_seconds * sample_rate,)``.
            cleaned: the same, cleaned.
            present: ``(num_seconds,)`` bool, seconds that had input.
            gps: its GPS start (the time of its ranges in :attr:`blocks`:
                those of the segments it completes).
        """
        both = np.stack([raw, cleaned])
        if not present.all():
            both = both[:, np.repeat(present, self.sample_rate)]
        self.ratio.add(both)
        new = self.range.add(both)
        if new is not None:
            ranges = self._ranges(median_psd(new))
            self.blocks.append(
                {
                    "gps": gps,
                    "range_raw_mpc": ranges[0],
                    "range_cleaned_mpc": ranges[1],
                }
            )

    def _ranges(self, power: np.ndarray) -> list[float]:
        """Range of each series' PSD (0 for a series of zeros so far)."""
        return [
            inspiral_range(self.range.freqs, p) if nonzero else 0.0
            for p, nonzero in zip(power, self.range.nonzero, strict=True)
        ]

    def result(self) -> dict:
        """``asd_ratio`` (NaN under ``RANGE_FFTLENGTH`` s of data, 1 if the raw
        PSD is zero in the band), ``range_raw_mpc`` and
        ``range_cleaned_mpc`` (0 under ``RANGE_FFTLENGTH`` s or all zeros), and
        ``blocks``: ``gps``, ``range_raw_mpc``, ``range_cleaned_mpc`` of
        each block that completed a segment."""
        ratio = float("nan")
        power = self.ratio.psd()
        enough = self.ratio.num_samples >= RANGE_FFTLENGTH * self.sample_rate
        if power is not None and enough:
            p_raw, p_clean = power
            mask = p_raw > 0
            ratio = 1.0
            if mask.any():
                ratio = float(np.mean(np.sqrt(p_clean[mask] / p_raw[mask])))
        ranges = [0.0, 0.0]
        power = self.range.psd()
        if power is not None:
            ranges = self._ranges(power)
        return {
            "asd_ratio": ratio,
            "range_raw_mpc": ranges[0],
            "range_cleaned_mpc": ranges[1],
            "blocks": self.blocks,
        }
