"""The ``replay`` mode: recorded frames played back, re-stamped or copied."""

from __future__ import annotations

import filecmp
import os
from dataclasses import replace
from pathlib import Path

import gwframe
import numpy as np
import pytest
from replay_settings import PACE
from replay_settings import SETTINGS

from conftest import GPS
from replay.config import PlaybackConfig
from replay.playback import Playback
from utils.errors import ConfigError
from utils.gwf import read_frame
from utils.names import gps_of
from utils.names import strain_name
from utils.names import witness_name
from utils.simulation import Fault
from utils.simulation import Simulator
from utils.simulation import read_truth

NEW_GPS = 1500000000


@pytest.fixture
def recording(tmp_path, simulation) -> Path:
    """Five simulated seconds, the third one dropped (a gap)."""
    source = tmp_path / "recording"
    Simulator(simulation).write_stretch(
        source, GPS, 5, faults={GPS + 2: Fault.DROP}
    )
    return source


def strain_gps(data_dir: Path) -> list[int]:
    folder = data_dir / "kafka" / "L1"
    return sorted(gps_of(p) for p in os.listdir(folder))


def playback_config(
    source_dir: Path, data_dir: Path, **kwargs
) -> PlaybackConfig:
    """The root configuration's replay mode with ``kwargs`` (fields of
    :class:`PlaybackConfig`)."""
    settings = replace(
        SETTINGS, mode="replay", source_dir=str(source_dir), data_dir=data_dir
    )
    return replace(settings.playback_config(), **kwargs)


def play(recording, tmp_path, stop, metrics, **kwargs) -> Path:
    out = tmp_path / "data"
    pace = replace(
        PACE,
        speed=50.0,
        start_gps=kwargs.pop("start_gps", NEW_GPS),
        duration=kwargs.pop("duration", 0),
    )
    config = playback_config(recording, out, pace=pace, **kwargs)
    Playback(config, stop, metrics).run()
    return out


def test_restamped_frames(recording, tmp_path, stop, metrics, simulation):
    out = play(recording, tmp_path, stop, metrics)
    # the gap of the recording stays a gap
    assert strain_gps(out) == [NEW_GPS + k for k in (0, 1, 3, 4)]
    sim = Simulator(simulation)
    for k in (0, 4):
        gps = NEW_GPS + k
        path = out / "kafka" / "L1" / strain_name("L1", gps)
        raw = gwframe.read(str(path))
        assert {s.start for s in raw.values()} == {gps}
        # same samples as the recorded second
        np.testing.assert_array_equal(
            raw["L1:GDS-CALIB_STRAIN"].array, sim.second(GPS + k).strain
        )
        witness_file = out / "lldetchar" / "L1" / witness_name("L1", gps)
        witnesses = read_frame(witness_file)
        original = sim.second(GPS + k).witnesses
        assert set(witnesses) == set(original)
        for name, series in original.items():
            assert witnesses[name].sample_rate == series.sample_rate
            np.testing.assert_array_equal(witnesses[name].data, series.data)
        np.testing.assert_array_equal(
            read_truth(out, "L1", gps), sim.truth(GPS + k)
        )


def test_copy_without_restamp(recording, tmp_path, stop, metrics):
    out = play(recording, tmp_path, stop, metrics, restamp=False)
    assert strain_gps(out) == [GPS + k for k in (0, 1, 3, 4)]
    for kind in ("kafka", "lldetchar", "truth"):
        # seconds without strain are gaps: their truth is not played
        names = [
            n
            for n in os.listdir(recording / kind / "L1")
            if gps_of(n) != GPS + 2
        ]
        match, mismatch, errors = filecmp.cmpfiles(
            recording / kind / "L1", out / kind / "L1", names, shallow=False
        )
        assert (mismatch, errors) == ([], []) and len(match) == len(names)
    assert not [p for p in out.rglob(".*") if p.is_file()]


def test_loop_continues_the_stamps(recording, tmp_path, stop, metrics):
    out = play(recording, tmp_path, stop, metrics, loop=True, duration=10)
    expected = [NEW_GPS + k for k in (0, 1, 3, 4, 5, 6, 8, 9)]
    assert strain_gps(out) == expected
    first = read_frame(out / "kafka" / "L1" / strain_name("L1", NEW_GPS))
    again = read_frame(out / "kafka" / "L1" / strain_name("L1", NEW_GPS + 5))
    np.testing.assert_array_equal(
        first["L1:GDS-CALIB_STRAIN"].data, again["L1:GDS-CALIB_STRAIN"].data
    )


def test_corrupt_source_frame_is_skipped(
    recording, tmp_path, stop, metrics, caplog
):
    bad = recording / "kafka" / "L1" / strain_name("L1", GPS + 1)
    bad.write_bytes(b"not a frame" * 100)
    out = play(recording, tmp_path, stop, metrics)
    assert strain_gps(out) == [NEW_GPS + k for k in (0, 3, 4)]
    assert "cannot replay" in caplog.text


def test_empty_source_is_a_config_error(tmp_path, stop, metrics):
    config = playback_config(tmp_path / "empty", tmp_path / "data")
    with pytest.raises(ConfigError, match="no 1 s strain frames"):
        Playback(config, stop, metrics)
