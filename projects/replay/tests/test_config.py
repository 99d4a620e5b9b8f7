"""Validation of the frame source's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from replay.config import (
    PaceConfig,
    PlaybackConfig,
    SimulateConfig,
    parse_faults,
)
from utils.errors import ConfigError
from utils.simulation import Fault


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
    "kwargs", [{"speed": 0}, {"speed": -1}, {"duration": -1},
               {"keep_length": -5}, {"start_gps": -1}],
)  # fmt: skip
def test_pace_rejects(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        PaceConfig(**kwargs)


def test_prefill_longer_than_kept_is_refused(simulation, tmp_path) -> None:
    with pytest.raises(ConfigError, match="pruned"):
        SimulateConfig(
            tmp_path, simulation, PaceConfig(keep_length=10),
            prefill_length=20,
        )  # fmt: skip
    SimulateConfig(tmp_path, simulation, PaceConfig(keep_length=0), 20)


def test_fault_rate_bounds(simulation, tmp_path) -> None:
    for rate in (-0.1, 1.5):
        with pytest.raises(ConfigError):
            SimulateConfig(tmp_path, simulation, fault_rate=rate)


def test_playback_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        PlaybackConfig(tmp_path, tmp_path, "L1")
    with pytest.raises(ConfigError, match="restamp"):
        PlaybackConfig(tmp_path / "a", tmp_path / "b", "L1", restamp=False,
                       loop=True)  # fmt: skip
