"""``train-run``: one training run on frames already in ``DATA_DIR``.

The same path as the service (follower, Preprocessor, collector, worker),
over a fixed GPS span ``[gps_start, gps_stop)``: the frames from one second
before to one second after it are read (resampling context), the collector
keeps the analysis-ready seconds, and the newest contiguous stretch is
trained on (warm-started from the newest finished run unless told not to).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from trainer.collector import CollectConfig
from trainer.collector import Collector
from trainer.worker import TrainingWorker
from utils.errors import DataCheckError
from utils.follower import FrameFollower
from utils.follower import StreamConfig
from utils.follower import list_gps
from utils.names import strain_description
from utils.nn.data import Stretch
from utils.stream import PreprocessConfig
from utils.stream import Resampler

logger = logging.getLogger(__name__)

MIN_FRACTION = 0.5  # of the span that must be usable


@dataclass(frozen=True)
class Span:
    """``train-run``'s own flags.

    Attributes:
        gps_start: first GPS second trained on.
        gps_stop: GPS second after the last (exclusive).
        from_scratch: do not warm-start from the newest run.
    """

    gps_start: int
    gps_stop: int
    from_scratch: bool


def parse_span(argv: list[str] | None) -> tuple[Span, list[str]]:
    """``train-run``'s own flags and the rest (the trainer's settings:
    ``--typeo``, ``--help`` ...) of ``argv`` (default ``sys.argv[1:]``).

    Raises:
        SystemExit: argparse's answer to a missing or malformed flag.
    """
    parser = argparse.ArgumentParser(
        prog="train-run",
        add_help=False,
        description="Train once on frames in DATA_DIR; the other options "
        "are the trainer's (train-run --typeo pyproject.toml:trainer "
        "--max-epochs 5).",
    )
    parser.add_argument("--gps-start", type=int, required=True)
    parser.add_argument("--gps-stop", type=int, required=True)
    parser.add_argument(
        "--from-scratch",
        action="store_true",
        help="do not warm-start from the newest run",
    )
    args, rest = parser.parse_known_args(argv)
    if args.gps_stop <= args.gps_start:
        parser.error("--gps-stop must be after --gps-start")
    span = Span(args.gps_start, args.gps_stop, args.from_scratch)
    return span, rest


def collect_span(
    stream: StreamConfig,
    preprocess: PreprocessConfig,
    collect: CollectConfig,
    gps_start: int,
    gps_stop: int,
) -> Stretch:
    """Read and collect ``[gps_start, gps_stop)``.

    Raises:
        DataCheckError: no frame in the span, or less than half of it is
            contiguous analysis-ready data.
    """
    present = [
        g
        for g in list_gps(stream.strain_dir, strain_description(stream.ifo))
        if gps_start <= g < gps_stop
    ]
    if not present:
        raise DataCheckError(
            f"no strain frame of GPS {gps_start}-{gps_stop} in "
            f"{stream.strain_dir}"
        )
    # stored data: a missing or unreadable second is dropped at once; output
    # second s needs raw s - context .. s + delay
    context = preprocess.resample_context_length
    follower = FrameFollower(stream, start=gps_start - context, wait=False)
    resampler = Resampler(
        [stream.strain_channel, *stream.witness_channels], preprocess
    )
    collector = Collector(collect)
    for _ in range(gps_stop - gps_start + context + preprocess.delay):
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
    preprocess: PreprocessConfig,
    collect: CollectConfig,
    worker: TrainingWorker,
    gps_start: int,
    gps_stop: int,
) -> Path | None:
    """Collect the span and run the worker on it (blocking).

    Returns:
        The run folder (None if interrupted).
    """
    stretch = collect_span(stream, preprocess, collect, gps_start, gps_stop)
    folder = worker.run(stretch)
    logger.info("train-run wrote %s", folder)
    return folder
