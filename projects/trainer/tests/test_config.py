"""The trainer's settings: every value has one home (the root
``pyproject.toml``), every profile parses, bad values fail at start-up with
a message naming the setting, and ``trainer --help`` documents them all."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ENVIRON, PYPROJECT, load_settings
from trainer.collector import CollectConfig
from trainer.config import TrainerSettings
from trainer.notifier import ExportConfig
from trainer.service import ScheduleConfig
from trainer.worker import RunConfig
from utils.config import audit, read_tables
from utils.errors import ConfigError
from utils.nn.datacheck import CheckConfig
from utils.nn.train import TrainConfig

TRAINER = Path(sys.executable).with_name("trainer")
COMPONENTS = (
    TrainConfig,
    CheckConfig,
    CollectConfig,
    ScheduleConfig,
    RunConfig,
    ExportConfig,
)
# values with no key in [trainer]: their one home is the component
CODE_ONLY = {
    TrainConfig: {"fftlength", "overlap", "channels", "seed"},
    CheckConfig: {"fftlength", "min_duration", "false_alarm"},
    RunConfig: {"verify_length"},
    ExportConfig: {"backoff", "max_backoff"},
}
PROFILES = sorted(
    name
    for name in read_tables(PYPROJECT)[1]
    if name == "trainer" or name.startswith("trainer-")
)
SETTINGS = load_settings()


def defaults(cls: type) -> set[str]:
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING
        or f.default_factory is not dataclasses.MISSING
    }


def test_every_value_has_one_home():
    assert audit(TrainerSettings, PYPROJECT, "trainer", COMPONENTS) == []
    # the audit matches names; sub-config fields named otherwise than
    # their setting (ExportConfig.timeout <- export_timeout) are held here
    for cls in COMPONENTS:
        assert defaults(cls) == CODE_ONLY.get(cls, set()), cls.__name__


def test_the_audit_sees_a_default_added_back():
    probe = dataclasses.make_dataclass(
        "Probe", [("train_duration", int, dataclasses.field(default=4096))]
    )
    assert audit(TrainerSettings, PYPROJECT, "trainer", (probe,)) == [
        "Probe.train_duration has a default in code; its home is [trainer]"
    ]


def test_there_are_profiles():
    assert {"trainer", "trainer-production"} <= set(PROFILES)


@pytest.mark.parametrize("section", PROFILES)
def test_every_profile_parses(section):
    settings = load_settings(section)
    assert settings.ifo == "L1" and settings.metrics_port == 9101
    assert settings.project_dir == Path(ENVIRON["PROJECT_DIR"])
    assert settings.strain_channel == "L1:GDS-CALIB_STRAIN"
    assert all(c.startswith("L1:") for c in settings.witness_channels)
    train, checks = settings.train_config(), settings.check_config()
    rates = {
        train.sample_rate,
        checks.sample_rate,
        settings.schedule_config().sample_rate,
        settings.collect_config().sample_rate,
    }
    assert rates == {settings.sample_rate}
    assert train.lr == settings.lr and checks.min_coherence == 0.2
    export = settings.export_config("token")
    assert export.timeout == settings.export_timeout > 0


def test_the_cpu_default_trains_within_its_cadence():
    assert SETTINGS.device == "cpu" and SETTINGS.num_threads == 1
    assert SETTINGS.retrain_cadence >= SETTINGS.train_duration / 2


def test_production_changes_only_what_it_lists():
    """The GPU deployment (docs/architecture.md, "Production
    configuration")."""
    production = load_settings("trainer-production")
    changed = {
        f.name: getattr(production, f.name)
        for f in dataclasses.fields(TrainerSettings)
        if getattr(production, f.name) != getattr(SETTINGS, f.name)
    }
    assert changed == {
        "train_duration": 4096,
        "retrain_cadence": 2048,
        "kernel_length": 8.0,
        "kernel_stride": 0.0625,
        "batch_size": 256,
        "max_epochs": 50,
        "patience": 5,
        "min_improvement": 0.0,
        "device": "cuda",
        "num_threads": 4,
    }
    train = production.train_config()
    assert (train.lr, train.fine_tune_decay, train.weight_decay) == (
        1e-3,
        0.1,
        1e-5,
    )


def test_later_flags_override_the_file():
    settings = load_settings("trainer-production", "--max-epochs", "7")
    assert settings.max_epochs == 7 and settings.train_config().max_epochs == 7
    assert settings.batch_size == 256


@pytest.mark.parametrize(
    "flag, value, setting",
    [
        ("--strain-channel", "H1:GDS-CALIB_STRAIN", "strain_channel"),
        ("--freq-high", "40", "freq_low"),
        ("--freq-high", "3000", "freq_high"),
        ("--frame-timeout", "0", "frame_timeout"),
        ("--start-timeout", "-1", "start_timeout"),
        ("--exporter-url", "127.0.0.1:5000", "exporter_url"),
        ("--export-timeout", "0", "export_timeout"),
        ("--train-duration", "8", "valid_fraction"),
        ("--min-coherence", "1.5", "min_coherence"),
        ("--device", "gpu", "device"),
        ("--num-threads", "0", "num_threads"),
        ("--niceness", "20", "niceness"),
        ("--metrics-port", "70000", "metrics_port"),
    ],
)
def test_a_bad_value_names_its_setting(flag, value, setting):
    with pytest.raises(ConfigError, match=f"^{setting}="):
        load_settings("trainer", flag, value)


def test_a_bad_training_value_names_its_setting():
    with pytest.raises(ConfigError, match="kernel_length 1.001 s"):
        load_settings("trainer", "--kernel-length", "1.001")
    with pytest.raises(ConfigError, match="max_epochs"):
        SETTINGS.overridden(["max_epochs=many"])
    with pytest.raises(ConfigError, match="witness_channels"):
        SETTINGS.overridden(["witness_channels=L1:X"])


def test_an_unknown_key_is_refused(tmp_path):
    text = PYPROJECT.read_text().replace(
        "[tool.typeo.scripts.trainer]\n",
        "[tool.typeo.scripts.trainer]\nepochs = 3\n",
    )
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="'epochs'"):
        load_settings("trainer", path=path)


def test_help_documents_every_setting():
    done = subprocess.run(
        [str(TRAINER), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for field in dataclasses.fields(TrainerSettings):
        flag = "--" + field.name.replace("_", "-")
        assert flag in text, flag
    doc = TrainerSettings.__doc__
    for field in dataclasses.fields(TrainerSettings):
        assert f"\n        {field.name}:\n" in doc, field.name
