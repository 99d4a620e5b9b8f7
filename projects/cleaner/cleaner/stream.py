"""The per-second loop: follow raw frames, clean, write.

::

    FrameFollower -> Resampler  -> SecondCleaner -> FrameWriter
    (raw second)     (resampled,     (Triton, filter,  (carousel)
                      delay 2 s)      gate, 2 s)

Each raw second read yields at most one output frame (``delay`` seconds
older); every input second yields exactly one, dropped ones included. The
loop stops between seconds when ``stop`` is set (SIGTERM/SIGINT). Where it
starts and what it writes first come from :mod:`cleaner.restart`.
"""

from __future__ import annotations

import cmath
import logging
import threading

from cleaner.cleaning import SecondCleaner
from cleaner.frames import OutputFrame
from cleaner.metrics import CleanerMetrics
from cleaner.metrics import LatencyLog
from cleaner.restart import GateEnd
from cleaner.writer import FrameWriter
from utils.channels import State
from utils.follower import FrameFollower
from utils.stream import Resampler

logger = logging.getLogger(__name__)


class CleanerStream:
    """The service loop.

    Args:
        follower: raw frame seconds.
        preprocessor: drop tapering and resampling.
        cleaner: inference, post-processing, gate.
        writer: the carousel.
        write_from: first GPS second to write (earlier ones only warm up).
        metrics: where to count (a new registry when None).
        gate: how the OUT_DQ gate ended in the frame before
            ``write_from`` (a restart); it is restored just before that
            frame is decided, whatever the warm-up made of it.
    """

    def __init__(
        self,
        follower: FrameFollower,
        preprocessor: Resampler,
        cleaner: SecondCleaner,
        writer: FrameWriter,
        write_from: int | None = None,
        metrics: CleanerMetrics | None = None,
        gate: GateEnd | None = None,
    ) -> None:
        self.follower = follower
        self.preprocessor = preprocessor
        self.cleaner = cleaner
        self.writer = writer
        self.write_from = write_from
        self.metrics = metrics or CleanerMetrics(follower.events)
        self.latency = LatencyLog(self.metrics.latency)
        self._gate = gate
        self._versions: tuple[int, int] | None = None

    @property
    def delay(self) -> int:
        """Seconds of data latency: raw second -> its output frame."""
        return self.preprocessor.delay + self.cleaner.delay

    def step(self) -> list[OutputFrame]:
        """Read the next raw second and write what it completes."""
        raw = self.follower.next_second()
        if (
            self._gate is not None
            and self.write_from is not None
            and raw.gps - self.delay >= self.write_from
        ):
            # decides write_from
            end = self._gate
            self.cleaner.resume_gate(end.is_open, end.weight, end.removed)
            self._gate = None
        frames = []
        for second in self.preprocessor.push(raw):
            frame = self.cleaner.push(second)
            if frame is None:
                continue
            self.metrics.triton_up.set(1 if self.cleaner.answered else 0)
            self.metrics.gate_open.set(1 if self.cleaner.gate_open else 0)
            for part, gain in self.cleaner.tracking_gains.items():
                gauge = self.metrics.tracking_gain.labels
                gauge(part, "magnitude").set(abs(gain))
                gauge(part, "phase").set(cmath.phase(gain))
            if self.write_from is not None and frame.gps < self.write_from:
                logger.debug("GPS %d: warm-up, not written", frame.gps)
                continue
            self._write(frame)
            frames.append(frame)
        return frames

    def _write(self, frame: OutputFrame) -> None:
        written_at = self.writer.write(frame)
        if written_at is None:
            self.metrics.frames.labels("not_written").inc()
            return
        self.metrics.last_gps.set(frame.gps)
        if frame.seen_at is None:
            self.metrics.frames.labels("dropped_input").inc()
            logger.debug("GPS %d written (dropped input)", frame.gps)
        else:
            self.metrics.frames.labels("written").inc()
            self.latency.record(frame.gps, written_at - frame.seen_at)
        if frame.gate_reason is not None:
            self.metrics.out_dq_closed.labels(frame.gate_reason).inc()
        if frame.state & State.INPUT_OK:
            self._report_versions(frame)

    def _report_versions(self, frame: OutputFrame) -> None:
        versions = (frame.production_version, frame.canary_version)
        if versions == self._versions:
            return
        self.metrics.version.labels("production").set(versions[0])
        self.metrics.version.labels("canary").set(versions[1])
        if versions[0] == 0:
            logger.warning(
                "GPS %d: no production model (version 0): PRODUCTION is "
                "not cleaned and OUT_DQ is raw strain; canary version %d",
                frame.gps,
                versions[1],
            )
        else:
            logger.info(
                "GPS %d: production version %d, canary version %d",
                frame.gps,
                *versions,
            )
        self._versions = versions

    def run(
        self, stop: threading.Event, max_seconds: int | None = None
    ) -> int:
        """Loop until ``stop`` is set (or ``max_seconds`` raw seconds).

        Returns:
            Number of frames written.
        """
        logger.info(
            "cleaning with %d s of data latency (preprocessing %d s, "
            "cleaning %d s)",
            self.delay,
            self.preprocessor.delay,
            self.cleaner.delay,
        )
        count = 0
        seconds = 0
        while not stop.is_set():
            if max_seconds is not None and seconds >= max_seconds:
                break
            count += len(self.step())
            seconds += 1
        logger.info("stopped after %d raw seconds, %d frames", seconds, count)
        return count
