"""The monitor's settings, read from ``[tool.typeo.scripts.monitor]`` of the
root ``pyproject.toml``, with the profile ``monitor-production`` laid over
it (:func:`utils.config.parse_settings`).

:class:`MonitorSettings` is the typed, documented entry point (its ``Args:``
are ``monitor --help``); it validates every value at start-up, checks the
contract with the output frames (:mod:`utils.contracts`), and builds each
component's frozen sub-config by keyword; :class:`MonitorConfig` carries
them to :class:`monitor.monitor.Monitor`. No ``from __future__ import
annotations`` here: typeo reads the real annotation objects.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List

from monitor.archive import ArchiveConfig
from monitor.carousel import CarouselConfig
from monitor.health import HealthConfig
from monitor.promotion import PromotionConfig
from monitor.status import StatusConfig
from monitor.validation import ValidationConfig
from monitor.watch import WatchConfig
from utils.channels import STRAIN_RATE
from utils.contracts import check_output_band
from utils.errors import ConfigError
from utils.fields import ProjectFields
from utils.fields import documented
from utils.names import site_of
from utils.settings import check_rules
from utils.settings import check_sub_configs
from utils.settings import convert_fields
from utils.settings import port_rule
from utils.settings import sub_config
from utils.settings import subband_rules

RANGE_LENGTH = 32  # s of data per inspiral-range point (at most psd_length)


def _is_ifo(ifo: str) -> bool:
    try:
        site_of(ifo)
    except ConfigError:
        return False
    return True


@dataclass(frozen=True)
class LoopConfig:
    """The loop and what ties the components together.

    Attributes:
        ifo: interferometer.
        state_path: the persisted state (JSON, written atomically).
        poll_interval: s between ticks.
        project_dir: the DeepClean project folder (train-now requests).
        missing_timeout: s a skipped second may stay missing (while a later
            one exists) before it is treated as a gap.
        metrics_port: Prometheus port on 127.0.0.1; 0 disables.
        max_frames_per_tick: seconds processed per tick at most, so that
            a backlog never starves the rest of the loop.
    """

    ifo: str
    project_dir: Path
    state_path: Path
    poll_interval: float
    missing_timeout: float
    metrics_port: int
    max_frames_per_tick: int = 100


@dataclass(frozen=True)
class MonitorConfig:
    """Every component's sub-config, as :class:`MonitorSettings` built it."""

    loop: LoopConfig
    validation: ValidationConfig
    watch: WatchConfig
    promotion: PromotionConfig
    carousel: CarouselConfig
    archive: ArchiveConfig
    status: StatusConfig
    health: HealthConfig


@documented
@dataclass(frozen=True)
class MonitorSettings(ProjectFields):
    """Validate and promote canaries, prune the carousel, archive, report.

    Args:
        ifo:
            Interferometer, e.g. L1.
        project_dir:
            DeepClean project folder (carousel/, monitor/, logs/; the spool
            is archive/.spool, on the carousel's filesystem).
        archive_dir:
            Cold storage folder of the archived stretches.
        exporter_url:
            Base URL of the exporter API.
        window_length:
            Seconds cleaned by one canary version that make its validation
            window (the one value used everywhere).
        ratio_threshold:
            Promote when the window's CANARY/RAW ASD ratio is below it.
        production_margin:
            ... and when no sub-band of CANARY is worse than PRODUCTION
            over the same window by more than this (relative ASD).
        settle_length:
            Seconds of a new canary not judged, before its window: the
            cleaner's gain tracker has not fitted it yet (the cleaner's
            tracking_min_length), while production's has.
        stale_factor:
            Production is stale (no longer matches the coupling; the
            trainer is asked for a run now) when its ASD ratio vs raw over
            the newest window exceeds this times its validated ratio.
        canary_out_of_band_limit:
            ... and when the canary adds at most this fraction of RAW's
            power outside the band over its window (within 2 Hz of the
            band's edges, and 20-500 Hz beyond): a canary that cleans the
            band but adds power beside it is refused.
        out_of_band_limit:
            Largest fraction of RAW's power PRODUCTION may add outside
            the band over the newest window (the same regions) before
            the monitor warns (log, status page, metrics).
        freq_low:
            Low edge of the validation band, Hz.
        freq_high:
            High edge of the validation band, Hz.
        subband_edges:
            Hz where the band is split into the sub-bands compared with
            production.
        fftlength:
            Welch segment of the validation ASDs, s.
        overlap:
            Welch overlap of the validation ASDs, s.
        max_frames:
            Carousel bound (frames).
        archive_length:
            Seconds per archived stretch (stretches end early at gaps).
        missing_timeout:
            Seconds a skipped second may stay missing before it is a gap.
        poll_interval:
            Seconds between ticks of the loop.
        promotion_timeout:
            Seconds per HTTP request to the exporter.
        promotion_retry_min_interval:
            Seconds before retrying a failed promotion; doubles with each
            further failure.
        promotion_retry_max_interval:
            Longest wait between promotion attempts, s.
        archive_retry_interval:
            Seconds before retrying a failed archive write.
        max_spool_length:
            Seconds of processed frames kept in the spool while the
            archive fails (at least ``archive_length``, what a working
            archive leaves spooled).
        status_interval:
            Seconds between status page renders.
        status_port:
            Port of the status page on 127.0.0.1; 0 disables.
        history_length:
            Seconds of history on the status page.
        psd_length:
            Seconds of newest data in the status page spectra.
        health_frame_age:
            Seconds since the newest cleaned frame was written before the
            health verdict (nagios.json beside the status page, for
            LIGO's dashboard) is CRITICAL: the product is not written.
        health_gate_open_min:
            Fraction of the newest window_length seconds with a model that
            the OUT_DQ gate must be open, else the verdict warns.
        health_timeout:
            Seconds after it is written that the verdict reads UNKNOWN
            (the monitor stopped updating it); at least twice
            status_interval.
        metrics_port:
            Prometheus port on 127.0.0.1; 0 disables.
        archive_compress:
            Gzip the archived frames.
        verbose:
            Log every frame (DEBUG).
    """

    ifo: str
    archive_dir: Path
    exporter_url: str
    window_length: int
    ratio_threshold: float
    production_margin: float
    canary_out_of_band_limit: float
    settle_length: int
    stale_factor: float
    out_of_band_limit: float
    freq_low: float
    freq_high: float
    subband_edges: List[float]
    fftlength: float
    overlap: float
    max_frames: int
    archive_length: int
    missing_timeout: float
    poll_interval: float
    promotion_timeout: float
    promotion_retry_min_interval: float
    promotion_retry_max_interval: float
    archive_retry_interval: float
    max_spool_length: int
    status_interval: float
    status_port: int
    history_length: int
    psd_length: int
    health_frame_age: float
    health_gate_open_min: float
    health_timeout: float
    metrics_port: int
    archive_compress: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        convert_fields(self)
        check_rules(self, self._rules())
        check_output_band(self.freq_low, self.freq_high)
        check_sub_configs(
            "monitor settings",
            self.carousel_config,
            self.health_config,
            errors=(ConfigError,),
        )

    def _rules(self) -> list[tuple[str, bool, str]]:
        """(setting, whether its rule holds, the rule), in checking order."""
        fft, overlap = self.fftlength, self.overlap
        retry = self.promotion_retry_min_interval

        def whole(seconds: float) -> bool:
            size = seconds * STRAIN_RATE
            return abs(size - round(size)) < 1e-9

        return [
            ("ifo", _is_ifo(self.ifo), "like 'L1' or 'H1'"),
            ("project_dir", str(self.project_dir) != ".", "a folder"),
            (
                "archive_dir",
                str(self.archive_dir) != ".",
                "a folder (is ARCHIVE_DIR set?)",
            ),
            (
                "exporter_url",
                self.exporter_url.startswith(("http://", "https://")),
                "must start with http:// or https://",
            ),
            (
                "fftlength",
                fft > 0 and whole(fft),
                f"> 0 s and whole samples at {STRAIN_RATE} Hz",
            ),
            (
                "overlap",
                0 <= overlap < fft and whole(overlap),
                f"0 <= overlap < fftlength={fft!r}, whole samples",
            ),
            (
                "window_length",
                self.window_length >= fft,
                f">= fftlength={fft!r} (one Welch segment)",
            ),
            ("ratio_threshold", self.ratio_threshold > 0, "> 0"),
            ("production_margin", self.production_margin >= 0, ">= 0"),
            (
                "canary_out_of_band_limit",
                self.canary_out_of_band_limit > 0,
                "> 0",
            ),
            ("settle_length", self.settle_length >= 0, ">= 0 s"),
            ("stale_factor", self.stale_factor > 1, "> 1"),
            ("out_of_band_limit", self.out_of_band_limit > 0, "> 0"),
            *subband_rules(self),
            ("max_frames", self.max_frames >= 2, ">= 2"),
            ("archive_length", self.archive_length >= 1, ">= 1 s"),
            ("missing_timeout", self.missing_timeout > 0, "> 0 s"),
            ("poll_interval", 0 < self.poll_interval <= 10, "in (0, 10] s"),
            (
                "promotion_timeout",
                0 < self.promotion_timeout <= 60,
                "in (0, 60] s",
            ),
            (
                "promotion_retry_min_interval",
                0 < retry <= self.promotion_retry_max_interval,
                "in (0, promotion_retry_max_interval="
                f"{self.promotion_retry_max_interval!r}] s",
            ),
            (
                "archive_retry_interval",
                self.archive_retry_interval > 0,
                "> 0 s",
            ),
            (  # a working archive leaves the stretch being filled
                "max_spool_length",
                self.max_spool_length >= self.archive_length,
                f">= archive_length={self.archive_length!r}",
            ),
            ("status_interval", self.status_interval > 0, "> 0 s"),
            port_rule("status_port", self.status_port),
            ("psd_length", self.psd_length >= 4, ">= 4 s"),
            (
                "history_length",
                self.history_length >= self.psd_length,
                f">= psd_length={self.psd_length!r}",
            ),
            ("health_frame_age", self.health_frame_age > 0, "> 0 s"),
            (
                "health_gate_open_min",
                0 <= self.health_gate_open_min <= 1,
                "a fraction in [0, 1]",
            ),
            (
                "health_timeout",
                self.health_timeout >= 2 * self.status_interval,
                f">= 2 x status_interval={self.status_interval!r} s (a "
                "render can be late)",
            ),
            port_rule("metrics_port", self.metrics_port),
        ]

    def loop_config(self) -> LoopConfig:
        state_path = self.monitor_dir / "state.json"
        return sub_config(LoopConfig, self, state_path=state_path)

    def validation_config(self) -> ValidationConfig:
        return sub_config(
            ValidationConfig,
            self,
            sample_rate=STRAIN_RATE,
            subband_edges=tuple(self.subband_edges),
        )

    def watch_config(self) -> WatchConfig:
        return sub_config(WatchConfig, self)

    def promotion_config(self, token: str) -> PromotionConfig:
        """Args: token: the exporter's API token (``main`` reads it)."""
        return sub_config(
            PromotionConfig, self, prefix="promotion_", token=token
        )

    def carousel_config(self) -> CarouselConfig:
        return sub_config(CarouselConfig, self)

    def archive_config(self) -> ArchiveConfig:
        return sub_config(ArchiveConfig, self, prefix="archive_")

    def status_config(self) -> StatusConfig:
        return sub_config(
            StatusConfig,
            self,
            prefix="status_",
            status_dir=self.monitor_dir / "status",
            range_length=min(RANGE_LENGTH, self.psd_length),
        )

    def health_config(self) -> HealthConfig:
        return sub_config(HealthConfig, self, prefix="health_")

    def monitor_config(self, token: str) -> MonitorConfig:
        """Every component's sub-config, for :class:`~monitor.monitor.Monitor`.

        Raises:
            ConfigError: ``token`` is shorter than 8 characters.
        """
        return MonitorConfig(
            loop=self.loop_config(),
            validation=self.validation_config(),
            watch=self.watch_config(),
            promotion=self.promotion_config(token),
            carousel=self.carousel_config(),
            archive=self.archive_config(),
            status=self.status_config(),
            health=self.health_config(),
        )
