"""The exporter's settings: every value has one home (the root
``pyproject.toml``), every profile parses and fits the cleaner's window,
bad values and broken contracts fail at start-up naming the setting."""

import dataclasses

import pytest
from exporter_settings import ENVIRON
from exporter_settings import PYPROJECT
from exporter_settings import SETTINGS
from exporter_settings import load_settings

from exporter.config import ExporterSettings
from exporter.config import cleaner_settings
from exporter.export_process import ExportConfig
from exporter.layout import ServingConfig
from exporter.repository import RepositoryConfig
from exporter.server import ServerConfig
from exporter.service import AppConfig
from exporter.triton import TritonConfig
from utils import settings_checks as checks
from utils.errors import ConfigError
from utils.testing import run_script
from utils.testing import service_environ

# each sub-config -> its values with no key in [exporter], whose one home
# is the component (fields named otherwise than their setting, timeout <-
# export_timeout, url <- triton_url, which the audit cannot match, are
# held here; witness_channels comes from the cleaner's section)
COMPONENTS = {
    ExportConfig: {
        "opset",
        "trt_opt_size",
        "trt_max_size",
        "witness_channels",
    },
    ServingConfig: set(),
    TritonConfig: {"request_timeout"},
    RepositoryConfig: {"lock_timeout"},
    ServerConfig: set(),
    AppConfig: {"max_queued_jobs", "openapi_path"},
}


class TestSettings(checks.SettingsContract):
    settings = ExporterSettings
    prog = "exporter"
    components = COMPONENTS
    probe = ("max_versions", 10)  # a default the audit must see
    sections = {"exporter", "exporter-production"}
    override = ("max_versions", "4", 4)

    def library_configs(self, settings):
        return [settings.inference_scheme()]

    def check_profile(self, section, settings):
        """Each profile serves its own scheme and fits its cleaner."""
        assert settings.model_repo == settings.project_dir / "model_repo"
        config = settings.app_config("a-token-of-some-length")
        assert config.serving.scheme == settings.inference_scheme()
        assert config.serving.scheme.sample_rate == settings.sample_rate
        assert config.export.timeout == settings.export_timeout
        argv = ["--typeo", f"{PYPROJECT}:{section}"]
        name, cleaner = cleaner_settings(argv, ENVIRON)
        assert name == section.replace("exporter", "cleaner")
        settings.check_window(cleaner)
        # the witnesses every exported run must take, in the cleaner's order
        witnesses = cleaner["witness_channels"]
        assert len(witnesses) > 1
        assert all(w.startswith("L1:") for w in witnesses)


def test_production_serves_the_seed_scheme_on_tensorrt():
    production = load_settings("exporter-production")
    assert (production.backend, production.scheme) == ("tensorrt", "kernels")
    # the kernels of one call fit the TensorRT profile
    assert production.inference_batch_size <= production.trt_max_batch_size


@pytest.mark.parametrize(
    "flags, setting",
    [
        (["--export-timeout", "0"], "export_timeout"),
        (["--triton-url", "http://127.0.0.1:8000"], "triton_url"),
        (["--metrics-port", "70000"], "metrics_port"),
        (["--max-versions", "1"], "max_versions"),
        (
            ["--scheme", "kernels", "--inference-sampling-rate", "500"],
            "inference_sampling_rate",
        ),
        (
            ["--scheme", "kernels", "--aggregation-length", "2"],
            "aggregation_length",
        ),
        (
            [
                "--backend",
                "tensorrt",
                "--scheme",
                "kernels",
                "--trt-max-batch-size",
                "64",
            ],
            "trt_max_batch_size",
        ),
        (["--threads", "0"], "threads"),
        (["--max-content-length", "0"], "max_content_length"),
    ],
)
def test_a_bad_value_fails_naming_the_setting(flags, setting):
    pattern = f"^(exporter settings: )?{setting}="
    with pytest.raises(ConfigError, match=pattern):
        load_settings("exporter", *flags)


def test_a_window_that_does_not_fit_fails_naming_the_settings():
    kernels = dataclasses.replace(SETTINGS, scheme="kernels")
    window = {
        "inference_window_length": 2.0,
        "prediction_edge_length": 0.25,
        "sample_rate": 4096,
    }
    with pytest.raises(ConfigError, match="prediction_edge_length=0.25"):
        kernels.check_window(window)


def test_a_short_token_is_refused_without_showing_it():
    with pytest.raises(ConfigError, match="DEEPCLEAN_API_TOKEN") as caught:
        SETTINGS.app_config("seven!!")
    assert "seven" not in str(caught.value)


def test_entry_point_refuses_a_cleaner_window_that_does_not_fit(tmp_path):
    text = PYPROJECT.read_text().replace(
        'scheme = "window"', 'scheme = "kernels"', 1
    )
    config = tmp_path / "pyproject.toml"
    config.write_text(text)
    env = service_environ(
        tmp_path, DEEPCLEAN_API_TOKEN="a-token-of-some-length"
    )
    argv = ["--typeo", f"{config}:exporter"]
    done = run_script("exporter", *argv, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "prediction_edge_length" in done.stdout
    assert "scheme='kernels'" in done.stdout
