"""The frame source's settings: every value has one home (the root
``pyproject.toml``), a missing profile section falls back to ``[replay]``,
bad values fail at start-up naming the setting."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from replay_settings import ENVIRON, PACE, PYPROJECT, SETTINGS, load_settings

from replay.config import (
    PaceConfig,
    PlaybackConfig,
    ReplaySettings,
    SimulateConfig,
    parse_faults,
)
from utils.config import audit, parse_settings
from utils.errors import ConfigError
from utils.simulation import Fault

REPLAY = Path(sys.executable).with_name("replay")
COMPONENTS = (PaceConfig, SimulateConfig, PlaybackConfig)


def test_parse_faults_single_and_ranges() -> None:
    faults = parse_faults(["drop:120", "late:-3", "partial:5-7"])
    assert faults == {
        120: Fault.DROP,
        -3: Fault.LATE,
        5: Fault.PARTIAL,
        6: Fault.PARTIAL,
        7: Fault.PARTIAL,
    }


@pytest.mark.parametrize(
    "entry", ["drop", "drop:", "explode:3", "drop:5-2", "drop:1.5", "120:drop"]
)
def test_parse_faults_rejects(entry: str) -> None:
    with pytest.raises(ConfigError):
        parse_faults([entry])


def test_every_fault_kind_parses() -> None:
    for fault in Fault:
        assert parse_faults([f"{fault.value}:0"]) == {0: fault}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"speed": 0},
        {"speed": -1},
        {"duration": -1},
        {"keep_length": -5},
        {"start_gps": -1},
    ],
)
def test_pace_rejects(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        replace(PACE, **kwargs)


def simulate(tmp_path, simulation, **kwargs) -> SimulateConfig:
    return replace(
        SETTINGS.simulate_config(),
        data_dir=tmp_path,
        simulation=simulation,
        **kwargs,
    )


def test_prefill_longer_than_kept_is_refused(simulation, tmp_path) -> None:
    with pytest.raises(ConfigError, match="pruned"):
        simulate(
            tmp_path,
            simulation,
            pace=replace(PACE, keep_length=10),
            prefill_length=20,
        )
    simulate(
        tmp_path,
        simulation,
        pace=replace(PACE, keep_length=0),
        prefill_length=20,
    )


def test_fault_rate_bounds(simulation, tmp_path) -> None:
    for rate in (-0.1, 1.5):
        with pytest.raises(ConfigError):
            simulate(tmp_path, simulation, fault_rate=rate)


def test_playback_config(tmp_path: Path) -> None:
    playback = replace(
        SETTINGS,
        mode="replay",
        source_dir=str(tmp_path / "a"),
        data_dir=tmp_path / "b",
    ).playback_config()
    with pytest.raises(ConfigError):
        replace(playback, source_dir=tmp_path, data_dir=tmp_path)
    with pytest.raises(ConfigError, match="restamp"):
        replace(playback, restamp=False, loop=True)


# -- the settings --


def test_every_value_has_one_home() -> None:
    assert audit(ReplaySettings, PYPROJECT, "replay", COMPONENTS) == []
    # sub-config fields named otherwise than their setting (restamp <-
    # keep_gps) are held here: no sub-config has a default at all
    for cls in COMPONENTS:
        assert all(
            f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            for f in dataclasses.fields(cls)
        ), cls.__name__


def test_the_audit_sees_a_default_added_back() -> None:
    probe = dataclasses.make_dataclass(
        "Probe", [("speed", float, dataclasses.field(default=1.0))]
    )
    assert audit(ReplaySettings, PYPROJECT, "replay", (probe,)) == [
        "Probe.speed has a default in code; its home is [replay]"
    ]


def test_the_section_builds_the_simulate_mode() -> None:
    config = SETTINGS.source_config()
    assert isinstance(config, SimulateConfig)
    assert config.data_dir == Path(ENVIRON["DATA_DIR"])
    assert config.simulation.strain_channel == "L1:GDS-CALIB_STRAIN"
    assert config.simulation.witness_channels[0].startswith("L1:PEM-")
    assert config.faults == {}
    assert config.fault_kinds == (Fault.DROP, Fault.LATE)
    assert config.pace == PACE


@pytest.mark.parametrize("profile", ["replay-production", "replay-cpu-x"])
def test_a_missing_profile_falls_back_to_the_section(profile) -> None:
    """run.sh asks every service for the profile it runs; the frame source
    has no production profile: [replay] applies."""
    argv = ["--typeo", f"{PYPROJECT}:{profile}", "--speed", "2"]
    settings = parse_settings(ReplaySettings, "replay", argv, ENVIRON)
    assert settings == replace(SETTINGS, speed=2.0)


def test_faults_and_replay_mode_from_flags(tmp_path) -> None:
    settings = load_settings(
        "replay",
        "--faults",
        "drop:1 late:2,partial:4-5",
        "--mode",
        "replay",
        "--source-dir",
        str(tmp_path),
        "--keep-gps",
    )
    assert replace(settings, mode="simulate").simulate_config().faults == {
        1: Fault.DROP,
        2: Fault.LATE,
        4: Fault.PARTIAL,
        5: Fault.PARTIAL,
    }
    playback = settings.source_config()
    assert isinstance(playback, PlaybackConfig)
    assert (playback.source_dir, playback.restamp) == (tmp_path, False)


@pytest.mark.parametrize(
    "flags, setting",
    [
        (["--speed", "0"], "speed"),
        (["--keep-length", "-1"], "keep_length"),
        (["--prefill-length", "900"], "prefill_length"),
        (["--fault-rate", "2"], "fault_rate"),
        (["--fault-kinds", "explode"], "fault_kinds"),
        (["--metrics-port", "-1"], "metrics_port"),
        (["--mode", "replay"], "source_dir"),
        (
            ["--mode", "replay", "--source-dir", "/x", "--keep-gps", "--loop"],
            "loop",
        ),
    ],
)
def test_a_bad_value_fails_naming_the_setting(flags, setting) -> None:
    with pytest.raises(ConfigError, match=f"^{setting}="):
        load_settings("replay", *flags)


def test_an_unknown_fault_names_it() -> None:
    with pytest.raises(ConfigError, match="unknown fault 'explode'"):
        load_settings("replay", "--faults", "explode:3")


def test_help_documents_every_setting() -> None:
    done = subprocess.run(
        [str(REPLAY), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for field in dataclasses.fields(ReplaySettings):
        flag = "--" + field.name.replace("_", "-")
        assert flag in text
        help_of = text.split(flag, 2)[-1].split("--", 1)[0]
        assert "(default" in help_of and len(help_of) > 30, field.name
