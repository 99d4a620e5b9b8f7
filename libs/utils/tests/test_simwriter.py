"""Files written by the simulator, with and without faults."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import gwframe
import numpy as np
import pytest

from conftest import FEW_WITNESSES
from conftest import GPS
from conftest import MAINS
from conftest import STATE
from conftest import STRAIN
from utils.errors import FrameCorrupt
from utils.errors import FrameMissing
from utils.gwf import read_frame
from utils.simulation import Fault
from utils.simulation import read_truth
from utils.simwriter import strain_path
from utils.simwriter import truth_path
from utils.simwriter import witness_path


def paths(data_dir: Path, gps: int = GPS) -> tuple[Path, Path, Path]:
    return (
        strain_path(data_dir, "L1", gps),
        witness_path(data_dir, "L1", gps),
        truth_path(data_dir, "L1", gps),
    )


def test_layout_and_contents(tmp_path, small_sim) -> None:
    assert small_sim.write(GPS, tmp_path) is None
    strain, witness, truth = paths(tmp_path)
    assert strain == tmp_path / "kafka/L1/L-L1_llhoft-1400000000-1.gwf"
    assert witness == tmp_path / "lldetchar/L1/L-L1_lldetchar-1400000000-1.gwf"
    assert truth == tmp_path / "truth/L1/L-L1_TRUTH-1400000000-1.gwf"
    second = small_sim.second(GPS)
    # read with gwframe directly, not only through utils.gwf
    raw = gwframe.read(str(strain))
    assert set(raw) == {STRAIN, STATE}
    assert raw[STRAIN].sample_rate == 16384 and raw[STATE].sample_rate == 16
    assert raw[STRAIN].start == GPS
    np.testing.assert_array_equal(raw[STRAIN].array, second.strain)
    np.testing.assert_array_equal(raw[STATE].array, second.state)
    frame = read_frame(witness)
    assert set(frame) == set(FEW_WITNESSES)
    for name, series in second.witnesses.items():
        np.testing.assert_array_equal(frame[name].data, series.data)
    np.testing.assert_array_equal(
        read_truth(tmp_path, "L1", GPS), second.truth
    )


def test_gwpy_reads_the_frames(tmp_path, small_sim) -> None:
    timeseries = pytest.importorskip(
        "gwpy.timeseries",
        reason="gwpy is only in .venv/monitor (see test_gwpy_interop.py)",
    )
    small_sim.write(GPS, tmp_path)
    data = timeseries.TimeSeries.read(str(paths(tmp_path)[0]), STRAIN)
    np.testing.assert_array_equal(data.value, small_sim.second(GPS).strain)


def test_overwrite_is_explicit(tmp_path, small_sim) -> None:
    small_sim.write(GPS, tmp_path)
    with pytest.raises(FileExistsError):
        small_sim.write(GPS, tmp_path)
    small_sim.write(GPS, tmp_path, overwrite=True)


def test_writes_the_missing_files_of_a_second(
    tmp_path, small_sim, caplog
) -> None:
    """One file of the second is there already (e.g. written before a
    restart): it is left alone, the others are written, with a WARNING."""
    strain, witness, truth = paths(tmp_path)
    small_sim.write(GPS, tmp_path)
    witness.unlink()
    truth.unlink()
    before = strain.stat().st_mtime_ns
    with caplog.at_level(logging.WARNING, logger="utils.simwriter"):
        small_sim.write(GPS, tmp_path)
    assert strain.stat().st_mtime_ns == before
    assert set(read_frame(witness)) == set(FEW_WITNESSES)
    assert truth.exists()
    assert f"{strain} existed already" in caplog.text


@pytest.mark.parametrize("stray", ["junk", "another second"])
def test_replaces_a_stray_file(tmp_path, small_sim, caplog, stray) -> None:
    """A file under the second's name that is not its frame is replaced."""
    strain = paths(tmp_path)[0]
    if stray == "junk":
        strain.parent.mkdir(parents=True)
        strain.write_bytes(b"junk")
    else:
        small_sim.write(GPS + 5, tmp_path)
        paths(tmp_path, GPS + 5)[0].rename(strain)
    with caplog.at_level(logging.WARNING, logger="utils.simwriter"):
        small_sim.write(GPS, tmp_path)
    frame = read_frame(strain)
    assert frame[STRAIN].start == GPS
    np.testing.assert_array_equal(
        frame[STRAIN].data, small_sim.second(GPS).strain
    )
    assert f"{strain} is not this second's frame" in caplog.text


def test_drop(tmp_path, small_sim) -> None:
    small_sim.write(GPS, tmp_path, Fault.DROP)
    strain, witness, truth = paths(tmp_path)
    assert not strain.exists() and not witness.exists()
    assert truth.exists()  # for evaluation only


def test_late(tmp_path, small_sim) -> None:
    tic = time.monotonic()
    thread = small_sim.write(GPS, tmp_path, Fault.LATE, delay=0.3)
    assert not paths(tmp_path)[0].exists()
    thread.join(timeout=5)
    assert time.monotonic() - tic >= 0.3
    assert read_frame(paths(tmp_path)[0])[STRAIN].data.size == 16384


def test_partial_is_unreadable_until_complete(tmp_path, small_sim) -> None:
    thread = small_sim.write(GPS, tmp_path, Fault.PARTIAL)  # 0.2 s pause
    time.sleep(0.05)
    strain, witness, _ = paths(tmp_path)
    assert strain.exists() and witness.exists()  # under the final names
    for path in (strain, witness):
        with pytest.raises(FrameCorrupt):
            read_frame(path)
    thread.join(timeout=5)
    np.testing.assert_array_equal(
        read_frame(strain)[STRAIN].data, small_sim.second(GPS).strain
    )


def test_corrupt(tmp_path, small_sim) -> None:
    small_sim.write(GPS, tmp_path, Fault.CORRUPT)
    strain, witness, _ = paths(tmp_path)
    with pytest.raises(FrameCorrupt):
        read_frame(strain)
    assert read_frame(witness)  # only the strain file is broken


def test_data_faults(tmp_path, small_sim) -> None:
    faults = {
        GPS: Fault.MISSING_CHANNEL,
        GPS + 1: Fault.NAN_STRAIN,
        GPS + 2: Fault.NAN_WITNESS,
        GPS + 3: Fault.NOT_READY,
    }
    small_sim.write_stretch(tmp_path, GPS, 4, faults)
    missing = read_frame(paths(tmp_path, GPS)[1])
    assert set(missing) == set(FEW_WITNESSES[:-1])
    strain = read_frame(paths(tmp_path, GPS + 1)[0])[STRAIN].data
    assert 0 < np.isnan(strain).sum() < strain.size
    mains = read_frame(paths(tmp_path, GPS + 2)[1])[MAINS].data
    assert 0 < np.isnan(mains).sum() < mains.size
    state = read_frame(paths(tmp_path, GPS + 3)[0])[STATE].data
    assert set(state) == {1}
    # NaNs never leak into the truth
    assert np.all(np.isfinite(read_truth(tmp_path, "L1", GPS + 1)))


def test_stretch_is_complete_on_return(tmp_path, small_sim) -> None:
    faults = {GPS + 1: Fault.LATE, GPS + 2: Fault.PARTIAL}
    small_sim.write_stretch(tmp_path, GPS, 4, faults)
    for gps in range(GPS, GPS + 4):
        assert read_frame(paths(tmp_path, gps)[0])[STRAIN].data.size == 16384
    hidden = [
        n
        for _, _, names in os.walk(tmp_path)
        for n in names
        if n.startswith(".")
    ]
    assert hidden == []
    with pytest.raises(FrameMissing):
        read_frame(paths(tmp_path, GPS + 4)[0])
