"""The OUT_DQ gate: only write a subtraction that does not add noise.

:class:`OutDqGate` keeps the last ``gate_length`` cleaned seconds. The
second written is ``lookahead_length`` seconds before the newest one (the
seed: the second-to-last of 8 s). Each second it measures, over the
buffer, the ASD ratio PRODUCTION / RAW of the band and of each of its
sub-bands (:class:`utils.signal.Subbands`: by default the 60 Hz line with
its two Hann neighbour bins, and the sidebands below and above it)::

    ratio = ASD(PRODUCTION) / ASD(RAW) over the band
    worst = max over sub-bands of ASD(PRODUCTION) / ASD(RAW)

The band's ratio (Welch ``average``, the median: a glitch in one second
does not move it) says whether the subtraction helps (as canary
validation judges it); the worst sub-band that it adds nothing anywhere in
the band (the seed's band mean alone let a subtraction with the wrong
amplitude or phase at the line through, the official product worse than
raw at 60 Hz, as long as the sidebands were removed), up to ``margin``: a
sub-band with nothing coupled in it measures 1 within the estimate's
noise, and must not keep a gate closed that removes a line with weak
sidebands. The sub-bands, a few bins each, are measured with the mean
average, whose noise is lower than the median's. Each second is also
judged alone, over the band (with the second before it, one 2-s segment:
:meth:`OutDqGate._ratio_alone`): the median over the buffer does not see
one second (a witness's glitch through the network, a sign flip) that
makes the product many times worse than raw. It sets the weight ``w(t)`` of the
subtraction in the written second::

    OUT_DQ = RAW + w(t) * (PRODUCTION - RAW),   w in [0, 1]

``w`` moves along a raised cosine, ``w = (1 - cos(pi x)) / 2`` with ``x``
moving linearly, so that it starts and ends flat. A subtraction of the
60 Hz line (tens of times the noise in its bins) started or stopped within
one second leaks the line over +-1 Hz, into the sidebands' sub-bands: with
a line whose weak sidebands made the gate close and open every few
seconds, OUT_DQ measured 2x RAW there over 80 s (found by review; a
perfect model's sub-band measures above ``1 + margin`` in some 8-s
windows, since removing weak coupled noise from one realisation of the
noise can add to it). So only a close that cannot wait takes one second;
an opening, and a close for a sub-band, take ``transition_length``
seconds, and turn back where the verdict does:

- open -> closing at once (``x`` to 0 over the written second, a half Hann
  window): ``ratio > threshold`` (the log and :attr:`GatedSecond.reason`
  name the band), or a second from the written one to the newest is worse
  than ``threshold + margin`` alone (:data:`WORSE_ALONE`: with the
  look-ahead the gate has closed before that second is written) or has
  no production model (version 0 or Triton down), or more than half of
  the buffer has no input (dropped seconds are zeros: the median ratio
  would be measured on nothing, and the first seconds after such an
  outage are cleaned from a prediction history of zeros);
- open -> closing slowly (``x`` down by ``1 / transition_length`` a
  second): ``worst > threshold + margin`` (the reason names the sub-band);
  the band going worse than raw meanwhile closes it at once;
- closed -> opening (``x`` up by ``1 / transition_length`` a second): the
  buffer is full, at least half of it has input, ``ratio < threshold -
  hysteresis`` (clearly better than raw: a ratio that hovers at the
  threshold within the estimate's noise would open and close the gate
  every few seconds), ``worst <= threshold + margin``, no second from the
  written one to the newest is worse alone, and every second of the
  buffer has a production model (so the ratio measures the model, not the
  step where its subtraction starts or stops, whose leakage fills the
  quiet sub-bands);
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
samples most. So is a second whose own subtraction is worse than raw (no
look-ahead): its PRODUCTION is not used.

The gate starts closed, so the first ``gate_length`` seconds of a stream
are raw. A restart continues from the newest written frame's weight
(:meth:`OutDqGate.resume`). It logs INFO when it opens and when it
closes, and every written second that is not fully open carries the
reason (:data:`FILLING`, :data:`NO_MODEL`, :data:`NO_INPUT`,
:data:`WORSE_ALONE`, :data:`OPENING` or ``"ratio <band or sub-band>"``),
which the service counts per reason.
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
from utils.signal import psds
from utils.signal import subbands_of
from utils.taper import hann_edge

logger = logging.getLogger(__name__)

# why a written second is not fully open (besides "ratio <sub-band>")
FILLING = "filling"  # the buffer is not full yet (stream start, after a gap)
# a second to the newest (open), or of the buffer (closed), has no model
NO_MODEL = "no model"
NO_INPUT = "no input"  # more than half of the buffer has no input
# a second to the newest is worse than raw on its own (one bad second)
WORSE_ALONE = "worse alone"
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
        threshold: the gate closes when the band's ratio exceeds it (1:
            never worse than raw).
        hysteresis: how far below ``threshold`` the band's ratio must fall
            for a closed gate to reopen.
        margin: how far above ``threshold`` a sub-band's ratio, or a
            second's alone, may measure before the gate closes (a
            sub-band with nothing coupled in it measures 1 within the
            estimate's noise).
        fftlength: seconds per Welch segment.
        overlap: seconds of Welch overlap.
        average: Welch average, ``median`` or ``mean``.
        transition_length: seconds the gate takes to open, or to close
            for a sub-band's ratio; the other closes are urgent and take
            one second (see the module docstring).
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
    margin: float
    fftlength: float
    overlap: float
    transition_length: int
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
        if not self.margin >= 0:
            raise ConfigError(f"margin {self.margin}: >= 0")
        if not self.transition_length >= 1:
            raise ConfigError(f"transition_length {self.transition_length}")
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
        taper: the weight moved during the second (a transition).
        ratio: the worst sub-band's ASD ratio over the buffer (None:
            buffer not full).
        band_ratio: the band's (None: buffer not full).
        reason: why the second is not fully open (None: it is); see the
            module docstring.
    """

    record: R
    out_dq: np.ndarray
    on: bool
    taper: bool
    ratio: float | None
    band_ratio: float | None = None
    reason: str | None = None


class OutDqGate(Generic[R]):
    """Streaming OUT_DQ gate.

    Args:
        config: buffer, look-ahead, threshold and Welch parameters.
    """

    def __init__(self, config: GateConfig) -> None:
        self.config = config
        self._buffer: deque[R] = deque(maxlen=config.gate_length)
        # each buffered second's band ratio on its own, in step with it
        self._alone: deque[float] = deque(maxlen=config.gate_length)
        self._open = False  # open or opening (else closed or closing)
        # where the weight's transition stands at the end of the last
        # written second, 0 (closed) .. 1 (open): w = (1 - cos(pi x)) / 2
        self._level = 0.0
        self._reason: str | None = FILLING  # why closed (None: open)
        self._removed: np.ndarray | None = None  # RAW - OUT_DQ, last second
        self._subbands = config.subbands
        self._band = Subbands(config.freq_low, config.freq_high, ())
        size = config.sample_rate
        self._time = np.arange(size) / size  # of a second, at each sample
        self._falling = hann_edge(size, size, rising=True)[::-1].copy()

    @property
    def is_open(self) -> bool:
        """Open, or opening in the newest written second."""
        return self._open

    @property
    def weight(self) -> float:
        """The subtraction's weight at the end of the last written second
        (0: OUT_DQ is RAW, 1: it is PRODUCTION)."""
        return _weight(self._level)

    @property
    def lookahead_length(self) -> int:
        """Seconds between the newest second pushed and the one written."""
        return self.config.lookahead_length

    @property
    def warmup_length(self) -> int:
        """Seconds pushed before the ratio is measured (a full buffer)."""
        return self.config.gate_length

    def resume(
        self, is_open: bool, weight: float, removed: np.ndarray | None
    ) -> None:
        """Continue from the state the previous run of the service ended
        in (its newest written frame), so that the next written second
        continues its weight instead of jumping.

        Args:
            is_open: OUT_DQ was open or opening in that frame.
            weight: the subtraction's weight at its end, 0 .. 1.
            removed: its RAW - OUT_DQ, the bridge's start (see above).
        """
        if is_open != self._open:
            logger.info(
                "OUT_DQ gate resumes %s, as the newest written frame ended "
                "(weight %.2f)",
                "open" if is_open else "closed",
                weight,
            )
        self._open = is_open
        self._level = _level(weight)
        self._reason = None if is_open and self._level == 1.0 else FILLING
        self._removed = removed

    def push(self, record: R) -> GatedSecond[R] | None:
        """Add the newest cleaned second; return the written one, if any."""
        if self._buffer and record.gps != self._buffer[-1].gps + 1:
            raise ValueError(
                f"gate got GPS {record.gps} after {self._buffer[-1].gps}"
            )
        self._buffer.append(record)
        self._alone.append(self._ratio_alone(record))
        ahead = self.config.lookahead_length
        if len(self._buffer) <= ahead:
            return None
        written = self._buffer[-1 - ahead]
        models = all(r.production_ok for r in list(self._buffer)[-1 - ahead :])
        modelled = all(r.production_ok for r in self._buffer)
        limit = self.config.threshold + self.config.margin
        alone = list(self._alone)[-1 - ahead :]
        worse = max((r for r in alone if not r <= limit), default=None)
        empty = sum(1 for r in self._buffer if not np.any(r.raw))
        ratios = self._ratios()
        blind = 2 * empty > len(self._buffer)
        verdict = self._verdict(models, modelled, worse, ratios, blind)
        weight = self._move(written.gps, verdict, ratios)
        trusted = written.production_ok and alone[0] <= limit
        out_dq = self._apply(written, weight, trusted)
        self._removed = written.raw - out_dq
        on = weight is None and self._level == 1.0
        return GatedSecond(
            written,
            out_dq,
            on=on,
            taper=weight is not None,
            ratio=None if ratios is None else ratios[1],
            band_ratio=None if ratios is None else ratios[0],
            reason=None if on else self._reason,
        )

    def _ratio_alone(self, record: R) -> float:
        """The band's ASD ratio PRODUCTION / RAW over ``record`` alone
        (1: no model, no input), with the second before it (one 2-s
        segment, 0.5 Hz bins, where that second is in the buffer). A
        single second's 1-Hz bins do not resolve the line from the noise
        beside it, whose leakage the line can cancel in RAW's bin (and so
        not in PRODUCTION's): on the drifting scene 9 of 884 seconds with
        a model measured above 1.01 (up to 1.78) where the band-passed
        PRODUCTION held 0.26-0.7 of RAW's power, a close each; with the
        second before, none (0.72 at most; ``bench/bench_gate_alone.py``).
        A bad second still shows: 2x raw alone, 1.4x with a good second
        before it."""
        if not record.production_ok or not np.any(record.raw):
            return 1.0
        both = np.stack([record.production, record.raw])
        if len(self._buffer) >= 2:  # the newest is ``record``
            before = self._buffer[-2]
            previous = np.stack([before.production, before.raw])
            both = np.concatenate([previous, both], axis=1)
        fs = self.config.sample_rate
        length = both.shape[1] / fs
        freqs, (p_clean, p_raw) = psd(both, fs, length, 0.0, "mean")
        return float(self._band.ratios(p_clean, p_raw, freqs)[0])

    def _ratios(self) -> tuple[float, float, str] | None:
        """The band's ASD ratio over the buffer, the highest sub-band's and
        its name (None: the buffer is not full)."""
        c = self.config
        if len(self._buffer) < c.gate_length:
            return None
        both = np.stack(
            [
                np.concatenate([r.production for r in self._buffer]),
                np.concatenate([r.raw for r in self._buffer]),
            ]
        )
        # the sub-bands, a few bins each, with the mean: the median of
        # their few values, noisier, measured a sub-band of a line's weak
        # sidebands above 1 + margin in many 8-s windows where the
        # subtraction removed 12 % of it
        freqs, (band_psd, mean_psd) = psds(
            both, c.sample_rate, c.fftlength, c.overlap, (c.average, "mean")
        )
        band = self._band.ratios(*band_psd, freqs)[0]
        ratios = self._subbands.ratios(*mean_psd, freqs)
        i = int(np.argmax(ratios))
        return float(band), float(ratios[i]), self._subbands.names[i]

    def _verdict(
        self,
        models: bool,
        modelled: bool,
        worse: float | None,
        ratios: tuple[float, float, str] | None,
        blind: bool,
    ) -> tuple[str | None, str, bool]:
        """Whether the gate should be open: ``(reason, detail, urgent)``,
        reason None when it should. ``models``: the seconds from the
        written one to the newest have a production model; ``modelled``:
        every second of the buffer has; ``worse``: the highest ratio alone
        of the seconds from the written one to the newest, if one is worse
        than raw alone (None: none is); ``blind``: more than half of the
        buffer has no input. Urgent: a close that cannot wait (no model,
        no input, a second worse alone, the band worse than raw)."""
        c = self.config
        urgent = not models or blind or worse is not None
        alone = f": ASD ratio {worse:.3f} over one second" if worse else ""
        if not models or not (self._open or modelled):
            return NO_MODEL, "", urgent
        if blind:
            return NO_INPUT, "", urgent
        if ratios is None:  # an open gate resumed after a restart stays
            # open till it can judge (but not over a second worse alone)
            if self._open and worse is not None:
                return WORSE_ALONE, alone, urgent
            return (None if self._open else FILLING), "", urgent
        band, worst, subband = ratios
        limit = c.threshold + c.margin
        # open, or closing slowly (a sub-band) when the band goes bad too
        if (self._open or self._level) and not band <= c.threshold:
            detail = f": ASD ratio {band:.3f} > {c.threshold:g}"  # NaN too
            return f"ratio {self._band.names[0]}", detail, True
        if not worst <= limit:
            detail = f": ASD ratio {worst:.3f} > {limit:g}"
            return f"ratio {subband}", detail, urgent
        if not self._open and not band < c.threshold - c.hysteresis:
            return f"ratio {self._band.names[0]}", "", urgent
        if worse is not None:
            return WORSE_ALONE, alone, urgent
        return None, "", urgent

    def _move(
        self,
        gps: int,
        verdict: tuple[str | None, str, bool],
        ratios: tuple[float, float, str] | None,
    ) -> np.ndarray | None:
        """Move the state towards ``verdict`` over the written second;
        return its weight over the second, or None for a steady one (the
        weight 0 or 1 throughout)."""
        reason, detail, urgent = verdict
        before = self._level
        if reason is None:
            if not self._open:
                self._open = True
                logger.info(
                    "OUT_DQ gate opens at GPS %d: band ASD ratio %.3f, "
                    "worst sub-band %.3f (%s)",
                    gps,
                    *(ratios or (float("nan"), float("nan"), "-")),
                )
            if before == 1.0:
                self._reason = None
                return None
            self._reason = OPENING
            self._level = min(1.0, before + 1 / self.config.transition_length)
            return _weight(before + self._time * (self._level - before))
        if self._open:
            logger.info(
                "OUT_DQ gate closes at GPS %d: %s%s", gps, reason, detail
            )
        self._open, self._reason = False, reason
        if before == 0.0:
            return None
        if urgent:
            self._level = 0.0
            return _weight(before) * self._falling
        self._level = max(0.0, before - 1 / self.config.transition_length)
        return _weight(before + self._time * (self._level - before))

    def _apply(
        self, record: R, weight: np.ndarray | None, trusted: bool
    ) -> np.ndarray:
        """OUT_DQ of the written second; ``trusted``: its PRODUCTION may
        be tapered (it has a model, and is not worse than raw alone)."""
        if weight is None:
            source = record.production if self._level else record.raw
            return np.array(source, dtype=np.float64, copy=True)
        if not trusted:  # closing: urgent, at once
            bridge = self._bridge(record)
            if bridge is not None:
                # it continues what was removed, at the weight it had
                return record.raw - self._falling * bridge
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
            "GPS %d: no model, or a subtraction worse than raw, to taper "
            "out with: tapering out the continued noise of the second "
            "before",
            record.gps,
        )
        return longer[last.size :]


def _weight(level: float | np.ndarray) -> float | np.ndarray:
    """The subtraction's weight at ``level`` of a transition (0 .. 1): a
    raised cosine, whose start and end are flat."""
    return (1.0 - np.cos(np.pi * level)) / 2.0


def _level(weight: float) -> float:
    """The level of a transition at which :func:`_weight` is ``weight``."""
    return float(np.arccos(1.0 - 2.0 * min(max(weight, 0.0), 1.0)) / np.pi)
