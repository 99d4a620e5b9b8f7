"""The reprocessing's settings: every value has one home (the root
``pyproject.toml``), ``reprocess --help`` documents each, bad values fail
at start-up naming the setting."""

from __future__ import annotations

import pytest

from reprocess.cleaning import CleaningConfig
from reprocess.config import ReprocessSettings
from reprocess.engine import EngineConfig, JobConfig
from reprocess.sources import SourceConfig
from reprocess.task import TaskConfig
from utils import settings_checks as checks
from utils.errors import ConfigError
from utils.testing import run_script, service_environ

load_settings = checks.settings_loader(ReprocessSettings, "reprocess")
SPAN = {"gps_start": 1_400_000_000, "gps_end": 1_400_004_096}
# no sub-config keeps a value in code
COMPONENTS = {
    SourceConfig: set(),
    CleaningConfig: set(),
    EngineConfig: set(),
    JobConfig: set(),
    TaskConfig: set(),
}


class TestSettings(checks.SettingsContract):
    settings = ReprocessSettings
    prog = "reprocess"
    components = COMPONENTS
    probe = ("pad_length", 8)  # a default the audit must see
    sections = {"reprocess"}


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
        ({"filter_order": 7}, "filter_order"),
        ({"strain_rate": 6000}, "strain_rate"),
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
