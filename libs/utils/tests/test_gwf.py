"""GWF write -> read round trips through gwframe, atomic writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gwframe
import numpy as np
import pytest

from conftest import GPS
from conftest import MAINS
from conftest import STRAIN
from utils.errors import ChannelMissing
from utils.errors import FrameCorrupt
from utils.errors import FrameMissing
from utils.gwf import encode_frame
from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.names import strain_name

RATES = {
    "L1:FAST": 16384,
    "L1:MID": 4096,
    "L1:MAINS": 1024,
    "L1:SLOW": 512,
    "L1:STATE": 16,
    "L1:VERSION": 1,
}


def channels(sim) -> dict[str, np.ndarray]:
    """Floats and integers of several rates, from the simulator."""
    second = sim.second(GPS)
    return {
        "L1:FAST": second.strain,
        "L1:MID": second.strain[::4].copy(),
        "L1:MAINS": second.witnesses[MAINS].data,  # float32
        "L1:SLOW": second.strain[::32].astype(np.float32),
        "L1:STATE": second.state,  # int32
        "L1:VERSION": np.array([7], dtype=np.int64),
    }


def test_round_trip(tmp_path: Path, sim) -> None:
    data = channels(sim)
    path = write_frame(tmp_path / strain_name("L1", GPS), data, GPS, RATES)
    frame = read_frame(path)
    assert set(frame) == set(data)
    for name, series in frame.items():
        assert series.sample_rate == RATES[name]
        assert series.data.dtype == data[name].dtype
        np.testing.assert_array_equal(series.data, data[name])
    raw = gwframe.read(str(path))
    assert {ts.start for ts in raw.values()} == {GPS}
    assert {ts.duration for ts in raw.values()} == {1.0}


def test_subset_and_missing_channel(tmp_path: Path, sim) -> None:
    path = write_frame(
        tmp_path / "L-L1_x-1400000000-1.gwf", channels(sim), GPS, RATES
    )
    subset = read_frame(path, ["L1:STATE"])  # only it is decoded
    assert list(subset) == ["L1:STATE"]
    part, whole = subset["L1:STATE"], read_frame(path)["L1:STATE"]
    np.testing.assert_array_equal(part.data, whole.data)
    assert (part.sample_rate, part.start) == (whole.sample_rate, whole.start)
    with pytest.raises(ChannelMissing, match="L1:NOPE"):
        read_frame(path, ["L1:STATE", "L1:NOPE"])


def test_a_file_of_several_frames_is_read_whole(tmp_path: Path) -> None:
    """A stored archive's file holds many frames (here four of 4 s, as
    LIGO's writers make them): read by its span, every frame is joined;
    without one, the first only. ``partial`` leaves out what it lacks."""
    path = tmp_path / "L-L1_x-1400000000-16.gwf"
    with gwframe.FrameWriter(str(path)) as writer:
        for k in range(4):
            writer.write(
                {"L1:A": np.arange(64 * k, 64 * (k + 1), dtype=float)},
                start=GPS + 4 * k,
                sample_rate=16.0,
                name="L",
            )
    whole = read_frame(path, ["L1:A"], span=(GPS, GPS + 16))["L1:A"]
    assert whole.data.tolist() == list(range(256))
    assert (whole.start, whole.sample_rate) == (GPS, 16.0)
    assert read_frame(path, ["L1:A"])["L1:A"].data.size == 64
    some = read_frame(
        path, ["L1:A", "L1:B"], span=(GPS, GPS + 16), partial=True
    )
    assert list(some) == ["L1:A"]
    with pytest.raises(ChannelMissing, match="L1:B"):
        read_frame(path, ["L1:A", "L1:B"], span=(GPS, GPS + 16))
    with pytest.raises(FrameCorrupt, match="does not overlap"):
        read_frame(path, ["L1:A"], span=(GPS + 100, GPS + 116))


def test_one_rate_for_all(tmp_path: Path, sim) -> None:
    second = sim.second(GPS)
    data = {STRAIN: second.strain, "L1:TRUTH": second.truth}
    frame = read_frame(write_frame(tmp_path / "a.gwf", data, GPS, 16384))
    np.testing.assert_array_equal(frame["L1:TRUTH"].data, second.truth)


def test_missing_and_unreadable(tmp_path: Path, sim) -> None:
    with pytest.raises(FrameMissing, match="nothing.gwf"):
        read_frame(tmp_path / "nothing.gwf")
    whole = encode_frame(channels(sim), GPS, RATES, "L")
    half = tmp_path / "half.gwf"
    half.write_bytes(whole[: len(whole) // 2])  # still being written
    with pytest.raises(FrameCorrupt, match="half.gwf"):
        read_frame(half)
    with pytest.raises(FrameCorrupt, match="half.gwf"):  # a subset too
        read_frame(half, ["L1:STATE"])
    fifo = tmp_path / "fifo.gwf"  # a read would block for ever
    os.mkfifo(fifo)
    with pytest.raises(FrameCorrupt, match="fifo.gwf: not a regular file"):
        read_frame(fifo)
    garbage = tmp_path / "garbage.gwf"
    garbage.write_bytes(np.random.bytes(len(whole)))
    with pytest.raises(FrameCorrupt):
        read_frame(garbage)


def test_encoded_bytes_are_a_frame(tmp_path: Path, sim) -> None:
    data = channels(sim)
    whole = encode_frame(data, GPS, RATES, "L")
    path = tmp_path / "bytes.gwf"
    path.write_bytes(whole)
    np.testing.assert_array_equal(
        read_frame(path)["L1:FAST"].data, data["L1:FAST"]
    )


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path, sim) -> None:
    for k in range(3):
        write_frame(
            tmp_path / strain_name("L1", GPS + k),
            channels(sim),
            GPS + k,
            RATES,
        )
    assert sorted(os.listdir(tmp_path)) == [
        strain_name("L1", GPS + k) for k in range(3)
    ]
    # a failed write leaves neither the final nor the temporary file
    with pytest.raises(ValueError):
        write_frame(tmp_path / "bad.gwf", {"L1:X": np.zeros((2, 8))}, GPS, 8)
    assert len(os.listdir(tmp_path)) == 3


def test_write_cut_short_raises_and_publishes_nothing(tmp_path: Path) -> None:
    """A write that cannot complete (here a file-size limit, as a full disk
    would) raises OSError and leaves no file at all. frameCPP's own file
    stream ignores write errors: through it, a truncated frame was renamed
    into place (found by tests/test_chaos.py filling the carousel's disk).
    A subprocess, so that the limit does not apply to the test run."""
    script = textwrap.dedent(f"""
        import resource, signal, sys
        import numpy as np
        from utils.gwf import write_frame
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not death
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (16384, resource.RLIM_INFINITY))
        try:
            write_frame(sys.argv[1], {{"L1:X": np.zeros(16384)}}, {GPS},
                        16384)
        except OSError as exc:
            print("OSError", exc.errno)
    """)
    path = tmp_path / strain_name("L1", GPS)
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.startswith("OSError"), done.stdout + done.stderr
    assert os.listdir(tmp_path) == []


def test_overwrite_is_explicit(tmp_path: Path, sim) -> None:
    path = tmp_path / strain_name("L1", GPS)
    write_frame(path, {"L1:A": np.zeros(16)}, GPS, 16)
    with pytest.raises(FileExistsError):
        write_frame(path, {"L1:A": np.ones(16)}, GPS, 16)
    np.testing.assert_array_equal(read_frame(path)["L1:A"].data, 0)
    write_frame(path, {"L1:A": np.ones(16)}, GPS, 16, overwrite=True)
    np.testing.assert_array_equal(read_frame(path)["L1:A"].data, 1)


def test_compressed_round_trip(tmp_path: Path, sim) -> None:
    data = channels(sim)
    plain = write_frame(tmp_path / "p.gwf", data, GPS, RATES)
    packed = write_frame(tmp_path / "c.gwf", data, GPS, RATES, compress=True)
    assert packed.stat().st_size < plain.stat().st_size
    for name, series in read_frame(packed).items():
        np.testing.assert_array_equal(series.data, data[name])


def test_fsync_is_asked_for(tmp_path: Path, monkeypatch) -> None:
    """``fsync=True`` flushes the whole frame to disk before the rename
    (what an archive a rerun trusts needs after a power cut); the
    carousel's default does not pay for it."""
    import utils.atomic

    synced = []

    def record(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)

    monkeypatch.setattr(utils.atomic.os, "fsync", record)
    write_frame(tmp_path / "a.gwf", {"L1:A": np.zeros(16)}, GPS, 16)
    assert synced == []
    path = tmp_path / "b.gwf"
    write_frame(path, {"L1:A": np.zeros(16)}, GPS, 16, fsync=True)
    assert synced == [path.stat().st_size]
