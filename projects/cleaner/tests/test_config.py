"""The cleaner's settings: every value has one home (the root
``pyproject.toml``), every profile parses, bad values and broken contracts
with the exporter fail at start-up with a message naming the setting."""

import dataclasses
from pathlib import Path

import pytest
from configs import ENVIRON
from configs import PYPROJECT
from configs import SETTINGS
from configs import load_settings

from cleaner.cleaning import WindowConfig
from cleaner.client import ClientConfig
from cleaner.config import CleanerSettings
from cleaner.config import exporter_scheme
from cleaner.gate import GateConfig
from cleaner.postprocess import FilterConfig
from cleaner.writer import WriterConfig
from utils import settings_checks as checks
from utils.contracts import check_window_fits_scheme
from utils.errors import ConfigError
from utils.inference import Scheme
from utils.stream import PreprocessConfig
from utils.testing import run_script
from utils.testing import service_environ

# each sub-config -> its values with no key in [cleaner], whose one home
# is the component (fields named otherwise than their setting, hysteresis
# <- gate_hysteresis, which the audit cannot match, are held here)
COMPONENTS = {
    PreprocessConfig: set(),
    ClientConfig: set(),
    WindowConfig: set(),
    FilterConfig: {"extrapolation_fit_length", "extrapolation_length"},
    GateConfig: {"average", "bridge_order"},
    WriterConfig: set(),
}


class TestSettings(checks.SettingsContract):
    settings = CleanerSettings
    prog = "cleaner"
    components = COMPONENTS
    probe = ("freq_low", 58.0)  # a default the audit must see
    sections = {"cleaner", "cleaner-low-latency", "cleaner-production"}
    override = ("gate_threshold", "0.9", 0.9)

    def check_profile(self, section, settings):
        """Each profile's sub-configs share its rate; it fits its
        exporter's scheme."""
        assert settings.ifo == "L1"
        assert settings.strain_channel == "L1:GDS-CALIB_STRAIN"
        config = settings.cleaner_config()
        rates = {
            config.preprocess.sample_rate,
            config.window.sample_rate,
            config.filter.sample_rate,
            config.gate.sample_rate,
        }
        assert rates == {settings.sample_rate}
        argv = ["--typeo", f"{PYPROJECT}:{section}"]
        scheme = exporter_scheme(argv, ENVIRON)
        assert scheme is not None
        settings.check_scheme(scheme)


def test_a_profile_changes_only_what_it_lists():
    low = load_settings("cleaner-low-latency")
    assert set(checks.changed_settings(SETTINGS, low)) == {
        "drop_lookahead_length",
        "gate_lookahead_length",
    }


@pytest.mark.parametrize(
    "flag, value, setting",
    [
        ("--sample-rate", "2048", "sample_rate"),
        ("--freq-high", "40", "freq_low"),
        ("--freq-high", "3000", "freq_high"),
        ("--filter-order", "7", "filter_order"),
        ("--frame-timeout", "0", "frame_timeout"),
        ("--drop-lookahead-length", "2", "drop_lookahead_length"),
        ("--inference-timeout", "1.5", "inference_timeout"),
        ("--retry-min-length", "9", "retry_min_length"),
        ("--inference-window-length", "2.001", "inference_window_length"),
        ("--prediction-edge-length", "1.5", "prediction_edge_length"),
        ("--filter-pad-length", "0.0001", "filter_pad_length"),
        ("--gate-lookahead-length", "8", "gate_lookahead_length"),
        ("--gate-hysteresis", "-0.1", "gate_hysteresis"),
        ("--metrics-port", "70000", "metrics_port"),
        ("--strain-channel", "H1:GDS-CALIB_STRAIN", "strain_channel"),
    ],
)
def test_a_bad_value_names_its_setting(flag, value, setting):
    with pytest.raises(ConfigError, match=f"^{setting}="):
        load_settings("cleaner", flag, value)


def test_sample_rate_is_the_output_frames_rate():
    with pytest.raises(ConfigError, match="output frames"):
        dataclasses.replace(SETTINGS, sample_rate=2048)


def test_window_must_fit_the_exporters_scheme():
    kernels = Scheme(
        name="kernels",
        sample_rate=4096,
        kernel_length=1.0,
        inference_sampling_rate=512.0,
        aggregation_length=0.5,
    )
    check_window_fits_scheme(2.5, 0.5, 4096, kernels)  # cleaner-production
    check_window_fits_scheme(
        2.0, 0.25, 4096, Scheme(name="window", sample_rate=4096)
    )
    with pytest.raises(ConfigError, match="prediction_edge_length >= agg"):
        check_window_fits_scheme(2.5, 0.25, 4096, kernels)
    with pytest.raises(ConfigError, match="- 1 - prediction_edge_length >="):
        check_window_fits_scheme(2.0, 0.5, 4096, kernels)
    with pytest.raises(ConfigError, match="differs from the exporter's"):
        check_window_fits_scheme(
            2.0, 0.25, 4096, Scheme(name="window", sample_rate=2048)
        )
    with pytest.raises(ConfigError, match="inference_window_length=2.0"):
        SETTINGS.check_scheme(kernels)  # [cleaner] vs the seed's scheme


def test_an_exporter_section_without_a_key_of_the_scheme_is_refused(
    tmp_path,
):
    """A scheme key renamed in [exporter]: the window is not checked
    against the scheme's code defaults instead, it is refused, named."""
    config = tmp_path / "pyproject.toml"
    text = PYPROJECT.read_text()
    old = "aggregation_length = 0.5          # s"
    assert text.count(old) == 1
    config.write_text(text.replace(old, "aggregation = 0.5 # s"))
    with pytest.raises(ConfigError, match="has no aggregation_length"):
        exporter_scheme(["--typeo", f"{config}:cleaner"], ENVIRON)


def run_cleaner(tmp_path: Path, text: str, *flags: str):
    """The console script on a config file ``text``, with no raw frames:
    it must give up at once, not wait ``start_timeout``."""
    config = tmp_path / "pyproject.toml"
    config.write_text(text)
    argv = ["--typeo", f"{config}:cleaner", *flags]
    env = service_environ(tmp_path)
    return run_script("cleaner", *argv, env=env)


def test_start_up_fails_fast_on_a_window_that_misses_the_scheme(tmp_path):
    text = PYPROJECT.read_text()
    section = "[tool.typeo.scripts.exporter]\n"
    assert text.count(section) == 1
    text = text.replace(section, section + 'scheme = "kernels"\n')
    text = text.replace('scheme = "window"', "")
    done = run_cleaner(tmp_path, text)
    assert done.returncode == 2, done.stdout + done.stderr
    log = (tmp_path / "project" / "logs" / "cleaner.log").read_text()
    assert "cannot start" in log
    assert "inference_window_length=2.0 and prediction_edge_length=0.25" in log
    assert "scheme='kernels'" in log


def test_start_up_fails_fast_on_a_bad_setting(tmp_path):
    text = PYPROJECT.read_text()
    done = run_cleaner(tmp_path, text, "--sample-rate", "2048")
    assert done.returncode == 2
    assert "sample_rate=2048" in done.stderr


def test_no_raw_frames_at_start_is_an_outage_not_bad_settings(tmp_path):
    """No raw frame within start_timeout: exit 1, which the supervisor
    restarts (exit 2, cannot start, is final: the input's outage must not
    stop the cleaner for good)."""
    text = PYPROJECT.read_text()
    done = run_cleaner(tmp_path, text, "--start-timeout", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    log = (tmp_path / "project" / "logs" / "cleaner.log").read_text()
    assert "no raw frames to start on" in log
