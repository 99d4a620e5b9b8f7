"""Cleaning resampled seconds: inference, post-processing and the gate.

:class:`SecondCleaner` takes the resampled seconds of
:class:`utils.stream.Preprocessor` (``Second``, strain first, then the
witnesses, at 4096 Hz) one at a time and returns the finished
:class:`~cleaner.frames.OutputFrame` s. For second ``[R - 1, R)``:

1. the window ``[R - W, R)`` of a rolling witness buffer (W =
   ``window_length``) goes to the predictor (Triton); of its answer only
   ``[R - 1 - E, R - E)`` is kept (E = ``edge_length``: samples nearer
   the window end are not trusted) and appended to each model's
   :class:`~cleaner.postprocess.PredictionHistory`; no answer means zeros,
   version 0 ("no model");
2. second ``T = R - 1 - ceil(E + F)`` now has its prediction up to
   ``T + 1 + F`` (F = the filter's pad): it is band-passed, corrected by
   its model's :class:`~cleaner.tracking.GainTracker` (a drifting
   coupling) and subtracted (PRODUCTION, CANARY);
3. the gate gets ``T`` and returns the OUT_DQ of ``T - lookahead``.

Latency in data: ``ceil(E + F)`` + the gate's look-ahead seconds. Before
the first window is full the missing witness history is zeros (like a
dropped second), so the first seconds of a stream clean less well; the gate
stays closed for its first ``gate_length`` seconds anyway.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from cleaner.frames import CleanedSecond
from cleaner.frames import OutputFrame
from cleaner.frames import to_frame
from cleaner.frames import version_tag
from cleaner.gate import OutDqGate
from cleaner.postprocess import PredictionHistory
from cleaner.postprocess import StreamingFilter
from cleaner.prediction import Prediction
from cleaner.prediction import Predictor
from cleaner.tracking import GainTracker
from cleaner.tracking import TrackingConfig
from cleaner.tracking import follow_promotion
from cleaner.tracking import near_drop
from utils.errors import ConfigError
from utils.inference import SIZE_MULTIPLE
from utils.stream import Second
from utils.subtraction import subtract


@dataclass(frozen=True)
class WindowConfig:
    """How witness windows are cut and their predictions trimmed.

    Attributes:
        sample_rate: Hz.
        window_length: W, seconds sent per request (a multiple of
            ``SIZE_MULTIPLE / sample_rate``).
        edge_length: E, seconds at the window end whose prediction is not
            trusted.
        taper_length: seconds of the preprocessor's Hann ramps next to a
            dropped second (the noise is tapered alike).
    """

    sample_rate: int
    window_length: float
    edge_length: float
    taper_length: float

    def __post_init__(self) -> None:
        size = self.window_length * self.sample_rate
        if size % SIZE_MULTIPLE or size <= 0:
            raise ConfigError(
                f"window_length {self.window_length} s: must be a positive "
                f"multiple of {SIZE_MULTIPLE}/{self.sample_rate} s"
            )
        if (self.edge_length * self.sample_rate) % 1:
            raise ConfigError("edge_length must be whole samples")
        if not 0 < self.edge_length <= self.window_length - 1:
            raise ConfigError(
                f"edge_length {self.edge_length} s: need 0 < E <= W - 1 "
                f"(W = {self.window_length} s) to keep a whole second"
            )

    @property
    def window_size(self) -> int:
        return int(round(self.window_length * self.sample_rate))

    @property
    def edge_size(self) -> int:
        return int(round(self.edge_length * self.sample_rate))


def clean_second(
    second: Second,
    noise: np.ndarray,
    window: WindowConfig,
    taper_in: bool,
    taper_out: bool,
) -> np.ndarray:
    """One model's cleaned strain of ``second``: zeros where the second
    was dropped (the output marks it), else the strain minus ``noise``
    tapered next to a dropped neighbour (``taper_in``: the previous one,
    ``taper_out``: the next one). Streaming and offline cleaning alike."""
    if second.dropped:
        return np.zeros_like(noise)
    return subtract(
        second.data[0],
        noise,
        window.sample_rate,
        window.taper_length,
        taper_in,
        taper_out,
    )


class SecondCleaner:
    """Streaming cleaning of resampled seconds.

    Args:
        window: window and edge lengths.
        predictor: witness window -> :class:`~cleaner.prediction.Prediction`
            or ``None`` (no model).
        noise_filter: band-pass of the prediction histories.
        gate: the OUT_DQ gate.
        tracking: the gains of each model's line and sidebands.
    """

    def __init__(
        self,
        window: WindowConfig,
        predictor: Predictor,
        noise_filter: StreamingFilter,
        gate: OutDqGate[CleanedSecond],
        tracking: TrackingConfig,
    ) -> None:
        self.window = window
        self.predictor = predictor
        self.filter = noise_filter
        self.gate = gate
        fs = window.sample_rate
        pad = noise_filter.pad_size
        self.post_delay = math.ceil((window.edge_size + pad) / fs)
        self._witness: np.ndarray | None = None
        self._seconds: deque[Second] = deque(maxlen=self.post_delay + 2)
        self._production: PredictionHistory | None = None
        self._canary: PredictionHistory | None = None
        self._trackers = (GainTracker(tracking), GainTracker(tracking))
        self._strain: PredictionHistory | None = None
        self._drops: deque[int] = deque()  # dropped seconds still in reach
        self.answered = False  # the last window got a prediction

    @property
    def delay(self) -> int:
        """Seconds between a resampled second and its output frame."""
        return self.post_delay + self.gate.lookahead_length

    @property
    def warmup_length(self) -> int:
        """Seconds of input before a second for its frame to be as in an
        uninterrupted stream (witness window, filter memory, gate buffer).
        """
        return (
            math.ceil(self.window.window_length)
            + self.filter.warmup_length
            + self.gate.warmup_length
        )

    @property
    def tracking_gains(self) -> dict[str, complex]:
        """PRODUCTION's complex gain of each part in the last second
        (:class:`~cleaner.tracking.GainTracker`)."""
        return self._trackers[0].gains

    @property
    def gate_open(self) -> bool:
        """The OUT_DQ gate is open (or opening) now."""
        return self.gate.is_open

    def resume_gate(
        self, is_open: bool, weight: float, removed: np.ndarray | None
    ) -> None:
        """Continue the OUT_DQ gate from the newest written frame of the
        previous run (:meth:`cleaner.gate.OutDqGate.resume`)."""
        self.gate.resume(is_open, weight, removed)

    def push(self, second: Second) -> OutputFrame | None:
        """Add the next resampled second; return a finished frame, if any."""
        if self._seconds and second.gps != self._seconds[-1].gps + 1:
            raise ValueError(f"GPS {second.gps} after {self._seconds[-1].gps}")
        self._seconds.append(second)
        if self._strain is None:
            self._strain = PredictionHistory(
                self.window.sample_rate, second.gps
            )
        self._strain.append(second.gps, second.data[0], 0)
        if second.dropped:
            self._drops.append(second.gps)
        self._predict(second)
        cleaned = self._clean(second.gps - self.post_delay)
        if cleaned is None:
            return None
        gated = self.gate.push(cleaned)
        return None if gated is None else to_frame(gated)

    def _predict(self, second: Second) -> None:
        fs, win = self.window.sample_rate, self.window.window_size
        witness = second.data[1:]
        if self._witness is None:
            seconds = math.ceil(win / fs)
            self._witness = np.zeros((witness.shape[0], seconds * fs))
        self._witness = np.concatenate([self._witness[:, fs:], witness], 1)
        prediction = self.predictor(self._witness[:, -win:].astype(np.float32))
        self.answered = prediction is not None
        start = second.gps - self.window.edge_length
        if self._production is None:
            self._production = PredictionHistory(fs, start)
            self._canary = PredictionHistory(fs, start)
        for history, (chunk, version) in zip(
            (self._production, self._canary),
            self._chunks(prediction),
            strict=True,
        ):
            history.append(start, chunk, version)

    def _chunks(
        self, prediction: Prediction | None
    ) -> list[tuple[np.ndarray, int]]:
        """(kept chunk, version) of production and canary."""
        fs = self.window.sample_rate
        if prediction is None:
            return [(np.zeros(fs), 0), (np.zeros(fs), 0)]
        stop = self.window.window_size - self.window.edge_size
        return [
            (
                prediction.production[stop - fs : stop],
                prediction.production_version,
            ),
            (prediction.canary[stop - fs : stop], prediction.canary_version),
        ]

    def _clean(self, gps: int) -> CleanedSecond | None:
        by_gps = {s.gps: s for s in self._seconds}
        second = by_gps.get(gps)
        if second is None:
            return None
        previous, following = by_gps.get(gps - 1), by_gps.get(gps + 1)
        taper_in = previous is not None and previous.dropped
        taper_out = following is not None and following.dropped
        strain = self._fitted_strain(gps)
        histories = (self._production, self._canary)
        tags = [history.versions(gps, gps + 1) for history in histories]
        follow_promotion(*self._trackers, tags[0])
        cleaned = []
        for history, versions, tracker in zip(
            histories, tags, self._trackers, strict=True
        ):
            stretch, first = self.filter.stretch(history, gps)
            ok, version = version_tag(versions)
            noise = tracker.correct(gps, stretch, first, strain, versions)
            clean = clean_second(
                second, noise, self.window, taper_in, taper_out
            )
            cleaned.append((clean, ok, version))
            self.filter.trim(history, gps)
        self.filter.trim(self._strain, gps)
        (production, p_ok, p_version), (canary, c_ok, c_version) = cleaned
        return CleanedSecond(
            gps,
            second.data[0],
            production,
            canary,
            p_ok,
            c_ok,
            p_version,
            c_version,
            second,
        )

    def _fitted_strain(self, gps: int) -> np.ndarray | None:
        """The band-passed strain of second ``gps`` for the trackers' fits;
        None when no drop may be in it (a drop's zeros within the filter's
        reach) or nothing is tracked."""
        reach = self.filter.reach
        while self._drops and self._drops[0] < gps - reach[0]:
            self._drops.popleft()
        if near_drop(gps, self._drops, reach) or not (
            self._trackers[0].config.length
        ):
            return None
        return self.filter(self._strain, gps)
