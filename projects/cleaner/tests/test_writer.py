"""Output frames: name, channels, rates, GPS, tags; atomic; never twice."""

import logging
from dataclasses import replace

import gwframe
import numpy as np

from cleaner.frames import OutputFrame
from cleaner.restart import gate_end
from cleaner.writer import FrameWriter
from cleaner.writer import WriterConfig
from utils.channels import OutputChannels
from utils.channels import State
from utils.gwf import read_frame

BACKLOG = 300  # frames held back at most: a bound these tests stay under
GPS = 1_400_000_123


def make_frame(seed: int = 0) -> OutputFrame:
    rng = np.random.default_rng(seed)
    strains = [rng.standard_normal(4096) * 1e-21 for _ in range(4)]
    return OutputFrame(
        GPS,
        *strains,
        state=State.INPUT_OK | State.PRODUCTION_OK | State.OUT_DQ_ON,
        production_version=7,
        canary_version=8,
        seen_at=None,
    )


def test_frame_round_trip(tmp_path):
    frame = make_frame()
    writer = FrameWriter(WriterConfig(tmp_path / "carousel", "L1", BACKLOG))
    assert writer.write(frame) is not None
    path = tmp_path / "carousel" / "L-L1_DEEPCLEAN-1400000123-1.gwf"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp
    channels = OutputChannels("L1")
    data = read_frame(path)
    assert set(data) == set(channels.sample_rates)
    for name, rate in channels.sample_rates.items():
        assert data[name].sample_rate == rate
    for name, value in zip(
        channels.strains,
        (frame.out_dq, frame.production, frame.canary, frame.raw),
        strict=True,
    ):
        assert data[name].data.dtype == np.float64
        assert data[name].data.tobytes() == value.tobytes()  # bitwise
    state = data[channels.state].data
    assert state.dtype == np.int32 and state.size == 16
    assert set(state) == {int(frame.state)}
    assert list(data[channels.production_version].data) == [7]
    assert list(data[channels.canary_version].data) == [8]
    raw = gwframe.read(str(path), channels=None)
    assert {series.start for series in raw.values()} == {GPS}


def test_a_frame_it_wrote_is_never_rewritten(tmp_path, caplog):
    writer = FrameWriter(WriterConfig(tmp_path, "L1", BACKLOG))
    writer.write(make_frame(0))
    before = writer.path(GPS).read_bytes()
    with caplog.at_level(logging.WARNING):
        assert writer.write(make_frame(1)) is None
    assert writer.path(GPS).read_bytes() == before
    assert "written already, not written again" in caplog.text


def test_a_file_it_did_not_write_is_replaced(tmp_path, caplog):
    """A stray at a second's name (junk, or a frame of another writer)
    would stand for that second's product: it is replaced (found by
    review: the good frame was discarded and the second lost)."""
    writer = FrameWriter(WriterConfig(tmp_path, "L1", BACKLOG))
    writer.path(GPS).write_bytes(b"not a frame")
    frame = make_frame(0)
    with caplog.at_level(logging.WARNING):
        assert writer.write(frame) is not None
    assert "not written by this cleaner" in caplog.text
    data = read_frame(writer.path(GPS))
    out_dq = data[OutputChannels("L1").out_dq].data
    assert out_dq.tobytes() == frame.out_dq.tobytes()


def test_unwritable_carousel_delays_frames_instead_of_losing_them(
    tmp_path, caplog
):
    """While the carousel cannot take a write (here: a file stands where
    its folder was; a full disk fails the same way), frames are held back
    and then written in GPS order, none lost, none twice."""
    carousel = tmp_path / "carousel"
    writer = FrameWriter(WriterConfig(carousel, "L1", BACKLOG))
    frames = [replace(make_frame(k), gps=GPS + k) for k in range(5)]
    assert writer.write(frames[0]) is not None
    carousel.rename(tmp_path / "away")
    carousel.write_bytes(b"")  # writes into carousel/ now fail
    with caplog.at_level(logging.DEBUG):
        for frame in frames[1:3]:
            assert writer.write(frame) is None
    assert writer.backlog == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # one ERROR, not one per second
    carousel.unlink()
    (tmp_path / "away").rename(carousel)
    with caplog.at_level(logging.WARNING):
        assert writer.write(frames[3]) is not None
    assert "2 held-back frames written" in caplog.text
    assert writer.write(frames[4]) is not None
    assert writer.backlog == 0
    names = sorted(p.name for p in carousel.iterdir())
    assert names == [writer.path(f.gps).name for f in frames]  # no temps
    for frame in frames:
        data = read_frame(writer.path(frame.gps))
        channel = OutputChannels("L1").raw
        assert data[channel].data.tobytes() == frame.raw.tobytes()


def test_a_removed_carousel_folder_is_made_again(tmp_path, caplog):
    """The carousel folder removed (by hand, or its mount lost): it is
    made again and the frame written (found by review: every later frame
    was lost until a restart)."""
    carousel = tmp_path / "carousel"
    writer = FrameWriter(WriterConfig(carousel, "L1", BACKLOG))
    frames = [replace(make_frame(k), gps=GPS + k) for k in range(2)]
    assert writer.write(frames[0]) is not None
    for path in carousel.iterdir():
        path.unlink()
    carousel.rmdir()
    with caplog.at_level(logging.WARNING):
        assert writer.write(frames[1]) is not None
    assert "was missing: made again" in caplog.text
    assert writer.backlog == 0
    assert [p.name for p in carousel.iterdir()] == [writer.path(GPS + 1).name]


def test_a_folder_at_a_frame_s_name_is_moved_aside(tmp_path, caplog):
    """A folder named like the next frame (a rename cannot replace it) is
    moved aside and the frame written (found by review: every frame after
    it was held back for max_backlog seconds, then it was lost)."""
    carousel = tmp_path / "carousel"
    writer = FrameWriter(WriterConfig(carousel, "L1", BACKLOG))
    (carousel / writer.path(GPS).name / "inside").mkdir(parents=True)
    with caplog.at_level(logging.ERROR):
        assert writer.write(make_frame()) is not None
    assert "a folder stood at" in caplog.text
    assert writer.path(GPS).is_file() and writer.backlog == 0
    aside = [p for p in carousel.iterdir() if p.is_dir()]
    assert len(aside) == 1 and (aside[0] / "inside").is_dir()


def test_only_frames_past_the_backlog_bound_are_lost(tmp_path, caplog):
    """Held back longer than ``max_backlog`` frames, the oldest go (one
    ERROR each, naming them); the newest are written once writes work."""
    carousel = tmp_path / "carousel"
    writer = FrameWriter(WriterConfig(carousel, "L1", max_backlog=2))
    frames = [replace(make_frame(k), gps=GPS + k) for k in range(5)]
    carousel.rmdir()
    carousel.write_bytes(b"")  # writes into carousel/ fail
    with caplog.at_level(logging.ERROR):
        for frame in frames[:4]:
            assert writer.write(frame) is None
    assert writer.backlog == 2
    errors = [r.getMessage() for r in caplog.records]
    lost = [m for m in errors if "frame LOST" in m]
    assert [m.split(":")[0] for m in lost] == [f"GPS {GPS}", f"GPS {GPS + 1}"]
    carousel.unlink()
    carousel.mkdir()
    assert writer.write(frames[4]) is not None
    names = sorted(p.name for p in carousel.iterdir())
    assert names == [writer.path(f.gps).name for f in frames[2:]]


def test_gate_state_is_read_back_from_the_newest_frame(tmp_path):
    """A restarted cleaner continues the OUT_DQ gate from the frame it
    wrote last: open, closed, or in a transition (rising: opening), at the
    weight the frame ended with (a transition takes several seconds: a
    restart mid-way must not jump to 0 or 1)."""
    writer = FrameWriter(WriterConfig(tmp_path, "L1", BACKLOG))
    base = make_frame()
    taper = State.INPUT_OK | State.OUT_DQ_TAPER

    def mix(start: float, stop: float) -> np.ndarray:
        ramp = np.linspace(start, stop, 4096, endpoint=False)
        return base.raw + ramp * (base.production - base.raw)

    cases = [
        (State.INPUT_OK | State.OUT_DQ_ON, base.production, True, 1.0),
        (State.INPUT_OK, base.raw, False, 0.0),
        (taper, mix(0.0, 1.0), True, 1.0),
        (State.OUT_DQ_TAPER, mix(1.0, 0.0), False, 0.0),
        (taper, mix(0.25, 0.5), True, 0.5),  # opening, mid-way
        (taper, mix(0.75, 0.5), False, 0.5),  # closing, mid-way
    ]
    for k, (state, out_dq, is_open, weight) in enumerate(cases):
        frame = replace(base, gps=GPS + k, state=state, out_dq=out_dq)
        writer.write(frame)
        end = gate_end(writer.path(GPS + k), "L1")
        assert end.is_open is is_open, k
        assert abs(end.weight - weight) < 0.01, (k, end.weight)
        assert np.array_equal(end.removed, frame.raw - out_dq)
    writer.path(GPS + 9).write_bytes(b"not a frame")
    assert gate_end(writer.path(GPS + 9), "L1") is None
