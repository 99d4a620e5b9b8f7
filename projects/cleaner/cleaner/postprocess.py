"""From noise predictions to cleaned strain, one second at a time.

:class:`PredictionHistory` is a continuous, rolling record of one model's
noise prediction (samples at ``sample_rate`` from a GPS start) with the
model version of every sample (0: no model). :class:`StreamingFilter`
band-passes it for second ``T`` over ``[T - P, T + 1 + F)`` (P =
``memory_length``, F = ``pad_length``) and keeps ``[T, T + 1)``: the band
itself, and with ``margin`` the part of a band-pass ``margin`` Hz wider on
each side that the band's leaves out (what
:class:`~cleaner.tracking.GainTracker` subtracts only where it removes
power).

A zero-phase filter over a finite stretch errs near its ends, and the
narrow 58-62 Hz Butterworth rings for ~1 s. The past end is made harmless
by memory (P = 2 s: error < 1e-4); the future end cannot be, within the
1 s latency budget, so before filtering the stretch is extended by
``extrapolation_length`` seconds of an autoregressive (Yule-Walker,
``extrapolation_order`` lags, :func:`utils.signal.extrapolate`) prediction
fitted on its last ``extrapolation_fit_length`` seconds.
``bench/bench_cleaner.py --edge`` measures the edge error against a
one-shot filter of the whole stretch (figures in
``projects/cleaner/README.md``).

Shapes: samples at ``sample_rate``; a band-passed stretch is
``(bands, samples)``, the band first, then its margins (when ``margin``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from utils.errors import ConfigError
from utils.signal import bandpass
from utils.signal import extrapolate


@dataclass(frozen=True)
class FilterConfig:
    """The band-pass of the predictions before subtraction.

    Attributes:
        sample_rate: Hz.
        freq_low: Hz, lower edge of the band.
        freq_high: Hz, upper edge.
        order: Butterworth order of the band-pass (even).
        margin: Hz, the wider band-pass's reach beyond each edge (0: the
            band alone).
        memory_length: P, seconds of past prediction filtered with a second.
        pad_length: F, seconds of future prediction filtered with it.
        extrapolation_order: AR lags of the future extension (0: none, the
            filter's own odd extension only).
        extrapolation_fit_length: seconds the AR model is fitted on.
        extrapolation_length: seconds of AR extension.
    """

    sample_rate: int
    freq_low: float
    freq_high: float
    order: int
    margin: float
    memory_length: float
    pad_length: float
    extrapolation_order: int
    extrapolation_fit_length: float = 2.0
    extrapolation_length: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "memory_length",
            "pad_length",
            "extrapolation_fit_length",
            "extrapolation_length",
        ):
            value = getattr(self, name)
            if value < 0 or value * self.sample_rate % 1:
                raise ConfigError(
                    f"{name} = {value} s must be >= 0 and a whole number "
                    f"of samples at {self.sample_rate} Hz"
                )
        if not 0 <= self.margin < self.freq_low:
            raise ConfigError(f"margin = {self.margin} Hz: in [0, freq_low)")
        if self.extrapolation_order < 0:
            raise ConfigError("extrapolation_order must be >= 0")
        fit_size = self.extrapolation_fit_length * self.sample_rate
        if (
            self.extrapolation_order
            and fit_size <= 2 * self.extrapolation_order
        ):
            raise ConfigError(
                "extrapolation_fit_length too short for extrapolation_order"
            )

    def size(self, length: float) -> int:
        """Samples in ``length`` seconds."""
        return int(round(length * self.sample_rate))

    def bandpass(self, x: np.ndarray) -> np.ndarray:
        """``(bands, *x.shape)``: ``x`` band-passed (along its last axis)
        to the band, and to its margins (a band-pass ``margin`` Hz wider on
        each side, less the band's)."""
        c = self
        band = bandpass(x, c.freq_low, c.freq_high, c.sample_rate, c.order)
        if not c.margin:
            return band[None]
        low, high = c.freq_low - c.margin, c.freq_high + c.margin
        wide = bandpass(x, low, high, c.sample_rate, c.order)
        return np.stack([band, wide - band])


class PredictionHistory:
    """Rolling record of one model's noise prediction.

    Args:
        sample_rate: Hz.
        start: GPS time (s, whole samples) the record starts at; samples
            before anything was appended are zeros with version 0.
    """

    def __init__(self, sample_rate: int, start: float) -> None:
        self.sample_rate = int(sample_rate)
        self._start = int(round(start * sample_rate))  # sample index
        self._data = np.zeros(0)
        self._versions = np.zeros(0, dtype=np.int64)

    @property
    def end(self) -> float:
        """GPS time just after the last sample."""
        return (self._start + self._data.size) / self.sample_rate

    def append(self, start: float, data: np.ndarray, version: int) -> None:
        """Add a chunk; a gap before it is filled with zeros (version 0).

        Raises:
            ValueError: the chunk starts before the end of the record.
        """
        first = int(round(start * self.sample_rate))
        end = self._start + self._data.size
        if first < end:
            raise ValueError(
                f"prediction chunk at {start} overlaps the history "
                f"ending at {self.end}"
            )
        gap = first - end
        self._data = np.concatenate([self._data, np.zeros(gap), data])
        self._versions = np.concatenate(
            [
                self._versions,
                np.zeros(gap, dtype=np.int64),
                np.full(data.size, version, dtype=np.int64),
            ]
        )

    def _slice(self, array: np.ndarray, start: float, stop: float):
        first = int(round(start * self.sample_rate)) - self._start
        last = int(round(stop * self.sample_rate)) - self._start
        if last > array.size:
            raise ValueError(f"history ends at {self.end}, asked until {stop}")
        before = max(0, -first)
        return np.concatenate(
            [np.zeros(before, array.dtype), array[max(0, first) : last]]
        )

    def segment(self, start: float, stop: float) -> np.ndarray:
        """Prediction over ``[start, stop)`` (zeros before the record)."""
        return self._slice(self._data, start, stop)

    def versions(self, start: float, stop: float) -> np.ndarray:
        """Version of every sample of ``[start, stop)``."""
        return self._slice(self._versions, start, stop)

    def trim(self, before: float) -> None:
        """Forget samples before GPS time ``before`` (bounded memory)."""
        drop = int(round(before * self.sample_rate)) - self._start
        drop = min(max(drop, 0), self._data.size)
        self._data = self._data[drop:]
        self._versions = self._versions[drop:]
        self._start += drop


class StreamingFilter:
    """Band-pass of one second of a :class:`PredictionHistory`.

    Args:
        config: band, order, memory, pad and extrapolation.
    """

    def __init__(self, config: FilterConfig) -> None:
        self.config = config

    @property
    def pad_size(self) -> int:
        """Samples of future prediction a second needs (F)."""
        return self.config.size(self.config.pad_length)

    @property
    def warmup_length(self) -> int:
        """Whole seconds of past prediction a second is filtered with (P)."""
        return math.ceil(self.config.memory_length)

    @property
    def reach(self) -> tuple[int, int]:
        """Whole seconds before and after a second that its band-passed
        value depends on (P, F)."""
        c = self.config
        return math.ceil(c.memory_length), math.ceil(c.pad_length)

    def trim(self, history: PredictionHistory, gps: int) -> None:
        """Forget what no second after ``gps`` is filtered with."""
        history.trim(gps + 1 - self.config.memory_length)

    def __call__(self, history: PredictionHistory, gps: int) -> np.ndarray:
        """``(bands, sample_rate)``: the band-passed prediction of second
        ``[gps, gps + 1)``, the band and its margins.

        Raises:
            ValueError: the history does not reach ``gps + 1 + F`` yet.
        """
        stretch, first = self.stretch(history, gps)
        return stretch[:, first : first + self.config.sample_rate]

    def stretch(
        self, history: PredictionHistory, gps: int
    ) -> tuple[np.ndarray, int]:
        """The whole band-passed stretch second ``gps`` is filtered with
        (P before it, F and the extension after; ``(bands, samples)``) and
        the index of the second's first sample in it.

        Raises:
            ValueError: the history does not reach ``gps + 1 + F`` yet.
        """
        c = self.config
        start = gps - c.memory_length
        x = history.segment(start, gps + 1 + c.pad_length)
        if c.extrapolation_order and c.extrapolation_length:
            x = extrapolate(
                x,
                c.extrapolation_order,
                c.size(c.extrapolation_fit_length),
                c.size(c.extrapolation_length),
            )
        return c.bandpass(x), c.size(c.memory_length)
