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

With a ``margin`` the prediction has one more part, its margins (a
band-pass ``margin`` Hz wider on each side, less the band's:
:class:`~cleaner.postprocess.StreamingFilter`), where the coupling may
reach (wide sidebands) or may not (then the network's error is all there
is). They are not subtracted unless fitted: their gain is ``c - i d``,
fitted on their own to the strain's margins, and used only when it removes
at least ``margin_min_improvement`` of that power *and* as much of the
residual's power just outside the band over the fitted seconds. The
margins straddle the band's edges (the band-pass's transition is a few
tenths of a Hz wide): a fit can be good because of coupled noise just
inside the band while the network's error just outside it would be added;
the second rule judges the fitted seconds at the resolution of their whole
length (an FFT of ``length`` seconds: 1/30 Hz), where inside and outside
are apart.

Rules that keep it harmless:

- the second being cleaned is not in its own fit: a signal in it cannot
  shape its own subtraction;
- only seconds of the current model version count, undropped and away from
  drops, at least ``min_length`` of them; a new version starts from no
  correction (no margins), unless it was the canary, whose fits
  production adopts (:func:`follow_promotion`);
- a second whose target's or prediction's power is more than
  :data:`OUTLIER_FACTOR` times the median of the fitted seconds' (a glitch
  in the strain, or in a witness and so in the prediction) is left out of
  the fit: one such second would steer it for ``length`` seconds; but
  when the newest :data:`STEP_LENGTH` seconds all are, the coupling has
  changed (a short glitch and the seconds the line's band-pass rings it
  into span 4), and none is left out: the fit follows the step from
  then on, instead of once half its seconds are past it;
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
# a fitted second this many times the median power of the others is a
# glitch (or rings with one: the line's narrow band-pass spreads it)
OUTLIER_FACTOR = 3.0
# the newest seconds in a row above it that are a step of the coupling
STEP_LENGTH = 8


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
        margin: Hz of the margins beyond each edge of the band (0: none;
            the filter's, ``filter_margin``).
        margin_min_improvement: fraction of the strain's power in the
            margins a fit must remove for them to be subtracted.
    """

    sample_rate: int
    freq_low: float
    freq_high: float
    length: int
    min_length: int
    min_improvement: float
    max_gain: float
    line_width: float
    margin: float
    margin_min_improvement: float

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
            ("margin", self.margin >= 0, ">= 0 Hz"),
            (
                "margin_min_improvement",
                0 <= self.margin_min_improvement < 1,
                "in [0, 1)",
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
        """Names of the parts given a gain of their own: the band's, then
        the margins'."""
        band = ("line", "sidebands") if self.line_width else ("band",)
        return band + (("margins",) if self.margin else ())

    @property
    def groups(self) -> tuple[tuple[slice, float, float, bool], ...]:
        """Parts fitted together: (their rows of ``[c_0, d_0, c_1, ...]``,
        the gain they have uncorrected, the power a fit must remove,
        whether it must also remove power just outside the band): the
        band's parts against the residual, the margins against the
        strain's margins."""
        size = 2 * len(self.parts)
        band = slice(0, size - 2 if self.margin else size)
        groups = ((band, 1.0, self.min_improvement, False),)
        if self.margin:
            margins = slice(band.stop, size)
            groups += ((margins, 0.0, self.margin_min_improvement, True),)
        return groups


class GainTracker:
    """The correction of one model's prediction, second after second.

    Args:
        config: lengths, limits and the line's width.
    """

    def __init__(self, config: TrackingConfig) -> None:
        self.config = config
        size = 2 * len(config.parts)
        # per second, per group: (normal matrix, projection, target power)
        self._fits: deque[list[tuple[np.ndarray, np.ndarray, float]]] = deque(
            maxlen=max(config.length, 1)
        )
        self._version: int | None = None
        self._applied = np.zeros(size)
        # per fitted second with margins: the residual after the band's
        # correction, the margins' two rows (the outside-the-band rule)
        self._seconds: deque[tuple[np.ndarray, np.ndarray]] = deque(
            maxlen=max(config.length, 1)
        )
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
        self._seconds = other._seconds.copy()
        self._version = other._version

    @property
    def gains(self) -> dict[str, complex]:
        """Complex gain of each part applied at the end of the last
        second (the band's 1 and the margins' 0: uncorrected)."""
        gains = np.zeros(len(self.config.parts), complex)
        for rows, base, *_ in self.config.groups:
            c, d = self._applied[rows][0::2], self._applied[rows][1::2]
            gains[rows.start // 2 : rows.stop // 2] = base + c - 1j * d
        return dict(zip(self.config.parts, gains.tolist(), strict=True))

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
            stretch: ``(bands, samples)``, the band-passed prediction
                around the second (the band, then the margins when
                ``margin``), at least Q samples before it and a second's
                worth of context either side for the line's band-pass.
            first: index in ``stretch`` of the second's first sample.
            strain: ``(bands, sample_rate)``, the strain of the second
                band-passed alike; None: the second is not fitted
                (dropped, next to a drop).
            versions: the model version of each sample (0: no model); the
                last one is the second's, and only a second of one
                version is fitted.

        Returns:
            ``(sample_rate,)``, the prediction to subtract.
        """
        fs = self.config.sample_rate
        bands = 2 if self.config.margin else 1
        if stretch.shape[0] != bands:
            raise ValueError(f"need {bands} bands, got {stretch.shape[0]}")
        y = stretch[0, first : first + fs]
        if not self.config.length:
            return y
        version = int(versions[-1])
        if version != self._version:
            self._fits.clear()
            self._seconds.clear()
            self._version = version
        basis = self._basis(stretch, first, gps, version)
        target = self._fit() if version else np.zeros_like(self._applied)
        ramp = np.arange(1, fs + 1) / fs
        gains = self._applied[:, None] + np.outer(target - self._applied, ramp)
        self._applied = target
        band = self.config.groups[0][0]
        corrected = y + np.sum(gains[band] * basis[band], axis=0)
        if strain is not None and version and np.all(versions == version):
            # the band's parts fit the residual, the margins the strain's
            targets = [strain[0] - y, *strain[1:]]
            fits = []
            for (rows, *_), target in zip(
                self.config.groups, targets, strict=True
            ):
                part = basis[rows]
                fits.append((part @ part.T, part @ target, target @ target))
            self._fits.append(fits)
            if self.config.margin:
                residual = strain.sum(axis=0) - corrected
                self._seconds.append((residual, basis[band.stop :]))
        if self.config.margin:
            margins = slice(band.stop, None)
            corrected += np.sum(gains[margins] * basis[margins], axis=0)
        return corrected

    def _basis(
        self, stretch: np.ndarray, first: int, gps: int, version: int
    ) -> np.ndarray:
        """``(2 * parts, fs)``: each part and its copy Q samples late, the
        band's parts (split from its row of ``stretch``), then the
        margins (its second row).

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
        margins = [part for m in stretch[1:, span] for part in (m[q:], m[:fs])]
        band = stretch[0]
        y = band[span]
        if not c.line_width:
            return np.array([y[q:], y[:fs], *margins])
        half = c.line_width / 2
        line = bandpass(band, c.centre - half, c.centre + half, fs, LINE_ORDER)
        now = line[span]
        if self._ahead is not None and self._ahead[:2] == (gps, version):
            now = self._fade * self._ahead[2] + (1 - self._fade) * now
        ahead = slice(first + fs - q, first + 2 * fs)
        self._ahead = None
        if line.size >= ahead.stop:
            self._ahead = (gps + 1, version, line[ahead].copy())
        side = y - now
        return np.array([now[q:], now[:fs], side[q:], side[:fs], *margins])

    def _fit(self) -> np.ndarray:
        """``[c_0, d_0, c_1, d_1, ...]`` fitted on the stored seconds, each
        group on its own; zeros (no correction) for a group where the
        rules of the module say so."""
        solution = np.zeros_like(self._applied)
        if len(self._fits) < self.config.min_length:
            return solution
        for i, group in enumerate(self.config.groups):
            rows, base, min_improvement, outside = group
            fits = typical([f[i] for f in self._fits])
            if len(fits) < self.config.min_length:
                continue
            normal = sum(f[0] for f in fits)
            projected = sum(f[1] for f in fits)
            power = sum(f[2] for f in fits)
            try:
                x = np.linalg.solve(normal, projected)
            except np.linalg.LinAlgError:
                continue
            removed = float(x @ projected)  # power the fit explains
            if not power or removed < min_improvement * power:
                continue
            gains = base + x[0::2] - 1j * x[1::2]
            if np.any(np.abs(gains) > self.config.max_gain):
                continue
            if outside and self._outside_removed(x) < min_improvement:
                continue
            solution[rows] = x
        return solution

    def _outside_removed(self, x: np.ndarray) -> float:
        """Fraction of the residual's power outside the band, within twice
        the margin of it, that subtracting the margins at ``x`` removes
        over the fitted seconds (their spectrum at ``1 / length`` Hz;
        below 0: it adds)."""
        c = self.config
        residual = np.concatenate([s[0] for s in self._seconds])
        rows = np.concatenate([s[1] for s in self._seconds], axis=1)
        freqs = np.fft.rfftfreq(residual.size, 1 / c.sample_rate)
        outside = (
            (freqs >= c.freq_low - 2 * c.margin) & (freqs < c.freq_low)
        ) | ((freqs > c.freq_high) & (freqs <= c.freq_high + 2 * c.margin))
        before = np.fft.rfft(residual)[outside]
        after = before - x @ np.fft.rfft(rows, axis=1)[:, outside]
        return 1 - float(np.sum(np.abs(after) ** 2)) / float(
            np.sum(np.abs(before) ** 2)
        )


def typical(fits: list[tuple]) -> list[tuple]:
    """The seconds' ``(normal, projected, power)`` but those whose target
    power, or prediction power (the normal matrix's trace), is more than
    :data:`OUTLIER_FACTOR` times the median of them all; all of them when
    the newest :data:`STEP_LENGTH` are (a step of the coupling)."""
    if not fits:
        return fits
    target = np.array([f[2] for f in fits])
    prediction = np.array([np.trace(f[0]) for f in fits])
    keep = (target <= OUTLIER_FACTOR * np.median(target)) & (
        prediction <= OUTLIER_FACTOR * np.median(prediction)
    )
    if len(keep) >= STEP_LENGTH and not keep[-STEP_LENGTH:].any():
        return fits
    return [f for f, k in zip(fits, keep, strict=True) if k]


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
