"""Cleaning resampled seconds: inference, post-processing and the gate.

:class:`SecondCleaner` takes the resampled seconds of
:class:`utils.stream.Preprocessor` (``Second``, strain first, then the
witnesses, at 4096 Hz) one at a time and returns the finished
:class:`~cleaner.writer.OutputFrame` s. For second ``[R - 1, R)``:

1. the window ``[R - W, R)`` of a rolling witness buffer (W =
   ``window_length``) goes to the predictor (Triton); of its answer only
   ``[R - 1 - E, R - E)`` is kept (E = ``edge_length``: samples nearer
   the window end are not trusted) and appended to each model's
   :class:`~cleaner.postprocess.PredictionHistory`; no answer means zeros,
   version 0 ("no model");
2. second ``T = R - 1 - ceil(E + F)`` now has its prediction up to
   ``T + 1 + F`` (F = the filter's pad): it is band-passed and subtracted
   (PRODUCTION, CANARY);
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
from utils.channels import State
from utils.errors import ConfigError
from utils.stream import Second

from cleaner.gate import GatedSecond, OutDqGate
from cleaner.postprocess import PredictionHistory, StreamingFilter, subtract
from cleaner.prediction import Prediction, Predictor
from cleaner.writer import OutputFrame

NETWORK_STRIDE = 16  # samples: the network halves the length 4 times


@dataclass(frozen=True)
class WindowConfig:
    """How witness windows are cut and their predictions trimmed.

    Attributes:
        sample_rate: Hz.
        window_length: W, seconds sent per request (a multiple of
            ``NETWORK_STRIDE / sample_rate``).
        edge_length: E, seconds at the window end whose prediction is not
            trusted.
        taper_length: seconds of the preprocessor's Hann ramps next to a
            dropped second (the noise is tapered alike).
    """

    sample_rate: int = 4096
    window_length: float = 2.0
    edge_length: float = 0.25
    taper_length: float = 0.5

    def __post_init__(self) -> None:
        size = self.window_length * self.sample_rate
        if size % NETWORK_STRIDE or size <= 0:
            raise ConfigError(
                f"window_length {self.window_length} s: must be a positive "
                f"multiple of {NETWORK_STRIDE}/{self.sample_rate} s"
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


@dataclass(frozen=True)
class CleanedSecond:
    """One second after subtraction, before the gate.

    Attributes:
        gps: GPS start.
        raw: ``(4096,)`` resampled raw strain (zeros if dropped).
        production: ``(4096,)`` strain minus band-passed production noise.
        canary: ``(4096,)`` strain minus band-passed canary noise.
        production_ok: a production model predicted every sample.
        canary_ok: a canary model predicted every sample.
        production_version: version of most of the second's samples.
        canary_version: likewise.
        source: the resampled input second.
    """

    gps: int
    raw: np.ndarray
    production: np.ndarray
    canary: np.ndarray
    production_ok: bool
    canary_ok: bool
    production_version: int
    canary_version: int
    source: Second


def version_tag(versions: np.ndarray) -> tuple[bool, int]:
    """(every sample has a model, the version of most samples)."""
    values, counts = np.unique(versions, return_counts=True)
    return bool(np.all(versions > 0)), int(values[np.argmax(counts)])


class SecondCleaner:
    """Streaming cleaning of resampled seconds.

    Args:
        window: window and edge lengths.
        predictor: witness window -> :class:`~cleaner.prediction.Prediction`
            or ``None`` (no model).
        noise_filter: band-pass of the prediction histories.
        gate: the OUT_DQ gate.
    """

    def __init__(
        self,
        window: WindowConfig,
        predictor: Predictor,
        noise_filter: StreamingFilter,
        gate: OutDqGate[CleanedSecond],
    ) -> None:
        self.window = window
        self.predictor = predictor
        self.filter = noise_filter
        self.gate = gate
        fs = window.sample_rate
        pad = noise_filter.config.size(noise_filter.config.pad_length)
        self.post_delay = math.ceil((window.edge_size + pad) / fs)
        self._witness: np.ndarray | None = None
        self._seconds: deque[Second] = deque(maxlen=self.post_delay + 2)
        self._production: PredictionHistory | None = None
        self._canary: PredictionHistory | None = None
        self.answered = False  # the last window got a prediction

    @property
    def delay(self) -> int:
        """Seconds between a resampled second and its output frame."""
        return self.post_delay + self.gate.config.lookahead_length

    def push(self, second: Second) -> OutputFrame | None:
        """Add the next resampled second; return a finished frame, if any."""
        if self._seconds and second.gps != self._seconds[-1].gps + 1:
            raise ValueError(f"GPS {second.gps} after {self._seconds[-1].gps}")
        self._seconds.append(second)
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
            (prediction.production[stop - fs : stop],
             prediction.production_version),
            (prediction.canary[stop - fs : stop], prediction.canary_version),
        ]  # fmt: skip

    def _clean(self, gps: int) -> CleanedSecond | None:
        by_gps = {s.gps: s for s in self._seconds}
        second = by_gps.get(gps)
        if second is None:
            return None
        previous, following = by_gps.get(gps - 1), by_gps.get(gps + 1)
        taper_in = previous is not None and previous.dropped
        taper_out = following is not None and following.dropped
        cleaned = []
        for history in (self._production, self._canary):
            noise = self.filter(history, gps)
            ok, version = version_tag(history.versions(gps, gps + 1))
            if second.dropped:
                clean = np.zeros_like(noise)
            else:
                clean = subtract(
                    second.data[0], noise, self.window.sample_rate,
                    self.window.taper_length, taper_in, taper_out,
                )  # fmt: skip
            cleaned.append((clean, ok, version))
            history.trim(gps + 1 - self.filter.config.memory_length)
        (production, p_ok, p_version), (canary, c_ok, c_version) = cleaned
        return CleanedSecond(
            gps, second.data[0], production, canary, p_ok, c_ok,
            p_version, c_version, second,
        )  # fmt: skip


def to_frame(gated: GatedSecond[CleanedSecond]) -> OutputFrame:
    """The output frame of a gated second, with its state bits and tags."""
    record, source = gated.record, gated.record.source
    state = State(0)
    flags = (
        (State.INPUT_OK, not source.dropped),
        (State.INPUT_TAPERED, source.tapered),
        (State.PRODUCTION_OK, record.production_ok and not source.dropped),
        (State.CANARY_OK, record.canary_ok and not source.dropped),
        (State.OUT_DQ_ON, gated.on),
        (State.OUT_DQ_TAPER, gated.taper),
        (State.ANALYSIS_READY, source.ready),
    )
    for bit, on in flags:
        if on:
            state |= bit
    dropped = source.dropped
    return OutputFrame(
        gps=record.gps,
        out_dq=gated.out_dq,
        production=record.production,
        canary=record.canary,
        raw=record.raw,
        state=state,
        production_version=0 if dropped else record.production_version,
        canary_version=0 if dropped else record.canary_version,
        seen_at=source.seen_at,
    )
