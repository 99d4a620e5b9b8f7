"""The exporter's settings: every value has one home (the root
``pyproject.toml``), every profile parses and fits the cleaner's window,
bad values and broken contracts fail at start-up naming the setting."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from exporter_settings import ENVIRON, PYPROJECT, SETTINGS, load_settings

from exporter.config import ExporterSettings, cleaner_window
from exporter.export_process import ExportConfig
from exporter.layout import ServingConfig
from exporter.repository import RepositoryConfig
from exporter.server import ServerConfig
from exporter.service import AppConfig
from exporter.triton import TritonConfig
from utils.config import audit, read_tables
from utils.errors import ConfigError

EXPORTER = Path(sys.executable).with_name("exporter")
COMPONENTS = (
    ExportConfig,
    ServingConfig,
    TritonConfig,
    RepositoryConfig,
    ServerConfig,
    AppConfig,
)
# values with no key in [exporter]: their one home is the component
CODE_ONLY = {
    ExportConfig: {"opset", "trt_opt_size", "trt_max_size", "trt_fp16"},
    TritonConfig: {"request_timeout"},
    RepositoryConfig: {"lock_timeout"},
    AppConfig: {"max_queued_jobs", "openapi_path"},
}
PROFILES = sorted(
    name
    for name in read_tables(PYPROJECT)[1]
    if name == "exporter" or name.startswith("exporter-")
)


def defaults(cls: type) -> set[str]:
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING
        or f.default_factory is not dataclasses.MISSING
    }


def test_every_value_has_one_home():
    assert audit(ExporterSettings, PYPROJECT, "exporter", COMPONENTS) == []
    # the audit matches names; sub-config fields named otherwise than
    # their setting (timeout <- export_timeout, url <- triton_url) are
    # held here
    for cls in COMPONENTS:
        assert defaults(cls) == CODE_ONLY.get(cls, set()), cls.__name__


def test_the_audit_sees_a_default_added_back():
    probe = dataclasses.make_dataclass(
        "Probe", [("max_versions", int, dataclasses.field(default=10))]
    )
    assert audit(ExporterSettings, PYPROJECT, "exporter", (probe,)) == [
        "Probe.max_versions has a default in code; its home is [exporter]"
    ]


@pytest.mark.parametrize("section", PROFILES)
def test_every_profile_parses_and_fits_its_cleaner(section):
    assert {"exporter", "exporter-production"} <= set(PROFILES)
    settings = load_settings(section)
    assert settings.project_dir == Path(ENVIRON["PROJECT_DIR"])
    assert settings.model_repo == settings.project_dir / "model_repo"
    config = settings.app_config("a-token-of-some-length")
    assert config.serving.scheme == settings.inference_scheme()
    assert config.serving.scheme.sample_rate == settings.sample_rate
    assert config.export.timeout == settings.export_timeout
    argv = ["--typeo", f"{PYPROJECT}:{section}"]
    name, window = cleaner_window(argv, ENVIRON)
    assert name == section.replace("exporter", "cleaner")
    settings.check_window(window)


def test_production_serves_the_seed_scheme_on_tensorrt():
    production = load_settings("exporter-production")
    assert (production.backend, production.scheme) == ("tensorrt", "kernels")
    # a second of kernels per call fits the TensorRT profile
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
    with pytest.raises(ConfigError, match="api_token='<hidden>'") as caught:
        SETTINGS.app_config("seven!!")
    assert "seven" not in str(caught.value)


def test_help_documents_every_setting():
    done = subprocess.run(
        [str(EXPORTER), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for field in dataclasses.fields(ExporterSettings):
        flag = "--" + field.name.replace("_", "-")
        assert flag in text
        help_of = text.split(flag, 2)[-1].split("--", 1)[0]
        assert "(default" in help_of and len(help_of) > 30, field.name


def test_entry_point_refuses_a_cleaner_window_that_does_not_fit(tmp_path):
    text = PYPROJECT.read_text().replace(
        'scheme = "window"', 'scheme = "kernels"', 1
    )
    config = tmp_path / "pyproject.toml"
    config.write_text(text)
    env = {
        **os.environ,
        **ENVIRON,
        "PROJECT_DIR": str(tmp_path),
        "DEEPCLEAN_API_TOKEN": "a-token-of-some-length",
    }
    done = subprocess.run(
        [str(EXPORTER), "--typeo", f"{config}:exporter"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "prediction_edge_length" in done.stdout
    assert "scheme='kernels'" in done.stdout
