"""utils.config: sections, profiles laid over them, references, overrides.

The settings class here is a small stand-in for a service's (a real one
is parsed by each service's own tests); the TOML is written to tmp_path.
"""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List

import pytest

from utils.config import audit
from utils.config import parse_settings
from utils.config import read_tables
from utils.config import section_values
from utils.config import value_of
from utils.errors import ConfigError

CONFIG = """
[tool.typeo.base]
ifo = "${IFO}"
channels = ["${IFO}:A", "${IFO}:B"]
rate = 4096

[tool.typeo.scripts.svc]
ifo = "${base.ifo}"
channels = "${base.channels}"
rate = "${base.rate}"
folder = "/data/${IFO}/x"
threshold = 1.0
verbose = false

[tool.typeo.scripts.svc-production]
threshold = 2.5

[tool.typeo.scripts.svc-low-latency]
rate = 2048
"""


@dataclass(frozen=True)
class Settings:
    """A service.

    Args:
        ifo: interferometer.
        channels: channel names.
        rate: Hz.
        folder: a folder.
        threshold: a number.
        verbose: log more.
    """

    ifo: str
    channels: List[str]
    rate: int
    folder: Path
    threshold: float
    verbose: bool = False


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(CONFIG)
    return path


ENV = {"IFO": "H1"}


def test_references_keep_their_type(config) -> None:
    values = section_values(config, "svc", ENV)
    assert values["channels"] == ["H1:A", "H1:B"]
    assert values["rate"] == 4096 and values["folder"] == "/data/H1/x"


@pytest.mark.parametrize(
    "section, rate, threshold",
    [
        ("svc", 4096, 1.0),
        ("svc-production", 4096, 2.5),
        ("svc-low-latency", 2048, 1.0),
    ],
)
def test_a_profile_is_laid_over_its_section(
    config, section, rate, threshold
) -> None:
    s = parse_settings(
        Settings, "svc", ["--typeo", f"{config}:{section}"], ENV
    )
    assert (s.rate, s.threshold) == (rate, threshold)
    assert s.channels == ["H1:A", "H1:B"] and s.folder == Path("/data/H1/x")
    assert s.verbose is False


def test_flags_after_the_file_override_it(config) -> None:
    s = parse_settings(
        Settings,
        "svc",
        [
            "--typeo",
            f"{config}:svc",
            "--rate",
            "512",
            "--verbose",
            "--channels",
            "H1:C",
        ],
        ENV,
    )
    assert s.rate == 512 and s.verbose and s.channels == ["H1:C"]


def test_unknown_key_is_refused_by_name(config) -> None:
    config.write_text(CONFIG + "\n[tool.typeo.scripts.bad]\nrat = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'rat'"):
        parse_settings(Settings, "svc", ["--typeo", f"{config}:bad"], ENV)


def test_missing_environment_variable_is_named(config) -> None:
    with pytest.raises(
        ConfigError, match="svc.ifo: environment variable IFO is not set"
    ):
        section_values(config, "svc", {})


def test_a_profile_without_a_section_is_its_base_section(config) -> None:
    s = parse_settings(Settings, "svc", ["--typeo", f"{config}:svc-gpu"], ENV)
    assert (s.rate, s.threshold) == (4096, 1.0)


def test_missing_section_is_named(config) -> None:
    with pytest.raises(ConfigError, match=r"scripts\.nope\]"):
        section_values(config, "nope", ENV)


@dataclass(frozen=True)
class Component:
    rate: int
    threshold: float = 1.0  # a second home of [svc] threshold


def test_audit_finds_every_second_home(config) -> None:
    config.write_text(
        CONFIG + "\n[tool.typeo.scripts.svc-gpu]\n"
        "threshold = 1.0\nrate = 8192\n"
    )

    @dataclass(frozen=True)
    class Defaults(Settings):
        extra: int = 3

    problems = audit(Defaults, config, "svc", (Component,))
    assert "Defaults.extra has a default in code (3)" in problems
    assert "[svc] lacks extra" in problems
    assert "[svc-gpu] repeats threshold = 1.0" in problems
    assert (
        "Component.threshold has a default in code; its home is [svc]"
        in problems
    )
    assert not [p for p in problems if "rate" in p]
    config.write_text(CONFIG)
    assert audit(Settings, config, "svc") == []


PER_IFO = """
[tool.typeo.base]
channels = "${base.channels_${IFO}}"
channels_L1 = ["${IFO}:A", "${IFO}:B"]
channels_H1 = ["${base.channels_L1}", "${IFO}:C"]

[tool.typeo.scripts.svc]
channels = "${base.channels}"
"""


@pytest.mark.parametrize(
    "ifo, channels",
    [("L1", ["L1:A", "L1:B"]), ("H1", ["H1:A", "H1:B", "H1:C"])],
)
def test_an_environment_reference_inside_a_base_name(
    tmp_path, ifo, channels
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PER_IFO)
    values = section_values(path, "svc", {"IFO": ifo})
    assert values["channels"] == channels


def test_a_variable_without_its_base_key_is_refused_naming_it(
    tmp_path,
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PER_IFO)
    with pytest.raises(
        ConfigError,
        match=r"svc.channels: IFO='V1' is not supported: .*'channels_V1' "
        r"\(known IFO: H1, L1\)",
    ):
        section_values(path, "svc", {"IFO": "V1"})


CROSS = """
[tool.typeo.base]
rate = 4096

[tool.typeo.scripts.svc]
rate = "${base.rate}"
lr = 0.001
device = "cpu"

[tool.typeo.scripts.svc-production]
device = "cuda"

[tool.typeo.scripts.other]
rate = "${svc.rate}"
lr = "${svc.lr}"
device = "${svc.device}"
folder = "/runs/${svc.device}"
"""


def test_a_key_of_another_section_is_that_sections_value(tmp_path) -> None:
    """Its type is kept, its own references resolved; the section's own
    value, never a profile's."""
    path = tmp_path / "pyproject.toml"
    path.write_text(CROSS)
    values = section_values(path, "other", {})
    assert values == {
        "rate": 4096,
        "lr": 0.001,
        "device": "cpu",
        "folder": "/runs/cpu",
    }


@pytest.mark.parametrize(
    "value, message",
    [
        ('"${svc.nope}"', r"other.lr: no key 'nope' in .*scripts\.svc\]"),
        ('"${gone.lr}"', r"no key 'lr' in .*scripts\.gone\]"),
        ('"${other.lr}"', "section references in a loop"),
    ],
)
def test_a_bad_section_reference_is_refused_naming_it(
    tmp_path, value, message
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(CROSS.replace('"${svc.lr}"', value))
    with pytest.raises(ConfigError, match=message):
        section_values(path, "other", {})


ROOT = Path(__file__).resolve().parents[3]
CONFIG_GET = ROOT / "scripts" / "config_get.py"
RUN_ENV = {
    "IFO": "L1",
    "PROJECT_DIR": "/p",
    "DATA_DIR": "/d",
    "ARCHIVE_DIR": "/a",
}


def test_one_value_is_read_as_the_services_read_it(config) -> None:
    assert value_of(config, "base.channels", ENV) == ["H1:A", "H1:B"]
    assert value_of(config, "svc-production.threshold", ENV) == 2.5
    assert value_of(config, "svc-production.rate", ENV) == 4096
    assert value_of(config, "svc-high.folder", ENV) == "/data/H1/x"
    with pytest.raises(ConfigError, match="no key 'nope' in \\[svc\\]"):
        value_of(config, "svc.nope", ENV)
    # only the key's own references: another key's unset variable
    # (folder's ${IFO}) does not stop it, and is named when asked for
    assert value_of(config, "svc.threshold", {}) == 1.0
    with pytest.raises(ConfigError, match="IFO"):
        value_of(config, "svc.folder", {})


def config_get(path: Path, keys: list[str]) -> list[str]:
    """run.sh's ``cfg``: the interpreter it runs (``$PYTHON`` or the
    ``python3`` on its PATH), the standard library only."""
    done = subprocess.run(
        [os.environ.get("PYTHON", "python3"), "-S", str(CONFIG_GET)]
        + [str(path), *keys],
        env={**RUN_ENV, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def printed(value: object) -> str:
    """A value as config_get prints it (a list: its items, spaced)."""
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def test_run_sh_reads_every_section_as_the_services_do() -> None:
    """scripts/config_get.py (run.sh's reader) prints every key of every
    section of the project's file as its service reads it, profiles and
    references included, and for a profile a service has no section of
    (run.sh asks ``exporter-low-latency``) its base section's values."""
    path = ROOT / "pyproject.toml"
    _, scripts = read_tables(path)
    profiles = {s.partition("-")[2] for s in scripts} - {""}
    services = {s for s in scripts if "-" not in s}
    every = {f"{s}-{p}" for s in services for p in profiles}
    for section in sorted(set(scripts) | every):
        base = section.partition("-")[0]
        values = section_values(path, section, RUN_ENV)
        if section not in scripts:
            assert values == section_values(path, base, RUN_ENV), section
        keys = [f"{section}.{key}" for key in values]
        lines = config_get(path, keys)
        assert lines == [printed(v) for v in values.values()], section


def test_run_sh_reads_the_base_values_the_services_reference() -> None:
    """Each ``base.<name>`` run.sh reads equals the value of a service key
    that is the reference ``${base.<name>}`` (resolved on the section's
    path, not the base one), and every other base value is printed."""
    path = ROOT / "pyproject.toml"
    base, scripts = read_tables(path)
    expected = {}
    for section, raw in scripts.items():
        for key, value in raw.items():
            if isinstance(value, str) and value.startswith("${base."):
                name = value.removeprefix("${base.").removesuffix("}")
                if name in base:
                    resolved = section_values(path, section, RUN_ENV)[key]
                    expected.setdefault(name, printed(resolved))
    assert {"witness_channels", "exporter_url"} <= set(expected)
    names = [n for n in base if n not in expected]
    lines = config_get(path, [f"base.{n}" for n in [*expected, *names]])
    assert lines[: len(expected)] == list(expected.values())
    assert len(lines) == len(expected) + len(names)
    assert all(lines), dict(zip([*expected, *names], lines, strict=True))
