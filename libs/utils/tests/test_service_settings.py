"""A service's settings at start-up (``utils.startup``, the section of
another service that goes with its own) and in its tests
(``utils.settings_checks``): a small stand-in service, a real TOML file in
``tmp_path``, real logging. No ``from __future__ import annotations``:
typeo reads the real annotations."""

import dataclasses
import fcntl
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from utils import settings_checks as checks
from utils.config import companion_values
from utils.config import typeo_spec
from utils.errors import ConfigError
from utils.startup import CANNOT_START
from utils.startup import cannot_start
from utils.startup import configure_service
from utils.startup import hold_environment
from utils.testing import holding
from utils.testing import is_free
from utils.testing import restored_logging

CONFIG = """
[tool.typeo.scripts.svc]
log_dir = "{logs}"
rate = 4

[tool.typeo.scripts.svc-fast]
rate = 8

[tool.typeo.scripts.other]
window = 2.0

[tool.typeo.scripts.other-fast]
window = 1.0
"""


@dataclass(frozen=True)
class Settings:
    """A service.

    Args:
        log_dir: where its log goes.
        rate: a positive number.
        verbose: DEBUG.
    """

    log_dir: Path
    rate: int
    verbose: bool = False


@dataclass(frozen=True)
class Part:
    """A sub-config: ``rate`` is a setting, ``fixed`` lives here."""

    rate: int
    fixed: int = 3


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(CONFIG.format(logs=tmp_path / "logs"))
    return path


@pytest.fixture
def restore_logging():
    with restored_logging():
        yield


def test_typeo_spec_defaults_the_section_and_file():
    assert typeo_spec(["--x", "1"], "svc") is None
    assert typeo_spec(["--typeo", "a.toml:svc-fast"], "svc") == (
        Path("a.toml"),
        "svc-fast",
    )
    assert typeo_spec(["--typeo", "a.toml"], "svc") == (Path("a.toml"), "svc")
    assert typeo_spec(["--typeo"], "svc") == (Path("pyproject.toml"), "svc")


def test_the_companion_section_follows_the_profile(config: Path):
    argv = ["--typeo", f"{config}:svc-fast"]
    assert companion_values(argv, "svc", "other", ["window"]) == (
        config,
        "other-fast",
        {"window": 1.0},
    )
    argv = ["--typeo", f"{config}:svc-slow"]  # no other-slow: [other]
    assert companion_values(argv, "svc", "other", ["window"])[1:] == (
        "other",
        {"window": 2.0},
    )
    assert companion_values(argv, "svc", "absent", ["window"]) is None
    assert companion_values([], "svc", "other", ["window"]) is None
    with pytest.raises(ConfigError, match=r"\[other\] of .* has no rate"):
        companion_values(argv, "svc", "other", ["window", "rate"])


def test_configure_service_parses_then_logs(config, restore_logging):
    settings = configure_service(Settings, "svc", ["--typeo", f"{config}:svc"])
    assert settings.rate == 4
    logging.getLogger("svc").info("started")
    assert "started" in (settings.log_dir / "svc.log").read_text()


def test_bad_settings_are_said_on_stderr(config, capsys, restore_logging):
    argv = ["--typeo", f"{config}:nowhere"]
    assert configure_service(Settings, "svc", argv) is None
    err = capsys.readouterr().err
    assert err.startswith("svc: cannot start: no section")
    assert cannot_start("svc", ValueError("why")) == CANNOT_START == 2
    assert capsys.readouterr().err == "svc: cannot start: why\n"


def refuse(path, *args):
    raise PermissionError(13, "Permission denied", str(path))


def test_a_running_service_holds_its_environment(tmp_path: Path):
    """A process started by hand (as ``reprocess`` is) keeps build.sh from
    rebuilding its environment until it ends; the file beside the
    environment is build.sh's (``.venv/NAME.inuse``)."""
    inuse = tmp_path / "env.inuse"
    inuse.touch()
    code = (
        "import sys, time; from utils.startup import hold_environment; "
        f"print(hold_environment({str(tmp_path / 'env')!r}, 5), flush=True); "
        "time.sleep(60)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout.readline().strip() == str(inuse)
            assert not is_free(inuse)
        finally:
            proc.kill()
    assert is_free(inuse)


def test_a_rebuild_under_way_is_waited_for_then_refused(
    tmp_path: Path, config: Path, capsys, caplog, monkeypatch, restore_logging
):
    env, inuse = tmp_path / "env", tmp_path / "env.inuse"
    assert hold_environment(env, 5) is None  # not build.sh's: nothing to hold
    inuse.touch()
    # another user's file this one may not open (a stand-in: the tests may
    # run as root, whom permissions do not stop): said, and the service runs
    for name in ("open", "flock"):  # flock: a filesystem without locks
        with monkeypatch.context() as patch, caplog.at_level(logging.WARNING):
            patch.setattr(os if name == "open" else fcntl, name, refuse)
            assert hold_environment(env, 5) is None
        assert f"cannot hold {inuse}" in caplog.text
        caplog.clear()
    with holding(inuse):  # as build.sh holds it
        with pytest.raises(TimeoutError, match="finish rebuilding"):
            hold_environment(env, wait=0.3)
        monkeypatch.setattr(sys, "prefix", str(env))
        monkeypatch.setattr("utils.startup.REBUILD_WAIT", 0.3)
        argv = ["--typeo", f"{config}:svc"]
        assert configure_service(Settings, "svc", argv) is None
        assert "svc: cannot start: waited" in capsys.readouterr().err
    assert hold_environment(env, wait=5) == inuse  # the rebuild is over
    assert not is_free(inuse)


def test_loader_profiles_and_changes(config: Path, tmp_path: Path):
    load = checks.settings_loader(Settings, "svc", {})
    base = load(path=config)
    assert base == Settings(log_dir=tmp_path / "logs", rate=4)
    fast = load("svc-fast", "--verbose", path=config)
    assert checks.changed_settings(base, fast) == {"rate": 8, "verbose": True}
    assert load(path=config, rate=5).rate == 5
    assert checks.profiles("svc", config) == ["svc", "svc-fast"]


def test_home_problems_sees_defaults_not_listed(config: Path):
    def problems(components: dict, probe: tuple = ("rate", 1)) -> list:
        return checks.home_problems(Settings, "svc", components, probe, config)

    assert problems({Part: {"fixed"}}) == []
    assert problems({Part: set()}) == [
        "Part has defaults for ['fixed'], not []"
    ]
    assert problems({}, ("nothing", 1)) == [
        "the audit misses a default for nothing: []"
    ]


def test_help_problems_wants_every_flag_described():
    text = (
        "usage: svc [--log-dir D] [--rate RATE] [--rate-max X] [--verbose] "
        "--log-dir D the folder of the service's log file (default: None) "
        "--rate RATE the rate of the thing, per second (default: None) "
        "--rate-max X the largest rate (default: None) --verbose short"
    )
    assert checks.help_problems(Settings, text) == [
        "--verbose is not described: ' short'"
    ]
    names = [f.name.replace("_", "-") for f in dataclasses.fields(Settings)]
    assert checks.help_problems(Settings, "") == [
        f"--{name} is not listed" for name in names
    ]
