"""The helpers every settings class uses (``utils.settings``): rules,
conversion, sub-configs. A settings object is any object with the named
attributes, here a ``SimpleNamespace``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from types import SimpleNamespace
from typing import List, Tuple

import pytest

from utils import settings as helpers
from utils.errors import ConfigError


def failing(rules: list) -> list[str]:
    """The names of the rules that do not hold."""
    return [name for name, holds, _ in rules if not holds]


def test_require_names_the_field_its_value_and_the_rule():
    helpers.require(True, "speed", 0, "> 0")
    with pytest.raises(ConfigError, match=r"^speed=0: > 0$"):
        helpers.require(False, "speed", 0, "> 0")


def test_check_rules_reports_the_first_broken_rule_in_order():
    def check(speed: float, port: int) -> None:
        settings = SimpleNamespace(speed=speed, port=port)
        rules = [
            ("speed", speed > 0, "> 0"),
            helpers.port_rule("port", port),
        ]
        helpers.check_rules(settings, rules)

    check(1.0, 80)
    with pytest.raises(ConfigError, match=r"^speed=0.0: > 0$"):
        check(0.0, -1)  # and the port is wrong too: second
    with pytest.raises(ConfigError, match=r"^port=-1: 0 \(off\) .. 65535$"):
        check(1.0, -1)


@pytest.mark.parametrize("bad", [0, -0.5, math.inf, math.nan, "1", None])
def test_require_positive_names_the_first_setting_that_is_not(bad):
    settings = SimpleNamespace(timeout=2.5, interval=bad, backoff=bad)
    helpers.require_positive(settings, "timeout")
    with pytest.raises(ConfigError, match=rf"^interval={bad!r}: a positive"):
        helpers.require_positive(settings, "timeout", "interval", "backoff")


@pytest.mark.parametrize("bad", [0, -3, 2.0, "2", None])
def test_require_counts_takes_whole_positive_numbers_only(bad):
    settings = SimpleNamespace(threads=4, limit=bad)
    helpers.require_counts(settings, "threads")
    with pytest.raises(ConfigError, match=r"^limit=.*: a positive integer$"):
        helpers.require_counts(settings, "threads", "limit")


def test_port_rule():
    ports = [helpers.port_rule(f"p{n}", n) for n in (-1, 0, 65535, 65536)]
    assert failing(ports) == ["p-1", "p65536"]


def test_convert_fields_follows_the_annotations():
    @dataclass(frozen=True)
    class Frozen:
        project_dir: Path
        witness_channels: List[str]
        band: Tuple[float, float]
        name: str

    settings = Frozen("/tmp/p", ("L1:X",), (1.0, 2.0), "x")
    helpers.convert_fields(settings)
    assert settings == Frozen(Path("/tmp/p"), ["L1:X"], (1.0, 2.0), "x")
    assert type(settings.witness_channels) is list
    assert type(settings.band) is tuple  # not a List: left as it came
    # a relative path is taken from where the service starts: a worker
    # in another folder (a batch job's scratch) uses the same file
    relative = Frozen("runs/p", (), (1.0, 2.0), "x")
    helpers.convert_fields(relative)
    assert relative.project_dir == Path.cwd() / "runs" / "p"
    unset = Frozen("", (), (1.0, 2.0), "x")  # an empty variable: not cwd
    helpers.convert_fields(unset)
    assert unset.project_dir == Path(".")


def test_sub_config_takes_settings_by_name_and_keeps_code_defaults():
    @dataclass(frozen=True)
    class Part:
        ifo: str
        length: float
        fixed: int = 7
        extra: list = field(default_factory=list)

    settings = SimpleNamespace(ifo="L1", length=1.0, fixed=99)
    assert helpers.sub_config(Part, settings) == Part("L1", 1.0)
    changed = helpers.sub_config(Part, settings, length=2.5, fixed=3)
    assert (changed.length, changed.fixed) == (2.5, 3)
    with pytest.raises(AttributeError, match="length"):
        helpers.sub_config(Part, SimpleNamespace(ifo="L1"))


def test_sub_config_prefers_the_prefixed_setting():
    @dataclass(frozen=True)
    class Gate:
        ifo: str
        threshold: float
        gate_length: int
        margin: float = 0.5

    settings = SimpleNamespace(
        ifo="L1", threshold=9.0, gate_threshold=1.0, gate_length=8
    )
    settings.gate_margin = 0.1  # a default in code is not read
    gate = helpers.sub_config(Gate, settings, prefix="gate_")
    assert gate == Gate("L1", 1.0, 8)
    # without the prefix the plain names are read
    assert helpers.sub_config(Gate, settings).threshold == 9.0


def test_check_sub_configs_names_the_settings():
    def bad() -> None:
        raise ValueError("kernel_length must be whole samples")

    def config_error() -> None:
        raise ConfigError("x=1: > 1")

    check = helpers.check_sub_configs
    check("svc settings", lambda: None)
    with pytest.raises(ConfigError, match="^svc settings: kernel_length"):
        check("svc settings", lambda: None, bad)
    with pytest.raises(ValueError):  # not one of ``errors``: unchanged
        check("svc settings", bad, errors=(ConfigError,))
    with pytest.raises(ConfigError, match=r"^x=1"):
        check("svc settings", config_error, errors=(ValueError,))


def test_sub_config_without_defaults_takes_every_setting_it_has():
    @dataclass(frozen=True)
    class Simulated:
        ifo: str
        ratio: float = 50.0
        rate: int = 16384

    settings = SimpleNamespace(ifo="L1", ratio=5.0, other=1)
    built = helpers.sub_config(Simulated, settings, defaults=False)
    assert built == Simulated("L1", ratio=5.0)  # rate: not a setting
    assert helpers.sub_config(Simulated, settings).ratio == 50.0
