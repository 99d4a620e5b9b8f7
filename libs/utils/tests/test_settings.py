"""The helpers every settings class uses (``utils.settings``): rules,
conversion, sub-configs. A settings object is any object with the named
attributes, here a ``SimpleNamespace``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from utils import settings as helpers
from utils.errors import ConfigError

CHANNELS = ["L1:GDS-CALIB_STRAIN", "L1:GDS-CALIB_STATE_VECTOR", "L1:PEM-A"]


def failing(rules: list) -> list[str]:
    """The names of the rules that do not hold."""
    return [name for name, holds, _ in rules if not holds]


def channels(ifo: str, strain: str, *witnesses: str) -> SimpleNamespace:
    return SimpleNamespace(
        ifo=ifo,
        strain_channel=strain,
        state_channel=f"{ifo}:GDS-CALIB_STATE_VECTOR",
        witness_channels=list(witnesses),
    )


def test_require_names_the_field_its_value_and_the_rule():
    helpers.require(True, "speed", 0, "> 0")
    with pytest.raises(ConfigError, match=r"^speed=0: > 0$"):
        helpers.require(False, "speed", 0, "> 0")


def test_check_rules_reports_the_first_broken_rule_in_order():
    def check(freq_low: float) -> None:
        band = SimpleNamespace(
            freq_low=freq_low, freq_high=65.0, sample_rate=4
        )
        helpers.check_rules(band, helpers.band_rules(band))

    with pytest.raises(ConfigError, match=r"^freq_low=70.0: 0 < freq_low <"):
        check(70.0)  # and freq_high is above Nyquist: second
    with pytest.raises(ConfigError, match=r"^freq_high=65.0: < sample_rate"):
        check(1.0)


def test_channels_must_be_of_the_ifo():
    good = channels("L1", CHANNELS[0], CHANNELS[2])
    assert failing(helpers.channel_rules(good)) == []
    bad = channels("L1", "H1:GDS-CALIB_STRAIN")
    assert failing(helpers.channel_rules(bad)) == [
        "strain_channel",
        "witness_channels",
    ]


def test_band_stream_and_port_rules():
    band = SimpleNamespace(freq_low=55.0, freq_high=2048.0, sample_rate=4096)
    assert failing(helpers.band_rules(band)) == ["freq_high"]
    stream = SimpleNamespace(ready_mask=-1, frame_timeout=0)
    stream.max_consecutive_drops = stream.start_timeout = 1
    assert failing(helpers.stream_rules(stream)) == [
        "ready_mask",
        "frame_timeout",
    ]
    ports = [helpers.port_rule(f"p{n}", n) for n in (-1, 0, 65535, 65536)]
    assert failing(ports) == ["p-1", "p65536"]


def test_convert_fields_sets_fields_of_a_frozen_dataclass():
    @dataclass(frozen=True)
    class Frozen:
        project_dir: str
        witness_channels: tuple

    settings = Frozen("/tmp/p", ("L1:X",))
    helpers.convert_fields(settings, project_dir=Path, witness_channels=list)
    assert settings == Frozen(Path("/tmp/p"), ["L1:X"])


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
