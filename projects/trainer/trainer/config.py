"""The trainer's settings, read by typeo from ``[tool.typeo.scripts.trainer]``
(embedded CPU default) or ``trainer-production`` (GPU, DESIGN.md §8).

:class:`TrainerSettings` is the typed, documented entry point of typeo (its
``Args:`` become ``trainer --help``); it validates and hands each component
only its own frozen sub-configuration. No ``from __future__ import
annotations`` here: typeo reads the real annotation objects.
"""

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import List

from utils.errors import ConfigError
from utils.follower import StreamConfig
from utils.nn.datacheck import CheckConfig
from utils.nn.train import TrainConfig

from trainer.collector import CollectConfig
from trainer.notifier import ExportConfig
from trainer.service import ScheduleConfig
from trainer.worker import RunConfig


@dataclass(frozen=True)
class TrainerSettings:
    """Train DeepClean on live analysis-ready data on a fixed cadence.

    Args:
        ifo:
            Interferometer, e.g. L1.
        project_dir:
            Run folder: logs/ and train/<gpsstart>-<gpsstop>/ go here.
        data_dir:
            Holds the low-latency frames (kafka/IFO/, lldetchar/IFO/).
        strain_channel:
            Target channel, e.g. L1:GDS-CALIB_STRAIN.
        state_channel:
            State vector carrying the analysis-ready bits.
        witness_channels:
            Witness channels, in network input order.
        sample_rate:
            Hz everything is resampled to.
        freq_low:
            Lower edge of the target band, Hz.
        freq_high:
            Upper edge of the target band, Hz.
        filter_order:
            Butterworth band-pass order of the training target.
        ready_mask:
            State-vector bits that must all be set (analysis ready).
        frame_timeout:
            Seconds after a frame is due before it counts as dropped.
        max_consecutive_drops:
            Dropped seconds in a row that drop the current training set.
        exporter_url:
            Base URL of the exporter (POST /versions).
        train_duration:
            Seconds of analysis-ready data per training run.
        retrain_cadence:
            Seconds of new data between the ends of two runs.
        ready_settle_length:
            Ready seconds skipped after a not-ready one before collecting.
        kernel_length:
            Seconds per training kernel (random crops of the data).
        kernel_stride:
            Seconds between training kernel starts.
        batch_size:
            Kernels per optimiser step.
        lr:
            Adam learning rate from scratch.
        fine_tune_decay:
            Learning-rate factor when warm-starting from the previous run.
        weight_decay:
            Adam weight decay.
        max_epochs:
            Most epochs per run.
        patience:
            Epochs without a better validation loss before stopping.
        min_improvement:
            Relative validation-loss improvement that resets patience.
        lr_patience:
            Epochs without improvement before the learning rate is cut.
        lr_factor:
            Factor of each learning-rate cut.
        valid_fraction:
            Last fraction of the data kept for validation.
        min_coherence:
            In-band coherence with strain at least one witness must reach.
        device:
            Torch device: cpu or cuda.
        num_threads:
            Torch threads (leave the cleaner its cores).
        niceness:
            Added to the process's nice value at start-up.
        metrics_port:
            Prometheus port on 127.0.0.1; 0 disables.
        export_timeout:
            Seconds per request to the exporter.
        export_rescan_interval:
            Seconds between looks for runs not exported yet.
        verbose:
            Log at DEBUG level.
    """

    ifo: str
    project_dir: Path
    data_dir: Path
    strain_channel: str
    state_channel: str
    witness_channels: List[str]
    sample_rate: int = 4096
    freq_low: float = 58.0
    freq_high: float = 62.0
    filter_order: int = 8
    ready_mask: int = 3
    frame_timeout: float = 2.0
    max_consecutive_drops: int = 30
    exporter_url: str = "http://127.0.0.1:5000"
    train_duration: int = 4096
    retrain_cadence: int = 2048
    ready_settle_length: int = 8
    kernel_length: float = 8.0
    kernel_stride: float = 0.0625
    batch_size: int = 256
    lr: float = 1e-3
    fine_tune_decay: float = 0.1
    weight_decay: float = 1e-5
    max_epochs: int = 50
    patience: int = 5
    min_improvement: float = 0.0
    lr_patience: int = 2
    lr_factor: float = 0.5
    valid_fraction: float = 0.25
    min_coherence: float = 0.2
    device: str = "cpu"
    num_threads: int = 1
    niceness: int = 10
    metrics_port: int = 9101
    export_timeout: float = 5.0
    export_rescan_interval: float = 60.0
    verbose: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "project_dir", Path(self.project_dir))
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.witness_channels:
            raise ConfigError("witness_channels is empty")
        if self.num_threads < 1 or not 0 <= self.niceness <= 19:
            raise ConfigError("num_threads >= 1 and niceness in 0..19")
        valid_length = round(self.train_duration * self.valid_fraction)
        if valid_length < self.kernel_length:
            raise ConfigError(
                f"validation part of a run ({valid_length} s) is shorter "
                f"than a kernel ({self.kernel_length} s)"
            )
        try:  # every sub-config validates its own fields, at start-up
            self.train_config()
            self.check_config()
        except ValueError as exc:
            raise ConfigError(f"trainer settings: {exc}") from exc
        self.stream_config()
        self.schedule_config()

    def overridden(self, items: List[str]) -> "TrainerSettings":
        """A copy with ``KEY=VALUE`` changes (numeric or text fields)."""
        kinds = {f.name: f.type for f in fields(self)}
        changes = {}
        for item in items:
            key, _, value = item.partition("=")
            if kinds.get(key) not in (int, float, str):
                raise ConfigError(f"{item!r}: not a numeric or text setting")
            changes[key] = kinds[key](value)
        return replace(self, **changes)

    @property
    def train_dir(self) -> Path:
        return self.project_dir / "train"

    def stream_config(self, start_timeout: float = 600.0) -> StreamConfig:
        return StreamConfig(
            data_dir=self.data_dir,
            ifo=self.ifo,
            strain_channel=self.strain_channel,
            state_channel=self.state_channel,
            witness_channels=tuple(self.witness_channels),
            frame_timeout=self.frame_timeout,
            max_consecutive_drops=self.max_consecutive_drops,
            start_timeout=start_timeout,
        )

    def schedule_config(self) -> ScheduleConfig:
        return ScheduleConfig(
            self.sample_rate,
            self.train_duration,
            self.retrain_cadence,
            self.ready_mask,
        )

    def collect_config(self, max_length: int | None = None) -> CollectConfig:
        return CollectConfig(
            self.sample_rate,
            max_length or self.train_duration,
            self.max_consecutive_drops,
            self.ready_settle_length,
        )

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            sample_rate=self.sample_rate,
            freq_low=self.freq_low,
            freq_high=self.freq_high,
            filter_order=self.filter_order,
            kernel_length=self.kernel_length,
            kernel_stride=self.kernel_stride,
            batch_size=self.batch_size,
            lr=self.lr,
            fine_tune_decay=self.fine_tune_decay,
            weight_decay=self.weight_decay,
            max_epochs=self.max_epochs,
            patience=self.patience,
            min_improvement=self.min_improvement,
            lr_patience=self.lr_patience,
            lr_factor=self.lr_factor,
            valid_fraction=self.valid_fraction,
            device=self.device,
        )

    def check_config(self) -> CheckConfig:
        return CheckConfig(
            self.sample_rate, self.freq_low, self.freq_high, self.min_coherence
        )

    def run_config(self) -> RunConfig:
        return RunConfig(
            self.train_dir,
            self.strain_channel,
            tuple(self.witness_channels),
            self.train_config(),
            self.check_config(),
        )

    def export_config(self, token: str) -> ExportConfig:
        return ExportConfig(
            self.exporter_url,
            token,
            self.export_timeout,
            rescan_interval=self.export_rescan_interval,
        )
