"""The reprocessing's settings: every value has one home (the root
``pyproject.toml``), ``reprocess --help`` documents each, bad values fail
at start-up naming the setting."""

from __future__ import annotations

import pytest

from reprocess.cleaning import CleaningConfig
from reprocess.config import ReprocessSettings
from reprocess.engine import EngineConfig
from reprocess.engine import JobConfig
from reprocess.sources import SourceConfig
from reprocess.task import TaskConfig
from reprocess.training import TrainingConfig
from utils import settings_checks as checks
from utils.config import read_tables
from utils.errors import ConfigError
from utils.nn.config import TrainConfig
from utils.nn.datacheck import CheckConfig
from utils.testing import run_script
from utils.testing import service_environ

load_settings = checks.settings_loader(ReprocessSettings, "reprocess")
SPAN = {"gps_start": 1_400_000_000, "gps_end": 1_400_004_096}
# no sub-config keeps a value in code
COMPONENTS = {
    SourceConfig: set(),
    CleaningConfig: set(),
    EngineConfig: set(),
    JobConfig: set(),
    TaskConfig: set(),
    TrainingConfig: set(),
    # the trainer's components: what they keep in code (no key of ours)
    TrainConfig: {"fftlength", "overlap", "channels", "seed"},
    CheckConfig: {"fftlength", "min_duration", "false_alarm"},
}
# train-as-you-go's hyper-parameters: their home is [trainer]
TRAINER_KEYS = (
    "kernel_length",
    "kernel_stride",
    "batch_size",
    "lr",
    "fine_tune_decay",
    "weight_decay",
    "max_epochs",
    "patience",
    "min_improvement",
    "lr_patience",
    "lr_factor",
    "valid_fraction",
    "min_coherence",
    "device",
)


class TestSettings(checks.SettingsContract):
    settings = ReprocessSettings
    prog = "reprocess"
    components = COMPONENTS
    probe = ("pad_length", 8)  # a default the audit must see
    sections = {"reprocess"}
    override = ("workers", "3", 3)
    values = SPAN  # no section can say what to reprocess


def test_the_section_builds_every_component():
    settings = load_settings(**SPAN)
    source = settings.source_config()
    assert source.frame_cache is None
    assert source.frame_types == ("L1_llhoft", "L1_lldetchar")
    cleaning = settings.cleaning_config()
    assert (cleaning.sample_rate, cleaning.strain_rate) == (4096, 16384)
    assert cleaning.witness_channels == tuple(settings.witness_channels)
    engine = settings.engine_config()
    assert engine.cluster == "local" and engine.num_workers >= 1
    task = settings.task_config({settings.strain_channel: 16384})
    assert task.output_dir == settings.output_dir


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"gps_end": SPAN["gps_start"]}, "gps_end"),
        ({"cluster": "kubernetes"}, "cluster"),
        ({"version": 0}, "version"),
        ({"model_source": "onnx"}, "model_source"),
        ({"min_train_length": 8}, "min_train_length"),
        ({"filter_order": 7}, "filter_order"),
        ({"strain_rate": 6000}, "strain_rate"),
        ({"ratio_fftlength": 0.0}, "ratio_fftlength"),
        ({"ratio_fftlength": 1 / 16384}, "ratio_fftlength"),  # one sample
        ({"worker_memory": "4GiBB"}, "worker_memory"),
        ({"job_memory": "eight GiB"}, "job_memory"),
        ({"job_disk": "0"}, "job_disk"),
        ({"job_disk": ""}, "job_disk"),
        # not set: a batch worker's folder is not the command's
        ({"output_dir": ""}, "output_dir"),
        ({"data_dir": "."}, "data_dir"),
        # the training's own rules, as the trainer's
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -0.5}, "weight_decay"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_values_fail_naming_the_setting(values, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(**{**SPAN, **values})


def test_the_span_is_required(tmp_path):
    """Without --gps-start/--gps-end the command cannot start (exit 2)."""
    done = run_script(
        "reprocess",
        "--typeo",
        f"{checks.PYPROJECT}:reprocess",
        env=service_environ(tmp_path),
    )
    assert done.returncode == 2
    assert "gps_start=0" in done.stderr


def test_an_output_folder_that_cannot_be_made_cannot_start(tmp_path):
    """An output folder that cannot be created (under a file here; on
    /proc, read-only, ...) is a bad setting: exit 2 naming the folder,
    not a traceback with the exit status of failed chunks (1)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run_script(
        "reprocess",
        "--typeo",
        f"{checks.PYPROJECT}:reprocess",
        "--gps-start",
        str(SPAN["gps_start"]),
        "--gps-end",
        str(SPAN["gps_end"]),
        "--output-dir",
        str(blocker / "out"),
        env=service_environ(tmp_path),
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"cannot start: cannot log to {blocker / 'out' / 'logs'}" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_training_takes_the_trainers_values():
    """Each is a reference to [trainer] (one home), resolved to its value
    and type; the training components get them."""
    scripts = read_tables(checks.PYPROJECT)[1]
    section = scripts["trainer"]
    settings = load_settings(**SPAN, model_source="train", version=0)
    for key in TRAINER_KEYS:
        assert getattr(settings, key) == section[key], key
    training = settings.training_config()
    assert training.train.lr == section["lr"]
    assert training.train.kernel_length == section["kernel_length"]
    assert training.checks.min_coherence == section["min_coherence"]
    raw = scripts["reprocess"]
    # its own: a worker is one core, whatever the live trainer takes
    assert training.num_threads == raw["num_threads"] == 1
    assert {k: raw[k] for k in TRAINER_KEYS} == {
        k: f"${{trainer.{k}}}" for k in TRAINER_KEYS
    }


def test_train_as_you_go_needs_no_version():
    settings = load_settings(**SPAN, model_source="train", version=0)
    assert (settings.model_source, settings.version) == ("train", 0)
