"""``train-run``: one training run on frames already in ``DATA_DIR``.

The same path as the service (follower, Preprocessor, collector, worker),
over a fixed GPS span ``[gps_start, gps_stop)``: the frames from one second
before to one second after it are read (resampling context), the collector
keeps the analysis-ready seconds, and the newest contiguous stretch is
trained on (warm-started from the newest finished run unless told not to).
"""

from __future__ import annotations

import logging
from pathlib import Path

from utils.errors import DataCheckError
from utils.follower import FrameFollower, StreamConfig, list_gps
from utils.nn.data import Stretch

from trainer.collector import CollectConfig, Collector, Resampler
from trainer.worker import TrainingWorker

logger = logging.getLogger(__name__)

MIN_FRACTION = 0.5  # of the span that must be usable


def collect_span(
    stream: StreamConfig,
    collect: CollectConfig,
    ready_mask: int,
    gps_start: int,
    gps_stop: int,
) -> Stretch:
    """Read and collect ``[gps_start, gps_stop)``.

    Raises:
        DataCheckError: no frame in the span, or less than half of it is
            contiguous analysis-ready data.
    """
    present = [
        g for g in list_gps(stream.strain_dir) if gps_start <= g < gps_stop
    ]
    if not present:
        raise DataCheckError(
            f"no strain frame of GPS {gps_start}-{gps_stop} in "
            f"{stream.strain_dir}"
        )
    # stored data: a missing or unreadable second is dropped at once
    follower = FrameFollower(stream, start=gps_start - 1, wait=False)
    resampler = Resampler(
        [stream.strain_channel, *stream.witness_channels],
        collect.sample_rate,
        ready_mask,
    )
    collector = Collector(collect)
    # output second s needs raw s + 2 (look-ahead and resampling context)
    for _ in range(gps_stop - gps_start + 3):
        for second in resampler.push(follower.next_second()):
            if gps_start <= second.gps < gps_stop:
                collector.add(second)
    length = collector.length
    if length < MIN_FRACTION * (gps_stop - gps_start):
        raise DataCheckError(
            f"only {length} s of contiguous analysis-ready data in GPS "
            f"{gps_start}-{gps_stop}; refusing to train"
        )
    if length < gps_stop - gps_start:
        logger.warning(
            "training on GPS %d-%d only (the newest contiguous "
            "analysis-ready stretch)",
            collector.gps_start,
            collector.gps_stop,
        )
    return collector.snapshot(length)


def train_span(
    stream: StreamConfig,
    collect: CollectConfig,
    ready_mask: int,
    worker: TrainingWorker,
    gps_start: int,
    gps_stop: int,
) -> Path | None:
    """Collect the span and run the worker on it (blocking).

    Returns:
        The run folder (None if interrupted).
    """
    stretch = collect_span(stream, collect, ready_mask, gps_start, gps_stop)
    folder = worker.run(stretch)
    logger.info("train-run wrote %s", folder)
    return folder
