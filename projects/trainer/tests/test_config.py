"""The trainer's settings: every value has one home (the root
``pyproject.toml``), every profile parses, bad values fail at start-up with
a message naming the setting, and ``trainer --help`` documents them all."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import PYPROJECT
from conftest import load_settings
from trainer.collector import CollectConfig
from trainer.config import TrainerSettings
from trainer.notifier import ExportConfig
from trainer.service import ScheduleConfig
from trainer.worker import RunConfig
from utils import settings_checks as checks
from utils.errors import ConfigError
from utils.nn.datacheck import CheckConfig
from utils.nn.train import TrainConfig
from utils.stream import PreprocessConfig

# each sub-config -> its values with no key in [trainer], whose one home
# is the component (fields named otherwise than their setting,
# ExportConfig.timeout <- export_timeout, which the audit cannot match,
# are held here)
COMPONENTS = {
    TrainConfig: {"fftlength", "overlap", "channels", "seed"},
    CheckConfig: {"fftlength", "min_duration", "false_alarm"},
    CollectConfig: set(),
    ScheduleConfig: set(),
    PreprocessConfig: set(),
    RunConfig: {"verify_length"},
    ExportConfig: {"backoff", "max_backoff"},
}
SETTINGS = load_settings()


class TestSettings(checks.SettingsContract):
    settings = TrainerSettings
    prog = "trainer"
    components = COMPONENTS
    probe = ("train_duration", 4096)  # a default the audit must see
    sections = {"trainer", "trainer-production"}
    override = ("max_epochs", "7", 7)

    def check_profile(self, section, settings):
        assert settings.ifo == "L1" and settings.metrics_port == 9101
        assert settings.strain_channel == "L1:GDS-CALIB_STRAIN"
        assert all(c.startswith("L1:") for c in settings.witness_channels)
        train, data = settings.train_config(), settings.check_config()
        rates = {
            train.sample_rate,
            data.sample_rate,
            settings.preprocess_config().sample_rate,
            settings.collect_config().sample_rate,
        }
        assert rates == {settings.sample_rate}
        assert train.lr == settings.lr and data.min_coherence == 0.2
        export = settings.export_config("a-token-of-some-length")
        assert export.timeout == settings.export_timeout > 0


def test_the_cpu_default_trains_within_its_cadence():
    """On the 2-core machine: at most both cores, behind the cleaner (a
    positive niceness: its threads take only what the cleaner leaves)."""
    assert SETTINGS.device == "cpu" and 1 <= SETTINGS.num_threads <= 2
    assert SETTINGS.niceness > 0
    assert SETTINGS.retrain_cadence >= SETTINGS.train_duration / 2


def test_production_changes_only_what_it_lists():
    """The GPU deployment (docs/architecture.md, "Production
    configuration")."""
    production = load_settings("trainer-production")
    assert checks.changed_settings(SETTINGS, production) == {
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
        load_settings("trainer", "--max-epochs", "0")


def test_an_unknown_key_is_refused(tmp_path):
    text = PYPROJECT.read_text().replace(
        "[tool.typeo.scripts.trainer]\n",
        "[tool.typeo.scripts.trainer]\nepochs = 3\n",
    )
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="'epochs'"):
        load_settings("trainer", path=path)


def test_every_setting_has_its_own_docstring_entry():
    doc = TrainerSettings.__doc__
    for field in dataclasses.fields(TrainerSettings):
        assert f"\n        {field.name}:\n" in doc, field.name
