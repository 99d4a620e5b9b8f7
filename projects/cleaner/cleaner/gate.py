"""The OUT_DQ gate: only write a subtraction that does not add noise.

:class:`OutDqGate` keeps the last ``gate_length`` cleaned seconds. The
second written is ``lookahead_length`` seconds before the newest one (the
seed: the second-to-last of 8 s). Each second it measures, over the
buffer, the ASD ratio PRODUCTION / RAW of each sub-band of the band
(:class:`utils.signal.Subbands`: by default the 60 Hz line with its two
Hann neighbour bins, and the sidebands below and above it), and judges on
the worst one::

    ratio = max over sub-bands of ASD(PRODUCTION) / ASD(RAW)

(the seed's band mean let a subtraction with the wrong amplitude or phase
at the line through, the official product worse than raw at 60 Hz, as long
as the sidebands were removed). It sets the weight ``w(t)`` of the
subtraction in the written second::

    OUT_DQ = RAW + w(t) * (PRODUCTION - RAW),   w in [0, 1]

- open -> closing: ``ratio > threshold`` (the log and
  :attr:`GatedSecond.reason` name the sub-band), or a second from the
  written one to the newest has no production model (version 0 or Triton
  down), or more than half of the buffer has no input (dropped seconds are
  zeros: the median ratio would be measured on nothing, and the first
  seconds after such an outage are cleaned from a prediction history of
  zeros): ``w`` falls from 1 to 0 along a half Hann window over the
  written second;
- closed -> opening: the buffer is full, at least half of it has input,
  ``ratio < threshold - hysteresis`` (clearly better than raw: a ratio
  that hovers at the threshold within the estimate's noise would open and
  close the gate every few seconds) and every second of it has a
  production model (so
  the ratio measures the model, not the step where its subtraction
  starts or stops, whose leakage fills the quiet sub-bands): ``w`` rises
  along a half Hann window;
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
are raw. It logs INFO when it opens and when it closes, and every written
second that is not fully open carries the reason (:data:`FILLING`,
:data:`NO_MODEL`, :data:`NO_INPUT`, :data:`OPENING` or ``"ratio
<sub-band>"``), which the service counts per reason.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

from utils.errors import ConfigError
from utils.signal import Subbands
from utils.signal import extrapolate
from utils.signal import psd
from utils.signal import subbands_of
from utils.taper import hann_edge

logger = logging.getLogger(__name__)

# why a written second is not fully open (besides "ratio <sub-band>")
FILLING = "filling"  # the buffer is not full yet (stream start, after a gap)
# a second to the newest (open), or of the buffer (closed), has no model
NO_MODEL = "no model"
NO_INPUT = "no input"  # more than half of the buffer has no input
OPENING = "opening"  # the second the gate opens over (partly raw)


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
        freq_low: Hz, lower edge of the band judged.
        freq_high: Hz, upper edge.
        subband_edges: Hz, where the band is split into the sub-bands
            judged one by one (:class:`utils.signal.Subbands`).
        gate_length: seconds of the buffer the ratio is measured over.
        lookahead_length: seconds between the written and newest second.
        threshold: the gate closes when the worst sub-band's ratio
            exceeds it (1: never worse than raw).
        hysteresis: how far below ``threshold`` that ratio must fall for
            a closed gate to reopen.
        fftlength: seconds per Welch segment.
        overlap: seconds of Welch overlap.
        average: Welch average, ``median`` or ``mean``.
        bridge_order: AR lags of the bridge over a second without a
            model (0: no bridge, such a second is raw at once).
    """

    sample_rate: int
    freq_low: float
    freq_high: float
    subband_edges: tuple[float, ...]
    gate_length: int
    lookahead_length: int
    threshold: float
    hysteresis: float
    fftlength: float
    overlap: float
    average: str = "median"
    bridge_order: int = 32

    def __post_init__(self) -> None:
        if not 0 <= self.lookahead_length < self.gate_length:
            raise ConfigError("0 <= lookahead_length < gate_length")
        if self.gate_length < self.fftlength:
            raise ConfigError("gate_length must hold one FFT")
        if not 0 <= self.overlap < self.fftlength:
            raise ConfigError("0 <= overlap < fftlength")
        if not 0 <= self.hysteresis < self.threshold:
            raise ConfigError("0 <= hysteresis < threshold")
        if self.average not in ("median", "mean"):
            raise ConfigError(f"average {self.average!r}: median or mean")
        if not 0 <= 2 * self.bridge_order < self.sample_rate:
            raise ConfigError("0 <= bridge_order < sample_rate / 2")
        subbands_of(self)  # they split the band at this resolution

    @property
    def subbands(self) -> Subbands:
        return subbands_of(self)


@dataclass(frozen=True)
class GatedSecond(Generic[R]):
    """The gate's verdict on the written second.

    Attributes:
        record: the cleaned second itself.
        out_dq: ``(sample_rate,)`` the OUT_DQ channel.
        on: the gate was fully open over the whole second.
        taper: the gate opened or closed during the second.
        ratio: the worst sub-band's ASD ratio, which it decided on (None:
            buffer not full).
        reason: why the second is not fully open (None: it is); see the
            module docstring.
    """

    record: R
    out_dq: np.ndarray
    on: bool
    taper: bool
    ratio: float | None
    reason: str | None = None


class OutDqGate(Generic[R]):
    """Streaming OUT_DQ gate.

    Args:
        config: buffer, look-ahead, threshold and Welch parameters.
    """

    def __init__(self, config: GateConfig) -> None:
        self.config = config
        self._buffer: deque[R] = deque(maxlen=config.gate_length)
        self._open = False
        self._reason: str | None = FILLING  # why closed (None: open)
        self._removed: np.ndarray | None = None  # RAW - OUT_DQ, last second
        self._subbands = config.subbands
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
        self._reason = None if is_open else FILLING
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
        modelled = all(r.production_ok for r in self._buffer)
        empty = sum(1 for r in self._buffer if not np.any(r.raw))
        worst = self._worst()
        blind = 2 * empty > len(self._buffer)
        weight = self._decide(written.gps, models, modelled, worst, blind)
        out_dq = self._apply(written, weight)
        self._removed = written.raw - out_dq
        on = weight is None and self._open
        return GatedSecond(
            written,
            out_dq,
            on=on,
            taper=weight is not None,
            ratio=None if worst is None else worst[0],
            reason=None if on else self._reason,
        )

    def _worst(self) -> tuple[float, str] | None:
        """The highest sub-band ASD ratio over the buffer and its sub-band
        (None: the buffer is not full)."""
        c = self.config
        if len(self._buffer) < c.gate_length:
            return None
        both = np.stack(
            [
                np.concatenate([r.production for r in self._buffer]),
                np.concatenate([r.raw for r in self._buffer]),
            ]
        )
        freqs, (p_clean, p_raw) = psd(
            both, c.sample_rate, c.fftlength, c.overlap, c.average
        )
        ratios = self._subbands.ratios(p_clean, p_raw, freqs)
        i = int(np.argmax(ratios))
        return float(ratios[i]), self._subbands.names[i]

    def _decide(
        self,
        gps: int,
        models: bool,
        modelled: bool,
        worst: tuple[float, str] | None,
        blind: bool,
    ) -> np.ndarray | None:
        """Update the state and its reason; return the taper, or None for
        a steady state. ``models``: the seconds from the written one to the
        newest have a production model; ``modelled``: every second of the
        buffer has; ``blind``: more than half of it has no input."""
        c = self.config
        if not models or not (self._open or modelled):
            reason = NO_MODEL
        elif blind:
            reason = NO_INPUT
        elif worst is None:  # an open gate resumed after a restart stays
            reason = None if self._open else FILLING  # open till it can judge
        else:
            limit = c.threshold if self._open else c.threshold - c.hysteresis
            ratio, band = worst
            reason = f"ratio {band}" if ratio > limit else None
        if self._open:
            if reason is None:
                return None
            self._open, self._reason = False, reason
            detail = (
                f": ASD ratio {worst[0]:.3f} > {limit:g}"
                if reason.startswith("ratio")
                else ""
            )
            logger.info(
                "OUT_DQ gate closes at GPS %d: %s%s", gps, reason, detail
            )
            return self._falling
        if reason is not None or worst[0] >= limit:
            self._reason = reason or f"ratio {worst[1]}"
            return None
        self._open, self._reason = True, OPENING
        logger.info(
            "OUT_DQ gate opens at GPS %d: worst sub-band ASD ratio %.3f (%s)",
            gps,
            worst[0],
            worst[1],
        )
        return self._rising

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
