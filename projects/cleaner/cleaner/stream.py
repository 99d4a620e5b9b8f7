"""The per-second loop: follow raw frames, clean, write.

::

    FrameFollower -> Preprocessor -> SecondCleaner -> FrameWriter
    (raw second)     (resampled,     (Triton, filter,  (carousel)
                      delay 2 s)      gate, 2 s)

Each raw second read yields at most one output frame (``delay`` seconds
older); every input second yields exactly one, dropped ones included. The
loop stops between seconds when ``stop`` is set (SIGTERM/SIGINT).

Start (:func:`resume_point`): on a fresh start at the newest raw frame; on
a restart the follower starts early enough that the pipeline is warm when
it reaches the second after the newest frame already in the carousel, and
only seconds from there on are written. If those raw frames are gone it
starts at the newest one and logs the gap.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from utils.channels import State
from utils.errors import FrameError
from utils.follower import FrameFollower, StreamConfig, list_gps
from utils.gpstime import gps_now
from utils.gwf import read_frame
from utils.names import cleaned_name, strain_name, witness_name
from utils.stream import Preprocessor
from utils.waiting import wait_for

from cleaner import metrics
from cleaner.cleaning import SecondCleaner
from cleaner.writer import FrameWriter, GateEnd, OutputFrame, gate_end

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Start:
    """Where the follower starts and the first second to write.

    Attributes:
        follow_from: GPS second, or ``"newest"``.
        write_from: first GPS second written (None: every one).
        gate: how OUT_DQ ended in the newest written frame (None: no such
            frame).
    """

    follow_from: int | str
    write_from: int | None
    gate: GateEnd | None = None


def read_native_rates(
    config: StreamConfig, channels: list[str]
) -> dict[str, float]:
    """Sample rates of the raw channels, from the newest readable frames.

    Raises:
        TimeoutError: none readable within ``config.start_timeout``.
    """
    ifo = config.ifo

    def poll() -> dict[str, float] | None:
        for gps in reversed(list_gps(config.strain_dir)[-5:]):
            try:
                raw = read_frame(config.strain_dir / strain_name(ifo, gps))
                raw.update(
                    read_frame(config.witness_dir / witness_name(ifo, gps))
                )
                return {c: raw[c].sample_rate for c in channels}
            except (FrameError, KeyError) as exc:
                logger.info("GPS %d gives no sample rates: %s", gps, exc)
        return None

    return wait_for(
        poll, f"a readable raw frame in {config.strain_dir}",
        timeout=config.start_timeout, interval=1.0, log_interval=30.0,
    )  # fmt: skip


def warmup_length(preprocessor: Preprocessor, cleaner: SecondCleaner) -> int:
    """Seconds of raw data before a second for its frame to be the same as
    in an uninterrupted stream (resampling context, witness window, filter
    memory and gate buffer)."""
    window = cleaner.window
    return (
        preprocessor.context
        + math.ceil(window.window_length)
        + math.ceil(cleaner.filter.config.memory_length)
        + cleaner.gate.config.gate_length
    )


def resume_point(
    carousel: Path, strain_dir: Path, ifo: str, warmup: int
) -> Start:
    """Where to start so the carousel continues without a gap if it can.

    The raw seconds from ``resume - warmup`` on are followed again, as
    long as the stream still reaches back that far: seconds missing in
    between were dropped (the follower yields them as dropped, as it did
    the first time), not pruned. If only part of the warm-up is still
    there, it starts at the oldest raw frame (a shorter warm-up, no gap).

    Args:
        carousel: folder of the output frames.
        strain_dir: folder of the raw strain frames.
        ifo: interferometer.
        warmup: seconds of raw data needed before the first written second.
    """
    written = list_gps(carousel)
    future = [g for g in written if g > gps_now()]
    if future:  # a stray: no frame of ours can be of a second not begun
        logger.warning("ignoring %d carousel frames of seconds that have "
                       "not begun (from GPS %d): not written by this "
                       "service", len(future), future[0])  # fmt: skip
        written = written[: len(written) - len(future)]
    if not written:
        logger.info(
            "empty carousel %s: starting at the newest frame", carousel
        )
        return Start("newest", None)
    resume = written[-1] + 1
    first = resume - warmup
    gate = gate_end(Path(carousel) / cleaned_name(ifo, written[-1]), ifo)
    raw = list_gps(strain_dir)
    if raw and raw[0] <= resume:
        start = max(first, raw[0])
        log = logger.info if start == first else logger.warning
        log(
            "carousel ends at GPS %d: resuming, raw data from GPS %d "
            "(%d s of warm-up)",
            written[-1],
            start,
            resume - start,
        )
        return Start(start, resume, gate)
    logger.warning(
        "carousel ends at GPS %d but the raw frames from GPS %d are gone: "
        "starting at the newest raw frame, GPS %d .. (newest + delay) stay "
        "missing",
        written[-1],
        first,
        resume,
    )
    return Start("newest", resume, gate)


class CleanerStream:
    """The service loop.

    Args:
        follower: raw frame seconds.
        preprocessor: drop tapering and resampling.
        cleaner: inference, post-processing, gate.
        writer: the carousel.
        write_from: first GPS second to write (earlier ones only warm up).
        latency: latency bookkeeping.
        gate: how the OUT_DQ gate ended in the frame before
            ``write_from`` (a restart); it is restored just before that
            frame is decided, whatever the warm-up made of it.
    """

    def __init__(
        self,
        follower: FrameFollower,
        preprocessor: Preprocessor,
        cleaner: SecondCleaner,
        writer: FrameWriter,
        write_from: int | None = None,
        latency: metrics.LatencyLog | None = None,
        gate: GateEnd | None = None,
    ) -> None:
        self.follower = follower
        self.preprocessor = preprocessor
        self.cleaner = cleaner
        self.writer = writer
        self.write_from = write_from
        self.latency = latency or metrics.LatencyLog()
        self._gate = gate
        self._versions: tuple[int, int] | None = None

    @property
    def delay(self) -> int:
        """Seconds of data latency: raw second -> its output frame."""
        return self.preprocessor.delay + self.cleaner.delay

    def step(self) -> list[OutputFrame]:
        """Read the next raw second and write what it completes."""
        raw = self.follower.next_second()
        if (self._gate is not None and self.write_from is not None
                and raw.gps - self.delay >= self.write_from):  # fmt: skip
            # decides write_from
            self.cleaner.gate.resume(self._gate.is_open, self._gate.removed)
            self._gate = None
        frames = []
        for second in self.preprocessor.push(raw):
            frame = self.cleaner.push(second)
            if frame is None:
                continue
            metrics.TRITON_UP.set(1 if self.cleaner.answered else 0)
            metrics.GATE_OPEN.set(1 if self.cleaner.gate.is_open else 0)
            if self.write_from is not None and frame.gps < self.write_from:
                logger.debug("GPS %d: warm-up, not written", frame.gps)
                continue
            self._write(frame)
            frames.append(frame)
        return frames

    def _write(self, frame: OutputFrame) -> None:
        written_at = self.writer.write(frame)
        if written_at is None:
            metrics.FRAMES.labels("not_written").inc()
            return
        metrics.LAST_GPS.set(frame.gps)
        if frame.seen_at is None:
            metrics.FRAMES.labels("dropped_input").inc()
            logger.debug("GPS %d written (dropped input)", frame.gps)
        else:
            metrics.FRAMES.labels("written").inc()
            self.latency.record(frame.gps, written_at - frame.seen_at)
        if frame.state & State.INPUT_OK:
            self._report_versions(frame)

    def _report_versions(self, frame: OutputFrame) -> None:
        versions = (frame.production_version, frame.canary_version)
        if versions == self._versions:
            return
        metrics.VERSION.labels("production").set(versions[0])
        metrics.VERSION.labels("canary").set(versions[1])
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


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM and SIGINT (the current second finishes)."""

    def handler(signum: int, _frame: object) -> None:
        logger.info("signal %d: finishing the current second", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
