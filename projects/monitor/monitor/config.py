"""Frozen configuration of the monitor, one dataclass per component.

``main`` builds these from the typeo arguments; every component gets only
its own part. ``__post_init__`` checks each field and raises
:class:`~utils.errors.ConfigError` naming the field, the value and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from utils.errors import ConfigError
from utils.names import site_of


def _check(ok: bool, field: str, value: object, rule: str) -> None:
    if not ok:
        raise ConfigError(f"monitor config: {field}={value!r}: {rule}")


def _whole(value: float, field: str) -> int:
    size = int(round(value))
    _check(abs(size - value) < 1e-9, field, value, "must be whole")
    return size


@dataclass(frozen=True)
class ValidationConfig:
    """Canary validation: ASD ratio of CANARY vs RAW over the band.

    Attributes:
        window_length: s of data this canary cleaned that make one full
            validation window (one value, used everywhere).
        ratio_threshold: promote when the window's ASD ratio is below it.
        freq_low, freq_high: band, Hz.
        fftlength, overlap: Welch segment and overlap, s.
        sample_rate: Hz of the CANARY and RAW channels.
    """

    window_length: int = 100
    ratio_threshold: float = 1.0
    freq_low: float = 58.0
    freq_high: float = 62.0
    fftlength: float = 2.0
    overlap: float = 1.0
    sample_rate: int = 4096

    def __post_init__(self) -> None:
        _check(self.ratio_threshold > 0, "ratio_threshold",
               self.ratio_threshold, "must be > 0")  # fmt: skip
        _check(0 < self.freq_low < self.freq_high < self.sample_rate / 2,
               "freq_low/freq_high", (self.freq_low, self.freq_high),
               "need 0 < low < high < Nyquist")  # fmt: skip
        _check(0 <= self.overlap < self.fftlength, "overlap", self.overlap,
               "need 0 <= overlap < fftlength")  # fmt: skip
        _check(self.window_length >= self.fftlength, "window_length",
               self.window_length, "must hold one FFT segment")  # fmt: skip
        _whole(self.fftlength * self.sample_rate, "fftlength*sample_rate")
        _whole(self.overlap * self.sample_rate, "overlap*sample_rate")

    @property
    def segment_size(self) -> int:
        """Samples per Welch segment."""
        return int(round(self.fftlength * self.sample_rate))

    @property
    def step_size(self) -> int:
        """Samples between the starts of consecutive segments."""
        return self.segment_size - int(round(self.overlap * self.sample_rate))


@dataclass(frozen=True)
class PromotionConfig:
    """Talking to the exporter.

    Attributes:
        exporter_url: base URL, e.g. ``http://127.0.0.1:5000``.
        token: bearer token of ``POST /production``.
        timeout: s per HTTP request.
        attempts: tries per round (a round runs inside one tick).
        backoff: s between the tries of a round.
        retry_interval: s between rounds after a failed round.
    """

    exporter_url: str
    token: str
    timeout: float = 5.0
    attempts: int = 2
    backoff: float = 0.5
    retry_interval: float = 30.0

    def __post_init__(self) -> None:
        _check(
            self.exporter_url.startswith(("http://", "https://")),
            "exporter_url",
            self.exporter_url,
            "must be http(s)://",
        )
        _check(bool(self.token), "token", "", "DEEPCLEAN_API_TOKEN is empty")
        _check(0 < self.timeout <= 60, "timeout", self.timeout, "0 < t <= 60")
        _check(1 <= self.attempts <= 10, "attempts", self.attempts, "1..10")
        _check(0 <= self.backoff <= 10, "backoff", self.backoff, "0..10 s")
        _check(self.retry_interval > 0, "retry_interval",
               self.retry_interval, "must be > 0")  # fmt: skip


@dataclass(frozen=True)
class CarouselConfig:
    """The carousel and its spool.

    Attributes:
        ifo: interferometer, e.g. ``L1``.
        carousel_dir: where the cleaner writes 1 s frames.
        spool_dir: hard links of frames not archived yet (same filesystem
            as the carousel, else copies).
        max_frames: carousel bound (DESIGN.md: 300).
        headroom: frames kept free below the bound when pruning, so that
            the cleaner's next writes do not cross it between two prunes.
        max_spool_length: s of frames the spool may hold while the archive
            is failing; past it the oldest processed ones are dropped.
        stale_temp_length: s after which a writer's hidden temporary file
            left in the carousel (a crashed write) is removed.
    """

    ifo: str
    carousel_dir: Path
    spool_dir: Path
    max_frames: int = 300
    headroom: int = 2
    max_spool_length: int = 21600
    stale_temp_length: float = 300.0

    def __post_init__(self) -> None:
        site_of(self.ifo)
        _check(self.max_frames >= 2, "max_frames", self.max_frames, ">= 2")
        _check(0 <= self.headroom < self.max_frames, "headroom",
               self.headroom, "0 <= headroom < max_frames")  # fmt: skip
        _check(
            self.max_spool_length >= self.max_frames,
            "max_spool_length",
            self.max_spool_length,
            "must be >= max_frames",
        )
        _check(self.stale_temp_length >= 10, "stale_temp_length",
               self.stale_temp_length, ">= 10 s")  # fmt: skip


@dataclass(frozen=True)
class ArchiveConfig:
    """Cold storage of longer stretches.

    Attributes:
        ifo: interferometer.
        archive_dir: where stretches go.
        archive_length: s per stretch; stretches start at multiples of it
            and end early at a gap.
        compress: gzip the archived frames.
        retry_interval: s before retrying after a failed write.
    """

    ifo: str
    archive_dir: Path
    archive_length: int = 1000
    compress: bool = False
    retry_interval: float = 60.0

    def __post_init__(self) -> None:
        _check(self.archive_length >= 1, "archive_length",
               self.archive_length, ">= 1")  # fmt: skip
        _check(self.retry_interval > 0, "archive retry_interval",
               self.retry_interval, "> 0")  # fmt: skip


@dataclass(frozen=True)
class StatusConfig:
    """Status page and its plots.

    Attributes:
        status_dir: folder of index.html and the PNGs.
        interval: s between renders.
        port: HTTP port of the page on 127.0.0.1; 0 disables.
        history_length: s of per-second history plotted.
        psd_length: s of the newest contiguous data in the ASD plots.
        range_length: s of data per inspiral-range point.
        plot_low, plot_high: Hz, frequency axis of the ASD-ratio plot.
        range_fmin: Hz, low cut of the inspiral-range integral.
    """

    status_dir: Path
    interval: float = 15.0
    port: int = 8010
    history_length: int = 3600
    psd_length: int = 64
    range_length: int = 32
    plot_low: float = 50.0
    plot_high: float = 70.0
    range_fmin: float = 10.0

    def __post_init__(self) -> None:
        _check(self.interval > 0, "status interval", self.interval, "> 0")
        _check(0 <= self.port < 65536, "status port", self.port, "0..65535")
        _check(self.psd_length >= 4, "psd_length", self.psd_length, ">= 4")
        _check(
            4 <= self.range_length <= self.psd_length,
            "range_length",
            self.range_length,
            "4 <= range_length <= psd_length",
        )
        _check(self.history_length >= self.psd_length, "history_length",
               self.history_length, ">= psd_length")  # fmt: skip


@dataclass(frozen=True)
class MonitorConfig:
    """The loop and what ties the components together.

    Attributes:
        ifo: interferometer.
        state_path: the persisted state (JSON, written atomically).
        poll_interval: s between ticks.
        missing_timeout: s a skipped second may stay missing (while a later
            one exists) before it is treated as a gap.
        max_frames_per_tick: seconds processed per tick at most, so that
            a backlog never starves the rest of the loop.
        metrics_port: Prometheus port on 127.0.0.1; 0 disables.
    """

    ifo: str
    state_path: Path
    poll_interval: float = 0.5
    missing_timeout: float = 5.0
    max_frames_per_tick: int = 100
    metrics_port: int = 9104

    def __post_init__(self) -> None:
        site_of(self.ifo)
        _check(0 < self.poll_interval <= 10, "poll_interval",
               self.poll_interval, "0 < p <= 10 s")  # fmt: skip
        _check(self.missing_timeout > 0, "missing_timeout",
               self.missing_timeout, "> 0")  # fmt: skip
        _check(self.max_frames_per_tick >= 1, "max_frames_per_tick",
               self.max_frames_per_tick, ">= 1")  # fmt: skip
        _check(0 <= self.metrics_port < 65536, "metrics_port",
               self.metrics_port, "0..65535")  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Every component's configuration, as ``main`` built it."""

    monitor: MonitorConfig
    validation: ValidationConfig
    promotion: PromotionConfig
    carousel: CarouselConfig
    archive: ArchiveConfig
    status: StatusConfig

    def __post_init__(self) -> None:
        for part in (self.carousel, self.archive):
            _check(part.ifo == self.monitor.ifo, "ifo", part.ifo,
                   f"differs from {self.monitor.ifo}")  # fmt: skip
