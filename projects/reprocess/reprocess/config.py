"""The reprocessing's settings, read from ``[tool.typeo.scripts.reprocess]``
of the root ``pyproject.toml`` (:func:`utils.config.parse_settings`).

:class:`ReprocessSettings` is the typed, documented entry point (its
``Args:`` are ``reprocess --help``); it validates every value at start-up
and builds each component's frozen sub-config by keyword. No ``from
__future__ import annotations`` here: typeo reads the real annotations.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, List

from dask.utils import parse_bytes

from reprocess.cleaning import CleaningConfig
from reprocess.engine import EngineConfig
from reprocess.engine import JobConfig
from reprocess.sources import SourceConfig
from reprocess.task import MODELS_DIR
from reprocess.task import SUMMARY_DIR
from reprocess.task import TaskConfig
from utils.fields import BandFields
from utils.fields import ChannelFields
from utils.fields import TrainingFields
from utils.fields import documented
from utils.names import site_of
from utils.nn.datacheck import CheckConfig
from utils.settings import check_rules
from utils.settings import check_sub_configs
from utils.settings import convert_fields
from utils.settings import sub_config

if TYPE_CHECKING:
    from reprocess.training import TrainingConfig

CLUSTERS = ("local", "htcondor", "slurm")
MODEL_SOURCES = ("repository", "train")
MIN_CHECKED_LENGTH = CheckConfig.min_duration  # s the data checks accept
SIZE_RULE = "a size in bytes > 0, e.g. 4GiB or 8 GB"


def is_size(text: str) -> bool:
    """Whether ``text`` is a positive size Dask reads (``4GiB``): checked
    at start-up, not when the cluster is made, where a typo ended the
    command with a traceback."""
    try:
        return bool(text.strip()) and parse_bytes(text) > 0
    except (ValueError, TypeError):
        return False


@documented
@dataclass(frozen=True)
class ReprocessSettings(TrainingFields, BandFields, ChannelFields):
    """Clean stored frames of ``[gps_start, gps_end)`` on Dask workers.

    The witness channels must be the model's, in its order; the training
    settings (:class:`utils.fields.TrainingFields`, min_train_length,
    min_coherence, max_dropped_fraction) are used under model_source
    train only.

    Args:
        data_dir:
            Root the frame patterns are relative to (1-s frames laid out
            as under DATA_DIR: kafka/IFO, lldetchar/IFO).
        output_dir:
            Where the cleaned frames, logs/ and summary/ go.
        gps_start:
            First GPS second cleaned.
        gps_end:
            GPS second after the last one cleaned.
        model_source:
            Where the network comes from: repository (version VERSION of
            MODEL_REPO) or train (train-as-you-go: a network trained on
            each output file's own data, warm-started from the previous
            file's, then that file cleaned with it; MODEL_REPO and
            VERSION are not used).
        model_repo:
            The model repository (model_repo/deepclean/<v>/ as the
            exporter writes it).
        version:
            Version of the repository's deepclean model used (its tag in
            the output; under model_source train the tag is the GPS start
            of the file the network was trained on).
        workers:
            Dask workers (local processes or batch jobs); 0: one per
            CPU core of this machine.
        scheduler:
            Address of a running Dask scheduler to join ("": start one).
        cluster:
            local, htcondor or slurm (dask-jobqueue, with the job_*
            resources).
        strain_frame_type:
            Frame type (file description) holding strain and state.
        witness_frame_type:
            Frame type holding the witnesses.
        frame_patterns:
            Glob patterns of input frames under data_dir.
        frame_cache:
            A LAL frame cache file listing the input ("": none; used
            before datafind_server and frame_patterns).
        datafind_server:
            host[:port] of a gwdatafind server ("": none; used before
            frame_patterns).
        sample_rate:
            Hz of the model; witnesses are resampled to it.
        strain_rate:
            Hz of the raw strain, the output's rate.
        ready_mask:
            State-vector bits meaning analysis ready.
        drop_taper_length:
            Seconds of the Hann ramps next to a missing second.
        pad_length:
            Whole seconds read beyond each end of a block (resampling,
            network edges, band-pass ringing).
        block_length:
            Seconds cleaned at once by a worker (bounds its memory).
        frame_length:
            Seconds per output file (files start at multiples of it);
            under model_source train, each file is one training chunk.
        ratio_fftlength:
            Seconds per Welch segment of the summary's ASD ratio (the
            monitor's length; the summary's segments overlap by half,
            as the monitor's do with the default asd_overlap).
        retries:
            Tries after a chunk's first failure.
        start_timeout:
            Seconds for the first worker to come up.
        chunk_timeout:
            Seconds one try of one output file should take at most: a
            try still running then is named in the log. The run ends
            after this times the tries of the files each worker takes
            (trainings one after another); files unfinished then fail.
        worker_memory:
            Memory limit of a local worker, e.g. 4GiB.
        dashboard_address:
            Where the Dask dashboard listens (:0 any free port).
        job_cores:
            Cores per batch job (one single-threaded worker per core).
        job_memory:
            Memory per batch job, e.g. 8GiB.
        job_disk:
            Local disk per batch job (HTCondor request_disk).
        job_walltime:
            Wall time per batch job, HH:MM:SS (Slurm).
        job_queue:
            Slurm partition ("": the default).
        job_account:
            HTCondor accounting_group / Slurm account ("": none).
        job_prologue:
            Shell lines run in each job before its worker starts.
        min_train_length:
            Train: seconds of contiguous analysis-ready data a file needs
            to be trained on (its longest such stretch is used).
        min_coherence:
            Train: in-band coherence one witness must reach, else the
            file's training is refused; 0: not enforced.
        max_dropped_fraction:
            Train: largest fraction of the stretch trained on that may be
            zero-filled (missing seconds).
        num_threads:
            Torch threads per task (workers are single-threaded).
        compress:
            Gzip the output frames (smaller, slower).
        verbose:
            Log at DEBUG.
    """

    data_dir: Path
    output_dir: Path
    gps_start: int
    gps_end: int
    model_source: str
    model_repo: Path
    version: int
    workers: int
    scheduler: str
    cluster: str
    strain_frame_type: str
    witness_frame_type: str
    frame_patterns: List[str]
    frame_cache: str
    datafind_server: str
    strain_rate: int
    ready_mask: int
    drop_taper_length: float
    pad_length: int
    block_length: int
    frame_length: int
    ratio_fftlength: float
    retries: int
    start_timeout: float
    chunk_timeout: float
    worker_memory: str
    dashboard_address: str
    job_cores: int
    job_memory: str
    job_disk: str
    job_walltime: str
    job_queue: str
    job_account: str
    job_prologue: List[str]
    min_train_length: int
    min_coherence: float
    max_dropped_fraction: float
    num_threads: int
    compress: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        convert_fields(self)
        check_rules(self, self._rules())
        builders = [self.source_config, self.cleaning_config]
        builders.append(self.engine_config)
        if self.model_source == "train":  # torch: seconds of start-up
            builders.append(self.training_config)
        check_sub_configs("reprocess settings", *builders)

    def _rules(self) -> list[tuple[str, bool, str]]:
        """(setting, whether its rule holds, the rule), in checking order."""
        return [
            *self.channel_rules(),
            *self.band_rules(),
            *self.training_rules(),
            ("gps_start", self.gps_start > 0, "> 0 (a GPS second)"),
            (
                "gps_end",
                self.gps_end > self.gps_start,
                f"> gps_start={self.gps_start}",
            ),
            (
                "model_source",
                self.model_source in MODEL_SOURCES,
                f"one of {MODEL_SOURCES}",
            ),
            (
                "version",
                self.version >= 1 or self.model_source == "train",
                ">= 1 (a model version)",
            ),
            ("workers", self.workers >= 0, ">= 0 (0: one per core)"),
            ("cluster", self.cluster in CLUSTERS, f"one of {CLUSTERS}"),
            # "." (or empty) is not set: a worker's folder is not ours
            ("output_dir", self.output_dir != Path(), "a folder, not '.'"),
            (
                "data_dir",
                self.data_dir != Path()
                or bool(self.frame_cache or self.datafind_server),
                "a folder, not '.' (or a frame cache, or datafind)",
            ),
            ("ready_mask", self.ready_mask >= 0, ">= 0"),
            (
                "drop_taper_length",
                0 < self.drop_taper_length <= 1,
                "in (0, 1] s",
            ),
            ("pad_length", self.pad_length >= 1, ">= 1 s"),
            ("block_length", self.block_length >= 1, ">= 1 s"),
            ("frame_length", self.frame_length >= 1, ">= 1 s"),
            (
                "ratio_fftlength",
                self.ratio_fftlength > 0
                and (self.ratio_fftlength * self.strain_rate) % 2 == 0,
                f"> 0 s and an even number of samples at strain_rate="
                f"{self.strain_rate}",
            ),
            ("retries", self.retries >= 0, ">= 0"),
            ("start_timeout", self.start_timeout > 0, "> 0 s"),
            ("chunk_timeout", self.chunk_timeout > 0, "> 0 s"),
            ("worker_memory", is_size(self.worker_memory), SIZE_RULE),
            ("job_cores", self.job_cores >= 1, ">= 1"),
            ("job_memory", is_size(self.job_memory), SIZE_RULE),
            ("job_disk", is_size(self.job_disk), SIZE_RULE),
            (
                "min_train_length",
                self.min_train_length >= MIN_CHECKED_LENGTH,
                f">= {MIN_CHECKED_LENGTH:g} s (the data checks' minimum)",
            ),
            ("num_threads", self.num_threads >= 1, ">= 1"),
        ]

    @property
    def log_dir(self) -> Path:
        return self.output_dir / "logs"

    @property
    def summary_dir(self) -> Path:
        return self.output_dir / SUMMARY_DIR

    @property
    def models_dir(self) -> Path:
        return self.output_dir / MODELS_DIR

    def source_config(self) -> SourceConfig:
        return sub_config(
            SourceConfig,
            self,
            frame_patterns=tuple(self.frame_patterns),
            frame_cache=(
                Path(self.frame_cache).absolute() if self.frame_cache else None
            ),
            site=site_of(self.ifo),
            frame_types=tuple(
                dict.fromkeys(
                    [self.strain_frame_type, self.witness_frame_type]
                )
            ),
        )

    def cleaning_config(self) -> CleaningConfig:
        return sub_config(
            CleaningConfig,
            self,
            taper_length=self.drop_taper_length,
            witness_channels=tuple(self.witness_channels),
        )

    def job_config(self) -> JobConfig:
        return sub_config(
            JobConfig,
            self,
            prefix="job_",
            prologue=tuple(self.job_prologue),
            python=sys.executable,
            log_directory=str(self.log_dir / "jobs"),
        )

    def engine_config(self) -> EngineConfig:
        return sub_config(EngineConfig, self, job=self.job_config())

    def training_config(self) -> "TrainingConfig":
        # imported here: torch, which the repository's path never needs
        from reprocess.training import TrainingConfig
        from utils.nn.config import TrainConfig

        return sub_config(
            TrainingConfig,
            self,
            train=sub_config(TrainConfig, self),
            checks=sub_config(CheckConfig, self),
        )

    def task_config(self, rates: dict[str, int]) -> TaskConfig:
        """What the workers need; ``rates``: native rate of each channel."""
        return sub_config(
            TaskConfig,
            self,
            cleaning=self.cleaning_config(),
            training=(
                self.training_config()
                if self.model_source == "train"
                else None
            ),
            rates=dict(rates),
        )
