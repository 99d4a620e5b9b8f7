"""The assembled service: one configuration object -> the running loop.

:func:`build` is the wiring shared by :mod:`cleaner.main` (from typeo) and
the tests (from their own configurations), so both run the same service.
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.errors import ConfigError
from utils.follower import FrameFollower, StreamConfig
from utils.stream import Preprocessor

from cleaner.cleaning import SecondCleaner, WindowConfig
from cleaner.client import ClientConfig, PipelineClient
from cleaner.gate import GateConfig, OutDqGate
from cleaner.postprocess import FilterConfig, StreamingFilter
from cleaner.stream import (
    CleanerStream,
    read_native_rates,
    resume_point,
    warmup_length,
)
from cleaner.writer import FrameWriter, WriterConfig


@dataclass(frozen=True)
class PreprocessConfig:
    """Arguments of :class:`utils.stream.Preprocessor`.

    Attributes:
        sample_rate: Hz everything is resampled to.
        resample_context_length: whole seconds of context on each side.
        drop_lookahead_length: 0 or 1 second held to taper before a drop.
        taper_length: seconds of the Hann ramps next to a drop.
        ready_mask: state-vector bits meaning analysis ready.
    """

    sample_rate: int = 4096
    resample_context_length: int = 1
    drop_lookahead_length: int = 1
    taper_length: float = 0.5
    ready_mask: int = 3


@dataclass(frozen=True)
class CleanerConfig:
    """Everything the cleaner needs, one sub-config per component."""

    stream: StreamConfig
    preprocess: PreprocessConfig
    client: ClientConfig
    window: WindowConfig
    filter: FilterConfig
    gate: GateConfig
    writer: WriterConfig

    def __post_init__(self) -> None:
        rates = {
            self.preprocess.sample_rate,
            self.window.sample_rate,
            self.filter.sample_rate,
            self.gate.sample_rate,
        }
        if len(rates) != 1:
            raise ConfigError(f"sample rates disagree: {sorted(rates)}")
        if self.window.taper_length != self.preprocess.taper_length:
            raise ConfigError("window and preprocessor taper lengths differ")


def make_preprocessor(config: CleanerConfig) -> Preprocessor:
    """A preprocessor for the configured channels, at their native rates.

    Raises:
        TimeoutError: no raw frame to read the rates from in time.
    """
    stream, pre = config.stream, config.preprocess
    channels = [stream.strain_channel, *stream.witness_channels]
    return Preprocessor(
        channels, pre.sample_rate, read_native_rates(stream, channels),
        pre.resample_context_length, pre.drop_lookahead_length,
        pre.taper_length, pre.ready_mask,
    )  # fmt: skip


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
    )
    start = resume_point(
        config.writer.directory,
        config.stream.strain_dir,
        config.stream.ifo,
        warmup_length(preprocessor, cleaner),
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
