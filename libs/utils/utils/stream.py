"""From raw frame seconds to continuous, resampled seconds.

:class:`Preprocessor` turns the :class:`~utils.follower.FrameSecond` s of the
follower into :class:`Second` s at ``sample_rate`` (4096 Hz), one per GPS
second, in order, with a fixed delay of ``drop_lookahead_length +
resample_context_length`` seconds:

1. *drop look-ahead*: a second is held until the next one is known, so that
   the last real second before a drop is Hann-tapered out, and the first one
   after it tapered back in (the seed's handling; dropped seconds are zeros);
2. *resampling context*: second ``s`` is resampled from the
   ``2 * context + 1`` seconds around it and the middle kept, so frame edges
   leave no discontinuity.

:class:`Resampler` follows the input's channel rates: a Preprocessor is
made at the rates the frames come at, and made again when they change for
good, every GPS second still coming out once, in order.

Shapes: ``Second.data`` is ``(num_channels, sample_rate)``, strain first,
then witnesses in configured order.
"""

from __future__ import annotations

import collections
import logging
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import firwin
from scipy.signal import resample_poly

from utils.errors import ConfigError
from utils.follower import FrameSecond
from utils.logging import Once
from utils.ready import ready_samples
from utils.taper import taper_second

logger = logging.getLogger(__name__)


@dataclass
class Second:
    """One resampled GPS second.

    Attributes:
        gps: GPS start.
        data: ``(num_channels, sample_rate)``, strain first.
        dropped: the input second was missing (data are zeros).
        tapered: the data were tapered because a neighbour was dropped.
        ready: every state-vector sample was analysis ready (False if
            dropped).
        seen_at: wall time the raw frame was first seen (None if dropped).
        reason: why it was dropped.
    """

    gps: int
    data: np.ndarray
    dropped: bool
    tapered: bool
    ready: bool
    seen_at: float | None
    reason: str | None = None


@dataclass
class _Raw:
    gps: int
    channels: list[np.ndarray] | None  # native rate, None when dropped
    ready: bool
    seen_at: float | None
    reason: str | None
    tapered: bool = False


@dataclass(frozen=True)
class PreprocessConfig:
    """How raw seconds are preprocessed: one config for the cleaner and the
    trainer, so that a model is trained on data prepared as it is served
    (both build it from the same settings,
    :class:`utils.fields.PreprocessFields`).

    Attributes:
        sample_rate: output rate in Hz.
        resample_context_length: whole seconds of context on each side.
        drop_lookahead_length: 0 or 1 second held to taper before a drop.
        taper_length: seconds of each Hann ramp next to a drop.
        ready_mask: state-vector bits that mean analysis ready.
    """

    sample_rate: int
    resample_context_length: int
    drop_lookahead_length: int
    taper_length: float
    ready_mask: int

    def __post_init__(self) -> None:
        context = self.resample_context_length
        if context < 0 or self.drop_lookahead_length not in (0, 1):
            raise ConfigError(
                "resample_context_length >= 0 and drop_lookahead_length "
                "in {0, 1} (whole seconds)"
            )

    @property
    def delay(self) -> int:
        """Seconds between a raw second arriving and its output."""
        return self.drop_lookahead_length + self.resample_context_length


class Preprocessor:
    """Streaming drop handling and resampling.

    Args:
        channels: strain channel first, then witnesses (full names).
        native_rates: Hz of each channel in the input frames.
        config: what to do with them.
    """

    def __init__(
        self,
        channels: list[str],
        native_rates: dict[str, float],
        config: PreprocessConfig,
    ) -> None:
        self.config = config
        self.channels = list(channels)
        self.sample_rate = sample_rate = int(config.sample_rate)
        self.context = int(config.resample_context_length)
        self.lookahead = int(config.drop_lookahead_length)
        self.taper_length = config.taper_length
        self.ready_mask = config.ready_mask
        self.native_rates = [float(native_rates[c]) for c in self.channels]
        self.ratios = []
        for rate in self.native_rates:
            ratio = (
                Fraction(self.sample_rate) / Fraction(rate).limit_denominator()
            )
            if ratio.numerator > 64 or ratio.denominator > 64:
                raise ConfigError(
                    f"cannot resample {rate} Hz to {sample_rate}"
                )
            self.ratios.append(ratio)
        # resample_poly's own anti-aliasing filter, designed once per
        # channel instead of every second (same taps, same output)
        self._taps = [
            firwin(
                20 * max(r.numerator, r.denominator) + 1,
                1 / max(r.numerator, r.denominator),
                window=("kaiser", 5.0),
            )
            if r != 1
            else None
            for r in self.ratios
        ]
        self._held: _Raw | None = None
        self._window: deque[_Raw] = deque(maxlen=2 * self.context + 1)

    @property
    def delay(self) -> int:
        """Seconds between a raw second arriving and its output."""
        return self.config.delay

    def push(self, second: FrameSecond) -> list[Second]:
        """Add the next raw second; return the seconds that became ready."""
        raw = self._to_raw(second)
        if self._held is not None and raw.gps != self._held.gps + 1:
            raise ValueError(
                f"seconds out of order: {raw.gps} after {self._held.gps}"
            )
        if self.lookahead == 0:
            return self._resample(self._tapered(raw, next_dropped=False))
        out = []
        if self._held is not None:
            held = self._tapered(self._held, next_dropped=raw.channels is None)
            out = self._resample(held)
        self._held = raw
        return out

    def after_drop(self, gps: int) -> None:
        """Start afresh as after a dropped second: the next second pushed
        is ``gps``, its context before it dropped seconds (so it is
        tapered in), and it is the first to come out."""
        self._held = None
        self._window.clear()
        for earlier in range(gps - max(self.context, 1), gps):
            self._window.append(_Raw(earlier, None, False, None, "no data"))

    def _to_raw(self, second: FrameSecond) -> _Raw:
        if second.dropped:
            return _Raw(second.gps, None, False, None, second.reason)
        series = [second.strain] + [
            second.witnesses[c] for c in self.channels[1:]
        ]
        for channel, s, rate in zip(
            self.channels, series, self.native_rates, strict=True
        ):
            if abs(s.sample_rate - rate) > 1e-6:
                return _Raw(
                    second.gps,
                    None,
                    False,
                    None,
                    f"{channel} at {s.sample_rate} Hz, expected {rate} Hz",
                )
        ready = bool(np.all(ready_samples(second.state.data, self.ready_mask)))
        return _Raw(
            second.gps,
            [np.asarray(s.data, dtype=np.float64) for s in series],
            ready,
            second.seen_at,
            None,
        )

    def _tapered(self, raw: _Raw, next_dropped: bool) -> _Raw:
        if raw.channels is None:
            return raw
        previous = self._window[-1] if self._window else None
        prev_dropped = previous is not None and previous.channels is None
        if not (prev_dropped or next_dropped):
            return raw
        channels = [
            taper_second(
                x, rate, self.taper_length, prev_dropped, next_dropped
            )
            for x, rate in zip(raw.channels, self.native_rates, strict=True)
        ]
        return _Raw(raw.gps, channels, raw.ready, raw.seen_at, None, True)

    def _resample(self, raw: _Raw) -> list[Second]:
        self._window.append(raw)
        if len(self._window) < self._window.maxlen:
            return []
        middle = self._window[self.context]
        if middle.channels is None:
            data = np.zeros((len(self.channels), self.sample_rate))
        else:
            data = np.stack(
                [self._resample_channel(i) for i in range(len(self.channels))]
            )
        return [
            Second(
                middle.gps,
                data,
                dropped=middle.channels is None,
                tapered=middle.tapered,
                ready=middle.ready,
                seen_at=middle.seen_at,
                reason=middle.reason,
            )
        ]

    def _resample_channel(self, index: int) -> np.ndarray:
        rate = int(round(self.native_rates[index]))
        pieces = [
            raw.channels[index] if raw.channels is not None else np.zeros(rate)
            for raw in self._window
        ]
        ratio = self.ratios[index]
        x = np.concatenate(pieces)
        if ratio != 1:
            x = resample_poly(
                x, ratio.numerator, ratio.denominator, window=self._taps[index]
            )
        start = self.context * self.sample_rate
        return x[start : start + self.sample_rate]


# real seconds at the same other rates (since the last one at the current
# rates) before resampling at them
RATE_CHANGE_LENGTH = 10


class Resampler:
    """A :class:`Preprocessor` at the rates the input comes at.

    It is made at ``rates`` (the cleaner reads them from the newest raw
    frame at start), or else at the first real second's. When
    :data:`RATE_CHANGE_LENGTH` real seconds have come at the same other
    rates since the last one at the current rates (a channel was
    reconfigured at the detector, or the first second was an odd one), it
    is made again at them; an odd second, among the usual ones or the new
    ones, is only dropped. Across that change every GPS second still comes
    out once, in order: the old preprocessor gives out the seconds it
    holds, and the new one starts as after a dropped second (tapered in).

    Rates that cannot be resampled to ``config.sample_rate`` stop
    nothing: their seconds are dropped (one ERROR per set of rates) until
    the rates change. Until there are rates it can resample (``rates``
    that cannot be), dropped seconds still come out, as zeros.

    Args:
        channels: strain channel first, then the witnesses.
        config: the preprocessing (one for the cleaner and the trainer).
        rates: Hz of each channel expected; None: the first real
            second's (dropped seconds before it do not come out).
    """

    def __init__(
        self,
        channels: list[str],
        config: PreprocessConfig,
        rates: dict[str, float] | None = None,
    ) -> None:
        self.channels = list(channels)
        self.config = config
        self.preprocessor: Preprocessor | None = None
        self._rates: dict[str, float] = {}
        # real seconds at each set of other rates since the last one at
        # the current rates
        self._others: collections.Counter[tuple] = collections.Counter()
        self._refused = Once()  # rates said to be impossible
        if rates is not None:
            self.preprocessor = self._make(rates, None) or Preprocessor(
                self.channels,
                {c: config.sample_rate for c in self.channels},
                config,
            )
            self._rates = dict(rates)

    @property
    def delay(self) -> int:
        """Seconds between a raw second arriving and its output."""
        return self.config.delay

    @property
    def context(self) -> int:
        """Whole seconds of resampling context on each side."""
        return self.config.resample_context_length

    def push(self, frame: FrameSecond) -> list[Second]:
        """The preprocessed seconds that ``frame`` completes."""
        if frame.dropped:
            if self.preprocessor is None:
                return []
            return self.preprocessor.push(frame)
        rates = {self.channels[0]: frame.strain.sample_rate}
        rates.update({c: s.sample_rate for c, s in frame.witnesses.items()})
        if self.preprocessor is None:
            self.preprocessor = self._make(rates, frame.gps)
            if self.preprocessor is None:
                return []
            self._rates = rates
        elif rates != self._rates:
            return self._changed(frame, rates)
        self._others.clear()
        return self.preprocessor.push(frame)

    def _changed(self, frame: FrameSecond, rates: dict) -> list[Second]:
        """``frame`` is at other rates than the preprocessor's."""
        key = tuple(sorted(rates.items()))
        if not self._others:
            logger.warning(
                "GPS %d: channels at other rates than resampled (%s)",
                frame.gps,
                changed(self._rates, rates),
            )
        if key not in self._others and len(self._others) >= 100:
            self._others.clear()  # bounded: rates that never settle
        self._others[key] += 1
        new = None
        if self._others[key] >= RATE_CHANGE_LENGTH:
            new = self._make(rates, frame.gps)
        if new is None:
            return self.preprocessor.push(frame)  # dropped there
        logger.warning(
            "GPS %d: %d s at the new rates: resampling at them",
            frame.gps,
            self._others[key],
        )
        # the old preprocessor gives out what it holds (pushing the
        # placeholders of its delay); the new one starts as after a drop:
        # every second comes out once, in order
        out = []
        for gps in range(frame.gps, frame.gps + self.delay):
            out += self.preprocessor.push(FrameSecond(gps, reason="flush"))
        new.after_drop(frame.gps)
        self.preprocessor, self._rates = new, rates
        self._others.clear()
        return out + new.push(frame)

    def _make(self, rates: dict, gps: int | None) -> Preprocessor | None:
        """A preprocessor at ``rates``; None (said once) if impossible."""
        try:
            return Preprocessor(self.channels, rates, self.config)
        except ConfigError as exc:
            if self._refused.first(tuple(sorted(rates.items()))):
                logger.error(
                    "%s%s: every second at these rates is dropped until "
                    "they change",
                    "" if gps is None else f"GPS {gps}: ",
                    exc,
                )
            return None


def changed(old: dict[str, float], new: dict[str, float]) -> str:
    """``"W1 512 -> 256 Hz, ..."`` for the channels whose rate differs."""
    return ", ".join(
        f"{c} {old.get(c, 0):g} -> {new.get(c, 0):g} Hz"
        for c in new
        if old.get(c) != new.get(c)
    )
