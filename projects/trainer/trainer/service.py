"""The trainer's main loop: follow frames, collect, train on a cadence.

Per GPS second: :class:`~utils.follower.FrameFollower` -> the shared
:class:`~utils.stream.Preprocessor` (drop tapering, resampling to
``sample_rate``) -> :class:`~trainer.collector.Collector`. When the set holds
``train_duration`` seconds and the data have advanced ``retrain_cadence``
seconds past the previous run, the newest ``train_duration`` seconds go to
the background :class:`~trainer.worker.TrainingWorker` (if it is busy, the
run starts as soon as it is free, on the newest data then). The loop never
waits for training.

Ahead of the cadence: the monitor may ask for a run now
(:mod:`utils.train_request`, when production no longer matches the
coupling). The loop looks for such a request every
:data:`REQUEST_POLL_LENGTH` seconds of data; it takes it, and the next run
starts as soon as the worker is free, on the newest data. A request that
comes while a run is in progress is answered by that run's canary.

Start: the first run trains on the NEWEST ``train_duration`` seconds
present (a prefilled ``DATA_DIR`` trains at once, on the data nearest to
those its canary will be validated on; starting from the oldest made a
canary that the next run's replaced before it was validated), or, when
runs exist already, from where the next run's data begin (clamped to the
frames present), so a restart does not retrain old spans. A newest run
that ends after the stream (older data replayed after a live run, a run
folder stamped ahead) says nothing about this stream: it is named in a
WARNING and the schedule starts from the stream as if there were no run,
rather than wait for a GPS second the stream may never reach.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from trainer.collector import CollectConfig
from trainer.collector import Collector
from trainer.metrics import TrainerMetrics
from trainer.worker import TrainingWorker
from utils.errors import ConfigError
from utils.follower import FrameFollower
from utils.follower import FrameSecond
from utils.follower import StreamConfig
from utils.follower import list_begun
from utils.follower import list_gps
from utils.names import strain_description
from utils.stream import PreprocessConfig
from utils.stream import Resampler
from utils.train_request import take_request
from utils.waiting import wait_for

logger = logging.getLogger(__name__)

FIRST_FRAME_POLL = 0.2  # s between looks for a first frame
FIRST_FRAME_LOG = 30.0  # s between INFO lines while none is there
REQUEST_POLL_LENGTH = 5  # s of data between looks for a train-now request


@dataclass(frozen=True)
class ScheduleConfig:
    """When to train.

    Attributes:
        train_duration: seconds of data per run (the newest).
        retrain_cadence: seconds of data between the ends of two runs.
    """

    train_duration: int
    retrain_cadence: int

    def __post_init__(self) -> None:
        if self.train_duration < 1 or self.retrain_cadence < 1:
            raise ConfigError("train_duration, retrain_cadence must be >= 1")


@dataclass(frozen=True)
class ServiceConfig:
    """The loop's sub-configs.

    Attributes:
        stream: the input frames.
        preprocess: their preprocessing, the cleaner's.
        schedule: when to train.
        collect: collection rules.
    """

    stream: StreamConfig
    preprocess: PreprocessConfig
    schedule: ScheduleConfig
    collect: CollectConfig


def start_gps(config: ServiceConfig, last_stop: int | None) -> int | str:
    """Where to start following (see the module docstring): the raw
    frames are read from the preprocessing's delay before the first second
    to collect. A file of a second that has not begun is a stray: it
    sets nothing (the first wait would last until its second)."""
    stream = config.stream
    present = list_begun(stream.strain_dir, strain_description(stream.ifo))
    if not present:
        return "oldest"
    schedule, lead = config.schedule, config.preprocess.delay
    if last_stop is None:
        newest = present[-1] + 1 - schedule.train_duration - lead
        return max(newest, present[0])
    resume = last_stop + schedule.retrain_cadence - schedule.train_duration
    return min(max(resume - lead, present[0]), present[-1])


class TrainerService:
    """Wires follower, preprocessor, collector and worker.

    Args:
        config: the loop's sub-configs.
        worker: runs training (its thread must be started).
        metrics: counters and gauges.
        last_stop: end GPS of the newest finished run, if any.
        project_dir: where the monitor's train-now requests are (None:
            none are taken).
    """

    def __init__(
        self,
        config: ServiceConfig,
        worker: TrainingWorker,
        metrics: TrainerMetrics,
        last_stop: int | None = None,
        project_dir: Path | None = None,
    ) -> None:
        self.schedule = schedule = config.schedule
        self.project_dir = project_dir
        self._since_request_look = 0
        self.collector = Collector(config.collect)
        self.worker = worker
        self.metrics = metrics
        self.stream = stream = config.stream
        present = list_begun(stream.strain_dir, strain_description(stream.ifo))
        if present and _ahead_of_stream(last_stop, present[-1] + 1):
            last_stop = None
        self.follower = FrameFollower(
            stream, start=start_gps(config, last_stop)
        )
        self.resampler = Resampler(
            [stream.strain_channel, *stream.witness_channels],
            config.preprocess,
        )
        self.next_train_gps = (
            None if last_stop is None else last_stop + schedule.retrain_cadence
        )
        self._sets_dropped = 0

    def run(
        self,
        stop: threading.Event | None = None,
        max_seconds: int | None = None,
    ) -> None:
        """Follow frames until ``stop`` is set (the service: by a signal)
        or ``max_seconds`` GPS seconds were read; each frame wait is
        bounded by the follower, so ``stop`` is seen within a second or
        ``frame_timeout`` of being set.

        Raises:
            TimeoutError: no first frame within ``start_timeout``.
        """
        stop = stop or threading.Event()
        if not self._await_first_frame(stop):
            return
        count = 0
        while not stop.is_set():
            if max_seconds is not None and count >= max_seconds:
                return
            self.step(self.follower.next_second())
            count += 1

    def _await_first_frame(self, stop: threading.Event) -> bool:
        """Wait for a frame in the strain folder before the follower does
        (as long as it would: ``start_timeout``), ending early when
        ``stop`` is set; False then."""
        if self.follower.next_gps is not None:
            return True
        strain_dir = self.stream.strain_dir
        kind = strain_description(self.stream.ifo)  # no stray of another
        found = wait_for(
            lambda: (
                "stop" if stop.is_set() else bool(list_gps(strain_dir, kind))
            ),
            f"a first frame in {strain_dir}",
            timeout=self.stream.start_timeout,
            interval=FIRST_FRAME_POLL,
            log_interval=FIRST_FRAME_LOG,
        )
        return found is True

    def step(self, frame: FrameSecond) -> None:
        """Process one raw second."""
        self._look_for_request()
        if frame.dropped:
            self.metrics.drops.inc()
        for second in self.resampler.push(frame):
            self.collector.add(second)
            self._maybe_train()
        self.metrics.seconds_collected.set(self.collector.length)
        new_drops = self.collector.sets_dropped - self._sets_dropped
        if new_drops:
            self.metrics.sets_dropped.inc(new_drops)
            self._sets_dropped = self.collector.sets_dropped

    def _look_for_request(self) -> None:
        """Take the monitor's train-now request, if one is there."""
        if self.project_dir is None:
            return
        self._since_request_look += 1
        if self._since_request_look < REQUEST_POLL_LENGTH:
            return
        self._since_request_look = 0
        request = take_request(self.project_dir)
        if request is None:
            return
        self.metrics.requests.inc()
        if self.worker.busy:
            logger.info(
                "train-now request (GPS %d: %s): a run is in progress; "
                "its canary answers it",
                request["gps"],
                request["reason"],
            )
            return
        logger.info(
            "training now, ahead of the cadence, at the monitor's request "
            "(GPS %d: %s)",
            request["gps"],
            request["reason"],
        )
        self.next_train_gps = None

    def _maybe_train(self) -> None:
        collector, schedule = self.collector, self.schedule
        if collector.length < schedule.train_duration:
            return
        if self.next_train_gps is not None and _ahead_of_stream(
            self.next_train_gps - schedule.retrain_cadence, collector.gps_stop
        ):
            self.next_train_gps = None  # no frame to see it by at start
        if (
            self.next_train_gps is not None
            and collector.gps_stop < self.next_train_gps
        ):
            return
        if self.worker.busy:
            return
        stretch = collector.snapshot(schedule.train_duration)
        if self.worker.submit(stretch):
            logger.info(
                "training on GPS %d-%d queued",
                stretch.gps_start,
                stretch.gps_stop,
            )
            self.next_train_gps = stretch.gps_stop + schedule.retrain_cadence


def _ahead_of_stream(last_stop: int | None, stream_gps: int) -> bool:
    """Whether the newest run ends after ``stream_gps``, where the stream
    is (its newest frame's end, or the collected data's): a WARNING names
    both, since the schedule must then start from the stream."""
    if last_stop is None or last_stop <= stream_gps:
        return False
    logger.warning(
        "the newest run ends at GPS %d, %d s after the stream (GPS %d): "
        "older data replayed, or a run stamped ahead? Training is "
        "scheduled from the stream's GPS, as with no run",
        last_stop,
        last_stop - stream_gps,
        stream_gps,
    )
    return True
