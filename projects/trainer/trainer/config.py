"""The trainer's settings, read from ``[tool.typeo.scripts.trainer]`` of the
root ``pyproject.toml`` (embedded CPU default), with the profile
``trainer-production`` (GPU) laid over it
(:func:`utils.config.parse_settings`).

:class:`TrainerSettings` is the typed, documented entry point (its ``Args:``
are ``trainer --help``); it validates every value at start-up and builds
each component's frozen sub-config by keyword. No ``from __future__ import
annotations`` here: typeo reads the real annotation objects.
"""

from dataclasses import dataclass
from pathlib import Path

from trainer.collector import CollectConfig
from trainer.notifier import ExportConfig
from trainer.service import ScheduleConfig
from trainer.service import ServiceConfig
from trainer.worker import RunConfig
from utils.fields import BandFields
from utils.fields import ChannelFields
from utils.fields import PreprocessFields
from utils.fields import ProjectFields
from utils.fields import StreamFields
from utils.fields import TrainingFields
from utils.fields import documented
from utils.follower import StreamConfig
from utils.nn.datacheck import CheckConfig
from utils.nn.train import TrainConfig
from utils.settings import check_rules
from utils.settings import check_sub_configs
from utils.settings import convert_fields
from utils.settings import port_rule
from utils.settings import sub_config


@documented
@dataclass(frozen=True)
class TrainerSettings(
    TrainingFields,
    PreprocessFields,
    StreamFields,
    BandFields,
    ChannelFields,
    ProjectFields,
):
    """Train DeepClean on live analysis-ready data on a fixed cadence.

    Args:
        project_dir:
            Run folder: logs/ and train/<gpsstart>-<gpsstop>/ go here.
        data_dir:
            Holds the low-latency frames (kafka/IFO/, lldetchar/IFO/).
        max_consecutive_drops:
            Dropped seconds in a row that drop the current training set.
        exporter_url:
            Base URL of the exporter (POST /versions).
        export_timeout:
            Seconds per request to the exporter.
        export_rescan_interval:
            Seconds between looks for runs not exported yet.
        train_duration:
            Seconds of analysis-ready data per training run.
        retrain_cadence:
            Seconds of new data between the ends of two runs.
        ready_settle_length:
            Ready seconds skipped after a not-ready one before collecting.
        min_coherence:
            In-band coherence with strain at least one witness must reach
            (and above chance); 0: not enforced, a model is trained even
            where nothing is coupled (studies only).
        max_dropped_fraction:
            Largest fraction of a training stretch's seconds that may be
            zero-filled (dropped input, kept up to max_consecutive_drops
            in a row); more: the stretch is refused.
        num_threads:
            Torch threads (niceness keeps them behind the cleaner: they
            take the cores it leaves).
        niceness:
            Added to the process's nice value at start-up (0..19).
        metrics_port:
            Prometheus port on 127.0.0.1; 0 disables.
        verbose:
            Log at DEBUG level.
    """

    data_dir: Path
    exporter_url: str
    export_timeout: float
    export_rescan_interval: float
    train_duration: int
    retrain_cadence: int
    ready_settle_length: int
    min_coherence: float
    max_dropped_fraction: float
    num_threads: int
    niceness: int
    metrics_port: int
    verbose: bool = False

    def __post_init__(self) -> None:
        convert_fields(self)
        check_rules(self, self._rules())
        check_sub_configs(
            "trainer settings",
            self.service_config,
            self.run_config,
        )

    def _rules(self) -> list[tuple[str, bool, str]]:
        """(setting, whether its rule holds, the rule), in checking order."""
        valid_length = round(self.train_duration * self.valid_fraction)
        return [
            *self.channel_rules(),
            *self.band_rules(),
            *self.stream_rules(),
            *self.preprocess_rules(),
            (
                "exporter_url",
                self.exporter_url.startswith(("http://", "https://")),
                "an http(s) URL",
            ),
            ("export_timeout", self.export_timeout > 0, "> 0 s"),
            (
                "export_rescan_interval",
                self.export_rescan_interval > 0,
                "> 0 s",
            ),
            ("train_duration", self.train_duration >= 1, ">= 1 s"),
            ("retrain_cadence", self.retrain_cadence >= 1, ">= 1 s"),
            ("ready_settle_length", self.ready_settle_length >= 0, ">= 0 s"),
            *self.training_rules(),
            (
                "valid_fraction",
                valid_length >= self.kernel_length,
                f"the validation part of a run ({valid_length} s of "
                f"train_duration={self.train_duration!r}) must hold a kernel "
                f"(kernel_length={self.kernel_length!r})",
            ),
            ("min_coherence", 0 <= self.min_coherence <= 1, "in [0, 1]"),
            (
                "max_dropped_fraction",
                0 <= self.max_dropped_fraction < 1,
                "in [0, 1)",
            ),
            ("num_threads", self.num_threads >= 1, ">= 1"),
            ("niceness", 0 <= self.niceness <= 19, "in 0..19"),
            port_rule("metrics_port", self.metrics_port),
        ]

    def stream_config(
        self, start_timeout: float | None = None
    ) -> StreamConfig:
        """The input frames; ``start_timeout`` (s) replaces the setting."""
        if start_timeout is None:
            start_timeout = self.start_timeout
        return sub_config(
            StreamConfig,
            self,
            witness_channels=tuple(self.witness_channels),
            start_timeout=start_timeout,
        )

    def schedule_config(self) -> ScheduleConfig:
        return sub_config(ScheduleConfig, self)

    def service_config(self) -> ServiceConfig:
        return ServiceConfig(
            stream=self.stream_config(),
            preprocess=self.preprocess_config(),
            schedule=self.schedule_config(),
            collect=self.collect_config(),
        )

    def collect_config(self, max_length: int | None = None) -> CollectConfig:
        """Collection rules; ``max_length`` (s) replaces ``train_duration``."""
        max_length = max_length or self.train_duration
        return sub_config(CollectConfig, self, max_length=max_length)

    def train_config(self) -> TrainConfig:
        return sub_config(TrainConfig, self)

    def check_config(self) -> CheckConfig:
        return sub_config(CheckConfig, self)

    def run_config(self) -> RunConfig:
        return sub_config(
            RunConfig,
            self,
            witness_channels=tuple(self.witness_channels),
            train=self.train_config(),
            checks=self.check_config(),
        )

    def export_config(self, token: str) -> ExportConfig:
        """The exporter; ``token`` is the API token (read by ``main``).

        Raises:
            ConfigError: the token is shorter than 8 characters.
        """
        return sub_config(
            ExportConfig,
            self,
            prefix="export_",
            url=self.exporter_url,
            token=token,
        )
