"""The frame source's settings: every value has one home (the root
``pyproject.toml``), a missing profile section falls back to ``[replay]``,
bad values fail at start-up naming the setting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from replay_settings import ENVIRON
from replay_settings import PACE
from replay_settings import PYPROJECT
from replay_settings import SETTINGS
from replay_settings import load_settings

from replay.config import PaceConfig
from replay.config import PlaybackConfig
from replay.config import ReplaySettings
from replay.config import SimulateConfig
from replay.config import parse_faults
from utils import settings_checks as checks
from utils.config import parse_settings
from utils.errors import ConfigError
from utils.simulation import Fault
from utils.simulation import Simulator
from utils.simulation import default_witness_channels

# no sub-config has a default at all (fields named otherwise than their
# setting, restamp <- keep_gps, which the audit cannot match, included)
COMPONENTS = {PaceConfig: set(), SimulateConfig: set(), PlaybackConfig: set()}


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


class TestSettings(checks.SettingsContract):
    settings = ReplaySettings
    prog = "replay"
    components = COMPONENTS
    probe = ("speed", 1.0)  # a default the audit must see
    # the scenes of bench_couplings.py besides the default
    sections = {"replay", "replay-sideband-heavy", "replay-drifting"}
    override = ("speed", "2.5", 2.5)

    def library_configs(self, settings):
        return [settings.simulation_config()]

    def check_profile(self, section, settings):
        """Each scene simulates into run.sh's DATA_DIR."""
        config = settings.source_config()
        assert isinstance(config, SimulateConfig)
        assert config.data_dir == Path(ENVIRON["DATA_DIR"])


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


@pytest.mark.parametrize("ifo, count", [("L1", 18), ("H1", 21)])
def test_the_ifo_chooses_its_witness_list(ifo, count, tmp_path) -> None:
    """IFO picks [tool.typeo.base] witness_channels_<IFO>; the frame source
    simulates and writes exactly that list."""
    environ = {**ENVIRON, "IFO": ifo, "DATA_DIR": str(tmp_path)}
    argv = ["--typeo", f"{PYPROJECT}:replay"]
    settings = parse_settings(ReplaySettings, "replay", argv, environ)
    channels = settings.witness_channels
    assert len(channels) == count == len(set(channels))
    assert all(c.startswith(f"{ifo}:") for c in channels)
    h1_only = {"ASC-CSOFT_Y_OUT_DQ", "ASC-DSOFT_Y_OUT_DQ", "ASC-INP1_Y_OUT_DQ"}
    assert (set(c.split(":")[1] for c in channels[18:])) == (
        h1_only if ifo == "H1" else set()
    )
    # the simulator's own list (tests and benchmarks) is pyproject's
    assert default_witness_channels(ifo) == tuple(channels)
    config = settings.simulate_config()
    assert config.simulation.witness_channels == tuple(channels)
    second = Simulator(config.simulation).second(1400000000)
    assert set(second.witnesses) == set(channels)


def test_an_unknown_ifo_is_refused_naming_it() -> None:
    environ = {**ENVIRON, "IFO": "V1"}
    argv = ["--typeo", f"{PYPROJECT}:replay"]
    with pytest.raises(ConfigError, match=r"IFO='V1' is not supported.*H1"):
        parse_settings(ReplaySettings, "replay", argv, environ)
