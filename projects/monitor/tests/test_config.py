"""The monitor's settings: every value has one home (the root
``pyproject.toml``), every profile parses, ``monitor --help`` documents
every setting, and a bad value fails at start-up naming the setting."""

from pathlib import Path

import pytest
from monitor_helpers import ENVIRON
from monitor_helpers import PYPROJECT
from monitor_helpers import TOKEN
from monitor_helpers import load_settings

from monitor.archive import ArchiveConfig
from monitor.carousel import CarouselConfig
from monitor.config import LoopConfig
from monitor.config import MonitorSettings
from monitor.health import HealthConfig
from monitor.promotion import PromotionConfig
from monitor.status import StatusConfig
from monitor.validation import ValidationConfig
from utils import settings_checks as checks
from utils.errors import ConfigError
from utils.testing import run_script
from utils.testing import service_environ

# each sub-config -> its values with no key in [monitor], whose one home
# is the component (fields named otherwise than their setting, interval <-
# status_interval, which the audit cannot match, are held here)
COMPONENTS = {
    LoopConfig: {"max_frames_per_tick"},
    ValidationConfig: set(),
    PromotionConfig: set(),
    CarouselConfig: {"headroom", "stale_temp_length"},
    ArchiveConfig: set(),
    StatusConfig: {"plot_low", "plot_high", "range_fmin"},
    HealthConfig: set(),
}


class TestSettings(checks.SettingsContract):
    settings = MonitorSettings
    prog = "monitor"
    components = COMPONENTS
    probe = ("window_length", 100)  # a default the audit must see
    sections = {"monitor", "monitor-production"}
    override = ("window_length", "50", 50)
    environ = ENVIRON

    def check_profile(self, section, settings):
        assert settings.ifo == "L1"
        assert settings.archive_dir == Path(ENVIRON["ARCHIVE_DIR"])
        config = settings.monitor_config(TOKEN)
        assert config.validation.sample_rate == 4096  # the output frames'
        spool = config.carousel.spool_dir
        assert spool.parent == settings.project_dir / "archive"


def test_a_profile_changes_only_what_it_lists():
    default, production = load_settings(), load_settings("monitor-production")
    changed = checks.changed_settings(default, production)
    assert set(changed) == {"status_interval"}
    assert (default.status_interval, production.status_interval) == (30, 15)


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
        ("--max-spool-length", "999", "max_spool_length"),  # < archive_length
        ("--status-interval", "0", "status_interval"),
        ("--status-port", "70000", "status_port"),
        ("--psd-length", "2", "psd_length"),
        ("--history-length", "10", "history_length"),
        ("--health-frame-age", "0", "health_frame_age"),
        ("--health-gate-open-min", "1.5", "health_gate_open_min"),
        ("--health-timeout", "59", "health_timeout"),  # < 2 x 30 s
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
    env = service_environ(
        tmp_path,
        ARCHIVE_DIR=str(tmp_path / "archive"),
        DEEPCLEAN_API_TOKEN=token,
    )
    argv = ["--typeo", f"{PYPROJECT}:monitor", *args]
    return run_script("monitor", *argv, env=env)


def test_help_shows_the_docstring_of_a_setting():
    text = checks.help_text("monitor")
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
