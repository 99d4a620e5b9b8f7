"""The monitor's settings: every value has one home (the root
``pyproject.toml``), every profile parses, ``monitor --help`` documents
every setting, and a bad value fails at start-up naming the setting."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from monitor_helpers import ENVIRON, PYPROJECT, TOKEN, load_settings

from monitor.archive import ArchiveConfig
from monitor.carousel import CarouselConfig
from monitor.config import LoopConfig, MonitorSettings
from monitor.promotion import PromotionConfig
from monitor.status import StatusConfig
from monitor.validation import ValidationConfig
from utils.config import audit, read_tables
from utils.errors import ConfigError

MONITOR = Path(sys.executable).with_name("monitor")
COMPONENTS = (
    LoopConfig,
    ValidationConfig,
    PromotionConfig,
    CarouselConfig,
    ArchiveConfig,
    StatusConfig,
)
# values with no key in [monitor]: their one home is the component
CODE_ONLY = {
    LoopConfig: {"max_frames_per_tick"},
    CarouselConfig: {"headroom", "stale_temp_length"},
    StatusConfig: {"plot_low", "plot_high", "range_fmin"},
}
PROFILES = sorted(
    name
    for name in read_tables(PYPROJECT)[1]
    if name == "monitor" or name.startswith("monitor-")
)


def defaults(cls: type) -> set[str]:
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING
        or f.default_factory is not dataclasses.MISSING
    }


def test_every_value_has_one_home():
    assert audit(MonitorSettings, PYPROJECT, "monitor", COMPONENTS) == []
    # the audit matches names; sub-config fields named otherwise than
    # their setting (interval <- status_interval) are held here
    for cls in COMPONENTS:
        assert defaults(cls) == CODE_ONLY.get(cls, set()), cls.__name__


def test_the_audit_sees_a_default_added_back():
    probe = dataclasses.make_dataclass(
        "Probe", [("window_length", int, dataclasses.field(default=100))]
    )
    assert audit(MonitorSettings, PYPROJECT, "monitor", (probe,)) == [
        "Probe.window_length has a default in code; its home is [monitor]"
    ]


def test_there_are_profiles():
    assert {"monitor", "monitor-production"} <= set(PROFILES)


@pytest.mark.parametrize("section", PROFILES)
def test_every_profile_parses(section):
    settings = load_settings(section)
    assert settings.ifo == "L1"
    assert settings.project_dir == Path(ENVIRON["PROJECT_DIR"])
    assert settings.archive_dir == Path(ENVIRON["ARCHIVE_DIR"])
    config = settings.monitor_config(TOKEN)
    assert config.validation.sample_rate == 4096  # the output frames'
    assert config.carousel.spool_dir.parent == settings.project_dir / "archive"


def test_a_profile_changes_only_what_it_lists():
    default, production = load_settings(), load_settings("monitor-production")
    changed = {
        f.name
        for f in dataclasses.fields(MonitorSettings)
        if getattr(production, f.name) != getattr(default, f.name)
    }
    assert changed == {"status_interval"}
    assert (default.status_interval, production.status_interval) == (30, 15)


def test_later_flags_override_the_file():
    settings = load_settings("monitor-production", "--window-length", "50")
    assert settings.window_length == 50
    assert settings.validation_config().window_length == 50
    assert settings.status_interval == 15


@pytest.mark.parametrize(
    "flag, value, setting",
    [
        ("--ifo", "L", "ifo"),
        ("--exporter-url", "127.0.0.1:5000", "exporter_url"),
        ("--freq-low", "63", "freq_low"),
        ("--freq-high", "2048", "freq_high"),
        ("--fftlength", "0.0001", "fftlength"),
        ("--overlap", "2", "overlap"),
        ("--window-length", "1", "window_length"),
        ("--ratio-threshold", "0", "ratio_threshold"),
        ("--max-frames", "1", "max_frames"),
        ("--archive-length", "0", "archive_length"),
        ("--missing-timeout", "0", "missing_timeout"),
        ("--poll-interval", "11", "poll_interval"),
        ("--promotion-timeout", "0", "promotion_timeout"),
        (
            "--promotion-retry-min-interval",
            "60",
            "promotion_retry_min_interval",
        ),
        ("--archive-retry-interval", "0", "archive_retry_interval"),
        ("--max-spool-length", "299", "max_spool_length"),
        ("--status-interval", "0", "status_interval"),
        ("--status-port", "70000", "status_port"),
        ("--psd-length", "2", "psd_length"),
        ("--history-length", "10", "history_length"),
        ("--metrics-port", "-1", "metrics_port"),
    ],
)
def test_a_bad_value_names_its_setting(flag, value, setting):
    with pytest.raises(ConfigError, match=f"^{setting}"):
        load_settings("monitor", flag, value)


def test_the_archive_needs_a_folder():
    with pytest.raises(ConfigError, match="^archive_dir=.*ARCHIVE_DIR"):
        load_settings("monitor", "--archive-dir", "")


def test_promotion_needs_the_api_token():
    with pytest.raises(ConfigError, match="DEEPCLEAN_API_TOKEN"):
        load_settings().monitor_config("")


def run_monitor(tmp_path: Path, *args: str, token: str = TOKEN):
    env = dict(
        os.environ,
        IFO="L1",
        PROJECT_DIR=str(tmp_path / "project"),
        DATA_DIR=str(tmp_path / "data"),
        ARCHIVE_DIR=str(tmp_path / "archive"),
        DEEPCLEAN_API_TOKEN=token,
    )
    return subprocess.run(
        [str(MONITOR), "--typeo", f"{PYPROJECT}:monitor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_documents_every_setting(tmp_path):
    done = run_monitor(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for field in dataclasses.fields(MonitorSettings):
        flag = "--" + field.name.replace("_", "-")
        assert flag in text, flag
    assert "Seconds between status page renders." in text
    assert "Longest wait between promotion attempts, s." in text


def test_start_up_fails_fast_on_a_bad_setting(tmp_path):
    done = run_monitor(tmp_path, "--max-frames", "1")
    assert done.returncode == 2
    assert "max_frames=1" in done.stderr


def test_start_up_fails_fast_without_a_token(tmp_path):
    done = run_monitor(tmp_path, token="")
    assert done.returncode == 2
    log = (tmp_path / "project" / "logs" / "monitor.log").read_text()
    assert "DEEPCLEAN_API_TOKEN" in log
