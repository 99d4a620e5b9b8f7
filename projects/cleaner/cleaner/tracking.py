"""Tracking a drifting coupling between trainings: the size and phase of a
model's prediction, fitted to the recent past.

A model learns the coupling of data minutes old. When the coupling's
strength or phase drifts (the simulator's ``drifting`` scene: +-50 % and
+-0.5 rad over 20 minutes), the prediction keeps its shape but not its size
or phase, and the subtraction removes less, or adds. Until the next model
is trained, :class:`GainTracker` corrects one model's band-passed
prediction ``y`` of a second to

    y + sum_k (c_k y_k(t) + d_k y_k(t - Q))

``y_k`` its parts: the line (``line_width`` Hz around the band's centre)
and the rest, the sidebands (one part, the whole band, when ``line_width``
is 0); Q a quarter period of the band's centre, so that every part may
change its amplitude and phase (a complex gain ``1 + c_k - i d_k``). ``c,
d`` are the least-squares fit to the residual ``strain - y`` (strain
band-passed as the prediction is) over the previous ``length`` seconds of
the same model version.

Rules that keep it harmless:

- the second being cleaned is not in its own fit: a signal in it cannot
  shape its own subtraction;
- only seconds of the current model version count, undropped and away from
  drops, at least ``min_length`` of them; a new version starts from no
  correction, unless it was the canary, whose fits production adopts
  (:func:`follow_promotion`);
- a fit that removes less than ``min_improvement`` of the residual's power
  over its seconds is not used (a chance fit), nor one that makes a part's
  gain larger than ``max_gain``; a model of nothing on clean data, whose
  prediction only adds to the residual, is shrunk, never amplified;
- the correction moves linearly across each second, from the previous
  second's to this one's, and so does the split into line and sidebands
  (each second's band-pass of the line has its own edge error): the
  subtraction stays continuous, so nothing leaks out of the band.

``bench/bench_couplings.py`` measures what it removes on the drifting
scene (README, "Hard couplings").
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from utils.errors import ConfigError
from utils.signal import bandpass

LINE_ORDER = 4  # Butterworth order of the line's band-pass


@dataclass(frozen=True)
class TrackingConfig:
    """How the gains of a model's line and sidebands are tracked.

    Attributes:
        sample_rate: Hz.
        freq_low: Hz, lower edge of the cleaned band.
        freq_high: Hz, upper edge; the line is at the band's centre.
        length: seconds fitted (0: no tracking).
        min_length: fewest seconds of a version before its first fit.
        min_improvement: fraction of the residual's in-band power a fit
            must remove to be used.
        max_gain: largest magnitude of a part's complex gain.
        line_width: Hz of the line part (0: the band is one part).
    """

    sample_rate: int
    freq_low: float
    freq_high: float
    length: int
    min_length: int
    min_improvement: float
    max_gain: float
    line_width: float

    def __post_init__(self) -> None:
        width = self.freq_high - self.freq_low
        rules = [
            ("length", self.length >= 0, ">= 0 s"),
            (
                "min_length",
                0 < self.min_length <= (self.length or self.min_length),
                f"in (0, length={self.length!r}] s",
            ),
            (
                "min_improvement",
                0 <= self.min_improvement < 1,
                "in [0, 1)",
            ),
            ("max_gain", self.max_gain > 1, "> 1"),
            (
                "line_width",
                0 <= self.line_width < width,
                f"in [0, {width:g}) Hz (the band's width)",
            ),
        ]
        for name, holds, rule in rules:
            if not holds:
                raise ConfigError(
                    f"tracking_{name} = {getattr(self, name)!r}: {rule}"
                )

    @property
    def centre(self) -> float:
        """Hz, the line's frequency."""
        return (self.freq_low + self.freq_high) / 2

    @property
    def delay(self) -> int:
        """Q, samples in a quarter period of the line."""
        return int(round(self.sample_rate / (4 * self.centre)))

    @property
    def parts(self) -> tuple[str, ...]:
        """Names of the parts given a gain of their own."""
        return ("line", "sidebands") if self.line_width else ("band",)


class GainTracker:
    """The correction of one model's prediction, second after second.

    Args:
        config: lengths, limits and the line's width.
    """

    def __init__(self, config: TrackingConfig) -> None:
        self.config = config
        size = 2 * len(config.parts)
        self._fits: deque[tuple[np.ndarray, np.ndarray, float]] = deque(
            maxlen=max(config.length, 1)
        )
        self._version: int | None = None
        self._applied = np.zeros(size)
        # (gps, version, line): the line part of second gps (and the Q
        # samples before it) as the previous second's stretch of that
        # model version gave it; where the split of gps starts
        self._ahead: tuple[int, int, np.ndarray] | None = None
        q, fs = config.delay, config.sample_rate
        self._fade = np.clip(1 - np.arange(fs + q) / fs, 0, 1)

    @property
    def version(self) -> int | None:
        """The model version fitted (None before the first second)."""
        return self._version

    def adopt(self, other: GainTracker) -> None:
        """Continue with ``other``'s fits (the canary's, when its version
        becomes production); the applied gains stay this tracker's, so
        the correction moves on from them without a jump."""
        self._fits = other._fits.copy()
        self._version = other._version

    @property
    def gains(self) -> dict[str, complex]:
        """Complex gain of each part applied at the end of the last
        second (1: none)."""
        c, d = self._applied[0::2], self._applied[1::2]
        return dict(zip(self.config.parts, 1 + c - 1j * d, strict=True))

    def correct(
        self,
        gps: int,
        stretch: np.ndarray,
        first: int,
        strain: np.ndarray | None,
        versions: np.ndarray,
    ) -> np.ndarray:
        """The corrected prediction of one second.

        Args:
            gps: the second (the split continues the previous call's
                only when that was ``gps - 1`` of the same model version).
            stretch: the band-passed prediction around the second, at
                least Q samples before it and a second's worth of context
                either side for the line's band-pass.
            first: index in ``stretch`` of the second's first sample.
            strain: the band-passed strain of the second; None: the second
                is not fitted (dropped, next to a drop).
            versions: the model version of each sample (0: no model); the
                last one is the second's, and only a second of one
                version is fitted.

        Returns:
            ``(sample_rate,)``, the prediction to subtract.
        """
        fs = self.config.sample_rate
        y = stretch[first : first + fs]
        if not self.config.length:
            return y
        version = int(versions[-1])
        if version != self._version:
            self._fits.clear()
            self._version = version
        basis = self._basis(stretch, first, gps, version)
        target = self._fit() if version else np.zeros_like(self._applied)
        ramp = np.arange(1, fs + 1) / fs
        gains = self._applied[:, None] + np.outer(target - self._applied, ramp)
        self._applied = target
        corrected = y + np.sum(gains * basis, axis=0)
        if strain is not None and version and np.all(versions == version):
            residual = strain - y
            self._fits.append(
                (basis @ basis.T, basis @ residual, residual @ residual)
            )
        return corrected

    def _basis(
        self, stretch: np.ndarray, first: int, gps: int, version: int
    ) -> np.ndarray:
        """``(2 * parts, fs)``: each part and its copy Q samples late.

        The line part is a band-pass of this second's stretch, whose edge
        error differs from the previous second's: split afresh each
        second, consecutive parts would disagree at their common boundary,
        and unequal gains would subtract the jump, a click each second
        (broadband power out of the band). So the split starts where the
        previous second's left it (its estimate of this second) and moves
        linearly to this second's own; the parts still sum to the
        prediction.
        """
        c, fs, q = self.config, self.config.sample_rate, self.config.delay
        if first < q:
            raise ValueError(f"need {q} samples before the second")
        span = slice(first - q, first + fs)  # the late copy's start on
        y = stretch[span]
        if not c.line_width:
            return np.array([y[q:], y[:fs]])
        half = c.line_width / 2
        line = bandpass(
            stretch, c.centre - half, c.centre + half, fs, LINE_ORDER
        )
        now = line[span]
        if self._ahead is not None and self._ahead[:2] == (gps, version):
            now = self._fade * self._ahead[2] + (1 - self._fade) * now
        ahead = slice(first + fs - q, first + 2 * fs)
        self._ahead = None
        if line.size >= ahead.stop:
            self._ahead = (gps + 1, version, line[ahead].copy())
        side = y - now
        return np.array([now[q:], now[:fs], side[q:], side[:fs]])

    def _fit(self) -> np.ndarray:
        """``[c_0, d_0, c_1, d_1]`` fitted on the stored seconds, or no
        correction (zeros) where the rules of the module say so."""
        none = np.zeros_like(self._applied)
        if len(self._fits) < self.config.min_length:
            return none
        normal = sum(f[0] for f in self._fits)
        projected = sum(f[1] for f in self._fits)
        power = sum(f[2] for f in self._fits)
        try:
            solution = np.linalg.solve(normal, projected)
        except np.linalg.LinAlgError:
            return none
        removed = float(solution @ projected)  # power the fit explains
        if not power or removed < self.config.min_improvement * power:
            return none
        c, d = solution[0::2], solution[1::2]
        if np.any(np.abs(1 + c - 1j * d) > self.config.max_gain):
            return none
        return solution


def follow_promotion(
    production: GainTracker, canary: GainTracker, versions: np.ndarray
) -> None:
    """Before production's second of model ``versions`` (per sample, as
    :meth:`GainTracker.correct` takes them): if its version is new to
    production and the one the canary tracker fitted (a promotion),
    production adopts the canary's fits."""
    version = int(versions[-1])
    if version != production.version and version == canary.version:
        production.adopt(canary)


def near_drop(gps: int, drops, reach: tuple[int, int]) -> bool:
    """A dropped second lies within ``reach`` (seconds before, after) of
    ``gps``: the band-passed strain of ``gps`` holds its zeros."""
    before, after = reach
    return any(gps - before <= d <= gps + after for d in drops)
