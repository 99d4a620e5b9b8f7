"""The assembled service: one configuration object -> the running loop.

:func:`build` is the wiring shared by :mod:`cleaner.main` (settings from
typeo, :meth:`cleaner.config.CleanerSettings.cleaner_config`) and the tests,
so both run the same service. Each component gets only its own sub-config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cleaner.cleaning import SecondCleaner
from cleaner.cleaning import WindowConfig
from cleaner.client import ClientConfig
from cleaner.client import PipelineClient
from cleaner.gate import GateConfig
from cleaner.gate import OutDqGate
from cleaner.postprocess import FilterConfig
from cleaner.postprocess import StreamingFilter
from cleaner.restart import resume_point
from cleaner.stream import CleanerStream
from cleaner.tracking import TrackingConfig
from cleaner.writer import FrameWriter
from cleaner.writer import WriterConfig
from utils.errors import FrameError
from utils.follower import FrameFollower
from utils.follower import StreamConfig
from utils.follower import newest_pairs
from utils.follower import read_second
from utils.stream import PreprocessConfig
from utils.stream import Resampler
from utils.waiting import wait_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanerConfig:
    """Everything the cleaner needs, one sub-config per component."""

    stream: StreamConfig
    preprocess: PreprocessConfig
    client: ClientConfig
    window: WindowConfig
    filter: FilterConfig
    gate: GateConfig
    tracking: TrackingConfig
    writer: WriterConfig


def read_native_rates(
    config: StreamConfig, channels: list[str]
) -> dict[str, float]:
    """Sample rates of the raw channels, from the newest readable frames
    the follower would take: seconds of which both the strain and the
    witness files are there (a lagging witness stream's come later) that
    the GPS clock allows (a stray an hour ahead, at other rates, would
    otherwise set the rates every real second is then dropped for), whose
    contents span what their names claim.

    Raises:
        TimeoutError: none readable within ``config.start_timeout``.
    """

    def poll() -> dict[str, float] | None:
        for gps in reversed(newest_pairs(config, 5)):
            try:  # as the follower reads it
                second = read_second(config, gps)
            except FrameError as exc:
                logger.info("GPS %d gives no sample rates: %s", gps, exc)
                continue
            series = {config.strain_channel: second.strain, **second.witnesses}
            return {c: series[c].sample_rate for c in channels}
        return None

    return wait_for(
        poll,
        f"a readable raw frame in {config.strain_dir}",
        timeout=config.start_timeout,
        interval=1.0,
        log_interval=30.0,
    )


def make_preprocessor(config: CleanerConfig) -> Resampler:
    """A preprocessor for the configured channels, at their native rates
    (read from the newest raw frame, then followed: a channel whose rate
    changes, or one that cannot be resampled, costs its seconds, not the
    service).

    Raises:
        TimeoutError: no raw frame to read the rates from in time.
    """
    stream = config.stream
    channels = [stream.strain_channel, *stream.witness_channels]
    rates = read_native_rates(stream, channels)
    return Resampler(channels, config.preprocess, rates)


def build(config: CleanerConfig) -> tuple[CleanerStream, PipelineClient]:
    """Build the loop, resuming after the newest frame in the carousel.

    Returns:
        The loop and its Triton client (to ``close`` at the end).

    Raises:
        TimeoutError: no raw frame within ``config.stream.start_timeout``.
    """
    preprocessor = make_preprocessor(config)
    client = PipelineClient(config.client)
    cleaner = SecondCleaner(
        config.window,
        client.predict,
        StreamingFilter(config.filter),
        OutDqGate(config.gate),
        config.tracking,
    )
    start = resume_point(
        config.writer,
        config.stream.strain_dir,
        preprocessor.context + cleaner.warmup_length,
    )
    stream = CleanerStream(
        FrameFollower(config.stream, start.follow_from),
        preprocessor,
        cleaner,
        FrameWriter(config.writer),
        start.write_from,
        gate=start.gate,
    )
    return stream, client
