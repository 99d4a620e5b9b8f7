"""The OUT_DQ gate: only write a subtraction that does not add noise.

:class:`OutDqGate` keeps the last ``gate_length`` cleaned seconds. The
second written is ``lookahead_length`` seconds before the newest one (the
seed: the second-to-last of 8 s). Each second it measures

    ratio = asd_ratio(PRODUCTION, RAW) over the buffer, in the band

and sets the weight ``w(t)`` of the subtraction in the written second::

    OUT_DQ = RAW + w(t) * (PRODUCTION - RAW),   w in [0, 1]

- open -> closing: ``ratio > threshold + hysteresis``, or a second from the
  written one to the newest has no production model (version 0 or Triton
  down), or more than half of the buffer has no input (dropped seconds are
  zeros: the median ratio would be measured on nothing, and the first
  seconds after such an outage are cleaned from a prediction history of
  zeros): ``w`` falls from 1 to 0 along a half Hann window over the
  written second;
- closed -> opening: the buffer is full, at least half of it has input,
  ``ratio < threshold`` and every second from the written one to the
  newest has a production model: ``w`` rises along a half Hann window;
- closed: ``OUT_DQ`` *is* the raw strain (bitwise); open: it *is*
  PRODUCTION.

A second that must be tapered out although it has no model of its own
(a cleaner restarted while Triton is down; no look-ahead) has nothing to
taper: its PRODUCTION is the raw strain, and OUT_DQ would jump from
cleaned to raw, a step that leaks the line over the band (ASD ratio 1.10
over 8 s in the chaos runs). The gate then tapers out a *bridge* instead:
what the subtraction removed in the previous written second (RAW -
OUT_DQ), continued over this one by an autoregressive prediction
(:func:`utils.signal.extrapolate`); the line is coherent over
seconds, and the falling taper weighs the prediction's first, best
samples most.

The gate starts closed, so the first ``gate_length`` seconds of a stream
are raw. It logs INFO when it opens and when it closes.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

from utils.errors import ConfigError
from utils.signal import asd_ratio, extrapolate
from utils.taper import hann_edge

logger = logging.getLogger(__name__)


class Gateable(Protocol):
    """What the gate reads of a cleaned second."""

    gps: int
    raw: np.ndarray
    production: np.ndarray
    production_ok: bool


R = TypeVar("R", bound=Gateable)


@dataclass(frozen=True)
class GateConfig:
    """The ASD-ratio gate of OUT_DQ.

    Attributes:
        sample_rate: Hz.
        freq_low: Hz, lower edge of the band the ratio is averaged over.
        freq_high: Hz, upper edge.
        gate_length: seconds of the buffer the ratio is measured over.
        lookahead_length: seconds between the written and newest second.
        threshold: the gate closes above it (plus hysteresis), reopens
            below it.
        hysteresis: added to ``threshold`` for closing.
        fftlength: seconds per Welch segment.
        overlap: seconds of Welch overlap.
        average: Welch average, ``median`` or ``mean``.
        bridge_order: AR lags of the bridge over a second without a
            model (0: no bridge, such a second is raw at once).
    """

    sample_rate: int
    freq_low: float
    freq_high: float
    gate_length: int
    lookahead_length: int
    threshold: float
    hysteresis: float
    fftlength: float = 2.0
    overlap: float = 1.0
    average: str = "median"
    bridge_order: int = 32

    def __post_init__(self) -> None:
        if not 0 <= self.lookahead_length < self.gate_length:
            raise ConfigError("0 <= lookahead_length < gate_length")
        if self.gate_length < self.fftlength:
            raise ConfigError("gate_length must hold one FFT")
        if self.hysteresis < 0 or self.threshold <= 0:
            raise ConfigError("threshold > 0 and hysteresis >= 0")
        if self.average not in ("median", "mean"):
            raise ConfigError(f"average {self.average!r}: median or mean")
        if not 0 <= 2 * self.bridge_order < self.sample_rate:
            raise ConfigError("0 <= bridge_order < sample_rate / 2")


@dataclass(frozen=True)
class GatedSecond(Generic[R]):
    """The gate's verdict on the written second.

    Attributes:
        record: the cleaned second itself.
        out_dq: ``(sample_rate,)`` the OUT_DQ channel.
        on: the gate was fully open over the whole second.
        taper: the gate opened or closed during the second.
        ratio: the ASD ratio it decided on (None: buffer not full).
    """

    record: R
    out_dq: np.ndarray
    on: bool
    taper: bool
    ratio: float | None


class OutDqGate(Generic[R]):
    """Streaming OUT_DQ gate.

    Args:
        config: buffer, look-ahead, threshold and Welch parameters.
    """

    def __init__(self, config: GateConfig) -> None:
        self.config = config
        self._buffer: deque[R] = deque(maxlen=config.gate_length)
        self._open = False
        self._removed: np.ndarray | None = None  # RAW - OUT_DQ, last second
        size = config.sample_rate
        self._rising = hann_edge(size, size, rising=True)
        self._falling = self._rising[::-1].copy()

    @property
    def is_open(self) -> bool:
        """Open, or opening in the newest written second."""
        return self._open

    @property
    def lookahead_length(self) -> int:
        """Seconds between the newest second pushed and the one written."""
        return self.config.lookahead_length

    @property
    def warmup_length(self) -> int:
        """Seconds pushed before the ratio is measured (a full buffer)."""
        return self.config.gate_length

    def resume(self, is_open: bool, removed: np.ndarray | None) -> None:
        """Continue from the state the previous run of the service ended
        in (its newest written frame), so that the next written second
        tapers from it if the state changes, instead of jumping.

        Args:
            is_open: OUT_DQ ended open in that frame.
            removed: its RAW - OUT_DQ, the bridge's start (see above).
        """
        if is_open != self._open:
            logger.info(
                "OUT_DQ gate resumes %s, as the newest written frame ended",
                "open" if is_open else "closed",
            )
        self._open = is_open
        self._removed = removed

    def push(self, record: R) -> GatedSecond[R] | None:
        """Add the newest cleaned second; return the written one, if any."""
        if self._buffer and record.gps != self._buffer[-1].gps + 1:
            raise ValueError(
                f"gate got GPS {record.gps} after {self._buffer[-1].gps}"
            )
        self._buffer.append(record)
        ahead = self.config.lookahead_length
        if len(self._buffer) <= ahead:
            return None
        written = self._buffer[-1 - ahead]
        models = all(r.production_ok for r in list(self._buffer)[-1 - ahead :])
        empty = sum(1 for r in self._buffer if not np.any(r.raw))
        ratio = self._ratio()
        blind = 2 * empty > len(self._buffer)
        weight = self._decide(written.gps, models, ratio, blind)
        out_dq = self._apply(written, weight)
        self._removed = written.raw - out_dq
        return GatedSecond(
            written,
            out_dq,
            on=weight is None and self._open,
            taper=weight is not None,
            ratio=ratio,
        )

    def _ratio(self) -> float | None:
        c = self.config
        if len(self._buffer) < c.gate_length:
            return None
        cleaned = np.concatenate([r.production for r in self._buffer])
        raw = np.concatenate([r.raw for r in self._buffer])
        return asd_ratio(
            cleaned,
            raw,
            c.sample_rate,
            c.freq_low,
            c.freq_high,
            c.fftlength,
            c.overlap,
            c.average,
        )

    def _decide(
        self, gps: int, models: bool, ratio: float | None, blind: bool
    ) -> np.ndarray | None:
        """Update the state; return the taper, or None for a steady state.
        ``blind``: more than half of the buffer has no input."""
        c = self.config
        if self._open:
            reason = None
            if not models:
                reason = "no production model"
            elif blind:
                reason = "most of its buffer has no input"
            elif ratio is not None and ratio > c.threshold + c.hysteresis:
                reason = (
                    f"ASD ratio {ratio:.3f} > {c.threshold + c.hysteresis}"
                )
            if reason is None:
                return None
            self._open = False
            logger.info("OUT_DQ gate closes at GPS %d: %s", gps, reason)
            return self._falling
        if models and not blind and ratio is not None and ratio < c.threshold:
            self._open = True
            logger.info(
                "OUT_DQ gate opens at GPS %d: ASD ratio %.3f", gps, ratio
            )
            return self._rising
        return None

    def _apply(self, record: R, weight: np.ndarray | None) -> np.ndarray:
        if weight is None:
            source = record.production if self._open else record.raw
            return np.array(source, dtype=np.float64, copy=True)
        if weight is self._falling and not record.production_ok:
            bridge = self._bridge(record)
            if bridge is not None:
                return record.raw - weight * bridge
        return record.raw + weight * (record.production - record.raw)

    def _bridge(self, record: R) -> np.ndarray | None:
        """The previous written second's removed noise continued over
        ``record``; None without one (nothing removed, or no input)."""
        last, order = self._removed, self.config.bridge_order
        if not order or last is None or not np.any(last):
            return None
        if not np.any(record.raw):
            return None
        size = self.config.sample_rate
        longer = extrapolate(last, order, last.size, size)
        if longer.size == last.size:
            return None
        logger.info(
            "GPS %d: no model to taper out with: tapering out the "
            "continued noise of the second before",
            record.gps,
        )
        return longer[last.size :]
