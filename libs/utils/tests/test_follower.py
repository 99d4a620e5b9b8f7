"""FrameFollower on real files written by the simulator, under each fault.

Small timeouts (0.3 s) keep every case bounded; each test asserts both the
outcome and that it came within its time bound.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import FEW_WITNESSES
from conftest import GPS
from conftest import IFO
from conftest import MAINS
from conftest import STATE
from conftest import STRAIN
from utils import simwriter
from utils.errors import ConfigError
from utils.follower import MAX_REPORTED
from utils.follower import FrameFollower
from utils.follower import StreamConfig
from utils.follower import list_begun
from utils.follower import split_begun
from utils.gpstime import gps_now
from utils.gpstime import gps_to_unix
from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.names import strain_description
from utils.names import strain_name
from utils.simulation import Fault

TIMEOUT = 0.3  # s, frame_timeout of these tests
SLACK = 0.5  # s, scheduling slack on a loaded 2-core machine


def stream(tmp_path: Path, **kwargs) -> StreamConfig:
    values = dict(
        data_dir=tmp_path,
        ifo=IFO,
        strain_channel=STRAIN,
        state_channel=STATE,
        witness_channels=FEW_WITNESSES,
        frame_timeout=TIMEOUT,
        late_grace=0.1,
        poll_interval=0.02,
        max_consecutive_drops=3,
        start_timeout=2.0,
    )
    values.update(kwargs)
    return StreamConfig(**values)


def timed(follower: FrameFollower):
    tic = time.monotonic()
    second = follower.next_second()
    return second, time.monotonic() - tic


@pytest.mark.parametrize(
    ("setting", "value"),
    [("frame_timeout", 0.0), ("poll_interval", -1.0), ("start_timeout", None)],
)
def test_a_wait_that_is_not_positive_is_refused(tmp_path, setting, value):
    rule = rf"^{setting}={value!r}: a positive"
    with pytest.raises(ConfigError, match=rule):
        stream(tmp_path, **{setting: value})


def test_seconds_not_begun_are_told_apart(tmp_path, small_sim) -> None:
    """A frame named for a second that has not begun is a stray: apart
    from the others, in GPS order, whatever the order given."""
    now = int(gps_now())
    seconds = [now + 3600, now - 2, now + 5, now - 1]
    assert split_begun(seconds) == ([now - 2, now - 1], [now + 5, now + 3600])
    assert split_begun({now - 7: "a dict's keys"}) == ([now - 7], [])
    small_sim.write_stretch(tmp_path, now - 3, 2)
    copy_second(small_sim, tmp_path, now - 3, now + 60)
    strain_dir = stream(tmp_path).strain_dir
    description = strain_description(IFO)
    assert list_begun(strain_dir, description) == [now - 3, now - 2]


def test_reads_seconds_in_order(tmp_path, small_sim) -> None:
    small_sim.write_stretch(tmp_path, GPS, 3)
    follower = FrameFollower(stream(tmp_path), start="oldest")
    for k in range(3):
        second, elapsed = timed(follower)
        expected = small_sim.second(GPS + k)
        assert second.gps == GPS + k and not second.dropped
        np.testing.assert_array_equal(second.strain.data, expected.strain)
        np.testing.assert_array_equal(second.state.data, expected.state)
        assert list(second.witnesses) == list(FEW_WITNESSES)
        np.testing.assert_array_equal(
            second.witnesses[MAINS].data, expected.witnesses[MAINS].data
        )
        assert elapsed < SLACK


def test_start_newest_and_explicit(tmp_path, small_sim) -> None:
    small_sim.write_stretch(tmp_path, GPS, 3)
    assert FrameFollower(stream(tmp_path)).next_second().gps == GPS + 2
    explicit = FrameFollower(stream(tmp_path), start=GPS + 1)
    assert explicit.next_second().gps == GPS + 1


def test_no_frames_at_all_times_out(tmp_path) -> None:
    follower = FrameFollower(stream(tmp_path, start_timeout=0.3))
    tic = time.monotonic()
    with pytest.raises(TimeoutError, match="first frame"):
        follower.next_second()
    assert time.monotonic() - tic < 0.3 + SLACK


def test_drop_with_newer_frame(tmp_path, small_sim) -> None:
    small_sim.write_stretch(tmp_path, GPS, 3, faults={GPS + 1: Fault.DROP})
    follower = FrameFollower(stream(tmp_path), start=GPS)
    assert not follower.next_second().dropped
    second, elapsed = timed(follower)
    assert second.gps == GPS + 1 and second.dropped
    assert "newer frame exists" in second.reason
    assert elapsed < 0.1 + SLACK  # late_grace, not the full timeout
    assert follower.next_second().gps == GPS + 2


def test_drop_at_the_live_edge(tmp_path, small_sim) -> None:
    small_sim.write(GPS, tmp_path)
    follower = FrameFollower(stream(tmp_path), start=GPS)
    follower.next_second()
    second, elapsed = timed(follower)
    # due 1 s after GPS was seen, dropped frame_timeout later
    assert second.dropped and second.gps == GPS + 1
    assert 1.0 + TIMEOUT - 0.05 <= elapsed < 1.0 + TIMEOUT + SLACK


@pytest.mark.parametrize("delay, dropped", [(0.1, False), (0.8, True)])
def test_late_frame(tmp_path, small_sim, delay, dropped) -> None:
    config = stream(tmp_path, start_timeout=0.5)
    # the first frame is late too: it is due as soon as we start waiting
    thread = small_sim.write(GPS, tmp_path, Fault.LATE, delay=delay)
    follower = FrameFollower(config, start=GPS)
    second, elapsed = timed(follower)
    thread.join(timeout=5)
    assert second.dropped is dropped
    if dropped:
        assert "no frame" in second.reason
        assert elapsed < TIMEOUT + SLACK
    else:
        np.testing.assert_array_equal(
            second.strain.data, small_sim.second(GPS).strain
        )


def test_partial_write_that_completes(tmp_path, small_sim) -> None:
    thread = small_sim.write(GPS, tmp_path, Fault.PARTIAL)  # 0.2 s pause
    follower = FrameFollower(stream(tmp_path, frame_timeout=1.0), start=GPS)
    second, elapsed = timed(follower)
    thread.join(timeout=5)
    assert not second.dropped
    assert elapsed >= 0.15  # it had to wait for the second half
    np.testing.assert_array_equal(
        second.strain.data, small_sim.second(GPS).strain
    )


def test_partial_write_that_does_not_complete_in_time(
    tmp_path, small_sim
) -> None:
    slow = type(small_sim)(replace(small_sim.config, partial_pause=1.0))
    thread = slow.write(GPS, tmp_path, Fault.PARTIAL)
    follower = FrameFollower(stream(tmp_path), start=GPS)
    second, elapsed = timed(follower)
    thread.join(timeout=5)
    assert second.dropped and "cannot read" in second.reason
    assert elapsed < TIMEOUT + SLACK


def test_corrupt_frame(tmp_path, small_sim) -> None:
    small_sim.write_stretch(tmp_path, GPS, 2, faults={GPS: Fault.CORRUPT})
    follower = FrameFollower(stream(tmp_path), start=GPS)
    second, elapsed = timed(follower)
    assert second.dropped and "cannot read" in second.reason
    assert elapsed < TIMEOUT + SLACK
    assert not follower.next_second().dropped


@pytest.mark.parametrize(
    "fault, words",
    [
        (Fault.MISSING_CHANNEL, f"channel {FEW_WITNESSES[-1]} missing"),
        (Fault.NAN_STRAIN, f"{STRAIN} in GPS {GPS} holds non-finite"),
        (Fault.NAN_WITNESS, f"{MAINS} in GPS {GPS} holds non-finite"),
    ],
)
def test_bad_content_is_dropped_at_once(tmp_path, small_sim, fault, words):
    small_sim.write_stretch(tmp_path, GPS, 2, faults={GPS: fault})
    follower = FrameFollower(stream(tmp_path), start=GPS)
    second, elapsed = timed(follower)
    assert second.dropped and words in second.reason
    assert elapsed < SLACK
    assert not follower.next_second().dropped


def test_absurd_samples_are_dropped_at_once(tmp_path, small_sim) -> None:
    """A finite sample no real channel holds (1e154: garbage, swapped
    bytes) is bad data, dropped like NaN (found by review: the strain's
    squares overflowed in the AR extension and the cleaner crash-looped
    on the file)."""
    small_sim.write_stretch(tmp_path, GPS, 2)
    path = simwriter.strain_path(tmp_path, IFO, GPS)
    frame = read_frame(path)
    data = {name: series.data.copy() for name, series in frame.items()}
    data[STRAIN][100] = 1e154
    rates = {name: series.sample_rate for name, series in frame.items()}
    write_frame(path, data, GPS, rates, overwrite=True)
    follower = FrameFollower(stream(tmp_path), start=GPS)
    second, elapsed = timed(follower)
    assert second.dropped
    assert f"{STRAIN} in GPS {GPS} holds samples beyond" in second.reason
    assert elapsed < SLACK
    assert not follower.next_second().dropped


def test_not_ready_is_data(tmp_path, small_sim) -> None:
    """Readiness is judged downstream; the follower passes the state on."""
    small_sim.write(GPS, tmp_path, Fault.NOT_READY)
    second = FrameFollower(stream(tmp_path), start=GPS).next_second()
    assert not second.dropped
    assert set(second.state.data) == {small_sim.config.state_not_ready}


def test_stream_down_and_back_up(tmp_path, small_sim, caplog) -> None:
    faults = {GPS + k: Fault.DROP for k in range(1, 5)}
    small_sim.write_stretch(tmp_path, GPS, 6, faults=faults)
    follower = FrameFollower(stream(tmp_path), start=GPS)
    tic = time.monotonic()
    with caplog.at_level(logging.INFO, logger="utils.follower"):
        seconds = [follower.next_second() for _ in range(5)]
        assert [s.dropped for s in seconds] == [False] + [True] * 4
        assert follower.down and follower.consecutive_drops == 4
        back = follower.next_second()
    assert back.gps == GPS + 5 and not back.dropped
    assert not follower.down and follower.consecutive_drops == 0
    down = [r for r in caplog.records if "stream down" in r.getMessage()]
    assert len(down) == 1 and down[0].levelno == logging.ERROR
    assert "stream back at GPS" in caplog.text
    assert time.monotonic() - tic < 4 * 0.1 + 2 * SLACK


# -- hostile files: a name is a claim, not a proof --------------------------
LATENCY = 0.3  # s, the live writer's delay after a second has ended
LIVE_SLACK = 0.4  # s, a live frame is read within this of its arrival


class LiveWriter:
    """Writes second ``G`` at the end of ``G`` on the GPS clock plus
    :data:`LATENCY` (as LIGO's writer does), from ``first`` on, in a
    thread; ``skip`` seconds are never written, ``slow_from`` on they come
    ``extra`` seconds later. With ``witness_lag`` the witness frames are a
    stream of their own, that many seconds behind the strain frames (as
    two writers on two hosts). With ``batch`` the seconds come that many
    at once, when the last of them is due (a writer that delivers in
    bulk: written aside, then moved in at once)."""

    def __init__(
        self,
        sim,
        data_dir: Path,
        first: int,
        count: int,
        skip=(),
        slow_from: int | None = None,
        extra: float = 0.0,
        witness_lag: float = 0.0,
        batch: int = 1,
    ):
        self.sim, self.data_dir = sim, data_dir
        self.seconds = range(first, first + count)
        self.skip, self.slow_from, self.extra = set(skip), slow_from, extra
        self.witness_lag = witness_lag
        self.batch = batch
        self.arrived: dict[int, float] = {}  # both files there
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def due(self, gps: int) -> float:
        first = self.seconds.start
        gps = first + ((gps - first) // self.batch + 1) * self.batch - 1
        slow = self.slow_from is not None and gps >= self.slow_from
        return gps_to_unix(gps + 1) + LATENCY + (self.extra if slow else 0)

    def _run(self) -> None:
        if self.batch > 1:
            self._run_batches()
            return
        if not self.witness_lag:
            for gps in self.seconds:
                time.sleep(max(0.0, self.due(gps) - time.time()))
                if gps not in self.skip:
                    self.sim.write(gps, self.data_dir, overwrite=True)
                    self.arrived[gps] = time.time()
            return
        writes = sorted(
            [(self.due(g), g, "strain") for g in self.seconds]
            + [
                (self.due(g) + self.witness_lag, g, "witness")
                for g in self.seconds
            ]
        )
        for due, gps, kind in writes:
            time.sleep(max(0.0, due - time.time()))
            if gps not in self.skip:
                write_file(self.sim, self.data_dir, gps, kind)
                if kind == "witness":
                    self.arrived[gps] = time.time()

    def _run_batches(self) -> None:
        """Each batch written aside beforehand, then moved in at once
        when due (as a copy that renames its files at the end)."""
        stage = self.data_dir / ".stage"
        first, stop = self.seconds.start, self.seconds.stop
        for start in range(first, stop, self.batch):
            group = range(start, min(start + self.batch, stop))
            group = [g for g in group if g not in self.skip]
            for gps in group:
                self.sim.write(gps, stage, overwrite=True)
            time.sleep(max(0.0, self.due(start) - time.time()))
            for gps in group:
                moves = zip(
                    simwriter_paths(stage, gps),
                    simwriter_paths(self.data_dir, gps),
                    strict=True,
                )
                for staged, path in moves:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    staged.replace(path)
                self.arrived[gps] = time.time()

    def join(self) -> None:
        self.thread.join(timeout=len(self.seconds) + 10)


def live_gps() -> int:
    """The GPS second now ending: written by the live writer in ~1 s."""
    return int(gps_now())


def copy_second(sim, data_dir: Path, source: int, target: int) -> None:
    """Second ``source``'s real frames under the names of ``target``."""
    second = sim.second(source)
    for path, channels, rates in simwriter.frame_jobs(
        sim, second, *simwriter_paths(data_dir, target)
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_frame(path, channels, source, rates, overwrite=True)


def write_file(sim, data_dir: Path, gps: int, kind: str) -> None:
    """Second ``gps``'s ``kind`` frame (``strain`` or ``witness``) alone,
    atomically."""
    second = sim.second(gps)
    witness, strain = simwriter.frame_jobs(
        sim, second, *simwriter_paths(data_dir, gps)
    )
    path, channels, rates = strain if kind == "strain" else witness
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    write_frame(temp, channels, gps, rates, overwrite=True)
    temp.replace(path)


def simwriter_paths(data_dir: Path, gps: int) -> tuple[Path, Path]:
    return (
        simwriter.witness_path(data_dir, IFO, gps),
        simwriter.strain_path(data_dir, IFO, gps),
    )


def follow(follower: FrameFollower, count: int) -> list:
    return [follower.next_second() for _ in range(count)]


def assert_all_real(seconds, sim, writer: LiveWriter) -> None:
    """Every second read (none dropped), with its own data, on time."""
    for second in seconds:
        assert not second.dropped, second.reason
        np.testing.assert_array_equal(
            second.strain.data, sim.second(second.gps).strain
        )
        assert second.seen_at - writer.arrived[second.gps] < LIVE_SLACK


def live_stream(tmp_path: Path, **kwargs) -> StreamConfig:
    # a live writer: frame_timeout as in production, above its jitter
    return stream(
        tmp_path,
        **{
            "frame_timeout": 1.0,
            "late_grace": 0.2,
            "start_timeout": 5.0,
            **kwargs,
        },
    )


def test_early_copy_later_replaced_costs_nothing(
    tmp_path, small_sim, caplog
) -> None:
    """Second G's frames under the names of G+3, 3 s early; the real G+3
    replaces them on time. Nothing is dropped, G+3 is the real G+3 (never
    the copy), and the schedule stays on the GPS clock afterwards."""
    first = live_gps() + 1
    writer = LiveWriter(small_sim, tmp_path, first, 9)
    follower = FrameFollower(live_stream(tmp_path), start=first)
    with caplog.at_level(logging.WARNING, logger="utils.follower"):
        seconds = follow(follower, 2)  # in step with the writer
        copy_second(small_sim, tmp_path, first + 1, first + 4)
        seconds += follow(follower, 7)
    writer.join()
    assert [s.gps for s in seconds] == list(range(first, first + 9))
    assert_all_real(seconds, small_sim, writer)
    assert follower.events["mislabelled"] >= 1
    assert f"holds GPS {first + 1}.000000" in caplog.text
    assert f"its name claims {first + 4}" in caplog.text


@pytest.mark.parametrize(
    "ahead, content",
    [(6, "copy"), (6, "junk"), (3600, "copy"), (100000, "junk")],
)
def test_future_stray_drops_nothing(
    tmp_path, small_sim, caplog, ahead, content
) -> None:
    """A strain file named for a second ``ahead`` of the newest (a copy of
    a real frame with its witness file, or junk) drops no second before
    it; each stray file is reported once by name and counted."""
    first = live_gps() + 1
    writer = LiveWriter(small_sim, tmp_path, first, 6, skip={first + 3})
    follower = FrameFollower(live_stream(tmp_path), start=first)
    stray = simwriter.strain_path(tmp_path, IFO, first + ahead)
    with caplog.at_level(logging.WARNING, logger="utils.follower"):
        seconds = follow(follower, 1)
        if content == "copy":
            copy_second(small_sim, tmp_path, first, first + ahead)
        else:
            stray.parent.mkdir(parents=True, exist_ok=True)
            stray.write_bytes(b"\0" * 1000)
        tic = time.time()
        seconds += follow(follower, 5)
    writer.join()
    real = [s for s in seconds if s.gps != first + 3]
    assert_all_real(real, small_sim, writer)
    # the second the writer never wrote is dropped on the GPS clock
    # schedule, not at once because of the stray
    gone = seconds[3]
    assert gone.dropped and "a newer frame exists" not in gone.reason
    assert time.time() - tic > 2.0
    reports = [r for r in caplog.records if str(stray) in r.getMessage()]
    assert len(reports) == 1 and "cannot have ended yet" in reports[0].msg
    # each stray file once: a copy is a strain and a witness file
    assert follower.events["future_file"] == (2 if content == "copy" else 1)


def test_a_flood_of_future_strays_is_reported_once(
    tmp_path, small_sim, caplog
):
    """More strays from the future than the follower names in an hour (a
    runaway writer, a wrong clock): each is counted once, named once at
    most, and the rest said once at ERROR, across repeated listings and
    as strays come and go (found by review: past 1000 the names were
    forgotten and every listing named them all again; then the cap was
    for the life of the process; then, forgotten when gone, a writer
    whose strays are pruned as it goes was named for ever)."""
    now = live_gps()
    small_sim.write(now - 1, tmp_path)
    strain_dir = stream(tmp_path).strain_dir
    strays = [
        strain_dir / strain_name(IFO, gps)
        for gps in range(now + 100, now + 100 + MAX_REPORTED + 50)
    ]
    for path in strays:
        path.touch()
    later = strain_dir / strain_name(IFO, now + 5000)

    def prune() -> None:
        time.sleep(1.3)  # after the first listing, before the third
        for path in strays:
            path.unlink()
        later.touch()

    config = stream(tmp_path, frame_timeout=3.5)
    follower = FrameFollower(config, start=now - 1)
    follower.next_second()
    thread = threading.Thread(target=prune)
    with caplog.at_level(logging.WARNING, logger="utils.follower"):
        thread.start()
        second, elapsed = timed(follower)  # never written: lists each second
    thread.join()
    assert second.dropped and elapsed > 3.0
    assert follower.events["future_file"] == MAX_REPORTED + 51
    named = [r for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(named) == MAX_REPORTED
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "runaway writer" in errors[0].message


def test_a_newer_strain_frame_cuts_no_witness_wait(tmp_path, small_sim):
    """Strain G+1 lands a moment before strain G (the reordering
    ``late_grace`` is for), and G's witness frame comes 1.5 s later
    (a lagging witness stream): once strain G is there, only the
    witness is missing, and its stream has not moved on: G is read
    (found by review: the early strain frame's evidence was kept, and G
    dropped after late_grace)."""
    first = live_gps() - 3
    write_file(small_sim, tmp_path, first, "strain")
    write_file(small_sim, tmp_path, first, "witness")
    config = stream(tmp_path, frame_timeout=3.0, late_grace=0.5)
    follower = FrameFollower(config, start=first)
    assert not follower.next_second().dropped
    write_file(small_sim, tmp_path, first + 2, "strain")

    def later() -> None:
        time.sleep(0.1)
        write_file(small_sim, tmp_path, first + 1, "strain")
        time.sleep(1.4)
        write_file(small_sim, tmp_path, first + 1, "witness")

    thread = threading.Thread(target=later)
    thread.start()
    second = follower.next_second()
    thread.join()
    assert not second.dropped, second.reason


def test_start_newest_follows_the_live_strain_stream(tmp_path, small_sim):
    """The witness stream stopped 30 s ago: a fresh start is at the newest
    strain frame, and the seconds without witnesses are dropped on time
    (found by review: a start at the newest second both streams held, 30
    s old, ran 30 s late for as long as the witness stream was down)."""
    now = live_gps()
    for gps in range(now - 40, now):
        write_file(small_sim, tmp_path, gps, "strain")
        if gps < now - 30:
            write_file(small_sim, tmp_path, gps, "witness")
    follower = FrameFollower(stream(tmp_path))
    seconds = follow(follower, 3)
    assert seconds[0].gps == now - 1
    assert "no witness frame" in seconds[0].reason
    assert all(s.dropped for s in seconds)
    assert gps_now() - (seconds[-1].gps + 1) < TIMEOUT + SLACK


def test_a_stale_backlog_does_not_set_the_pace(tmp_path, small_sim):
    """The writers stopped a minute ago; a follower (a restart) reads the
    last three seconds they wrote, then finds nothing: it drops the next
    second late once (the backlog's age bounded the writers' latency),
    then catches up with the GPS clock and drops each later second on
    time (found by review: the backlog's age stayed the pace, every
    second dropped a minute late for as long as the writers were down)."""
    now = live_gps()
    small_sim.write_stretch(tmp_path, now - 62, 3)
    follower = FrameFollower(stream(tmp_path), start=now - 62)
    assert not any(s.dropped for s in follow(follower, 3))
    tic = time.monotonic()
    seconds = follow(follower, 62)  # to the second after the one now
    assert all(s.dropped for s in seconds)
    lag = gps_now() - (seconds[-1].gps + 1)
    assert lag < TIMEOUT + SLACK
    assert time.monotonic() - tic < 4.0 + 2 * SLACK


def test_nothing_to_read_does_not_fall_behind(tmp_path) -> None:
    """No frames at all, a start 3 s back (a restart whose raw writer is
    down): the first second gets its frame_timeout, every later one
    past its end is dropped at once, and the follower catches up with
    the GPS clock (found by review: each cost frame_timeout, 2 s, and
    the follower fell a second further behind every second)."""
    config = stream(tmp_path, frame_timeout=2.0)
    follower = FrameFollower(config, start=live_gps() - 3)
    lags = [gps_now() - (s.gps + 1) for s in follow(follower, 6)]
    assert lags[-1] < 2.0 + SLACK and lags[-1] <= lags[0]


def test_a_folder_named_as_the_next_second_is_no_newer_frame(
    tmp_path, small_sim
):
    """A folder at the next second's strain name (a hand-made mistake)
    does not cut the wait for a late second to ``late_grace``."""
    small_sim.write(GPS, tmp_path)
    (stream(tmp_path).strain_dir / strain_name(IFO, GPS + 2)).mkdir()
    thread = small_sim.write(GPS + 1, tmp_path, Fault.LATE, delay=0.25)
    follower = FrameFollower(stream(tmp_path), start=GPS)
    follow(follower, 1)
    second = follower.next_second()
    thread.join(timeout=5)
    assert not second.dropped, second.reason


def test_mislabelled_frame_is_never_data(tmp_path, small_sim, caplog):
    """A valid pair of second G under the names of G+11, never replaced,
    is dropped after its timeout as mislabelled, read once, and the next
    second is read normally."""
    small_sim.write_stretch(tmp_path, GPS, 2)
    copy_second(small_sim, tmp_path, GPS, GPS + 2)
    small_sim.write(GPS + 3, tmp_path)
    follower = FrameFollower(stream(tmp_path), start=GPS)
    follow(follower, 2)
    with caplog.at_level(logging.WARNING, logger="utils.follower"):
        second, elapsed = timed(follower)
    assert second.gps == GPS + 2 and second.dropped
    assert f"holds GPS {GPS}.000000" in second.reason
    assert f"its name claims {GPS + 2}" in second.reason
    assert elapsed >= TIMEOUT - 0.05 or "newer frame" in second.reason
    assert follower.events["mislabelled"] == 1  # unchanged: read once
    assert not follower.next_second().dropped


def test_wrong_duration_is_mislabelled(tmp_path, small_sim) -> None:
    """Two seconds of samples in a file named for one."""
    sim = small_sim.second(GPS)
    strain, witness = simwriter.strain_path, simwriter.witness_path
    small_sim.write(GPS, tmp_path)
    write_frame(
        strain(tmp_path, IFO, GPS),
        {STRAIN: np.tile(sim.strain, 2), STATE: np.tile(sim.state, 2)},
        GPS,
        {STRAIN: 16384, STATE: 16},
        overwrite=True,
    )
    assert witness(tmp_path, IFO, GPS).exists()
    second = FrameFollower(stream(tmp_path), start=GPS).next_second()
    assert second.dropped and "(2 s), its name claims 1 s" in second.reason


def test_drop_names_the_missing_file(tmp_path, small_sim) -> None:
    small_sim.write(GPS, tmp_path)
    simwriter.witness_path(tmp_path, IFO, GPS).unlink()
    second = FrameFollower(stream(tmp_path), start=GPS).next_second()
    assert second.dropped
    assert "no witness frame" in second.reason
    assert str(simwriter.witness_path(tmp_path, IFO, GPS)) in second.reason
    assert "llhoft" not in second.reason


def test_falls_back_in_step_with_a_slower_writer(
    tmp_path, small_sim, caplog
) -> None:
    """The writer becomes 2.5 s slower (more than frame_timeout): the
    seconds that came too late are dropped, then the follower learns the
    new latency from them and reads every later second again."""
    first = live_gps() + 1
    writer = LiveWriter(
        small_sim, tmp_path, first, 10, slow_from=first + 3, extra=2.5
    )
    follower = FrameFollower(live_stream(tmp_path), start=first)
    with caplog.at_level(logging.WARNING, logger="utils.follower"):
        seconds = follow(follower, 10)
    writer.join()
    dropped = [s.gps for s in seconds if s.dropped]
    assert len(dropped) <= 2 and all(g >= first + 3 for g in dropped)
    assert_all_real(seconds[-5:], small_sim, writer)
    assert follower.events["late_after_drop"] >= 1
    assert "arrived after it was dropped" in caplog.text


def test_a_writer_that_delivers_in_bulk_costs_nothing(
    tmp_path, small_sim
) -> None:
    """The writer delivers 4 seconds at once (the first of each batch 3.3 s
    after its end, more than ``frame_timeout``). Once the follower has
    learnt that from the first batch, it waits that long for the first
    second of each later batch: the last of a batch, there sooner after
    its end, is no sign of a faster writer (found by review: half of
    every batch was dropped)."""
    first = live_gps() + 1
    writer = LiveWriter(small_sim, tmp_path, first, 12, batch=4)
    # frame_timeout as in production: the margin a loaded machine needs
    config = live_stream(tmp_path, frame_timeout=2.0)
    follower = FrameFollower(config, start=first)
    seconds = follow(follower, 12)
    writer.join()
    dropped = [s.gps for s in seconds if s.dropped]
    # the first batch came too late for a follower that knew nothing of
    # the writer (as with any slow writer)
    assert set(dropped) < set(range(first, first + 4)), dropped
    assert_all_real(seconds[4:], small_sim, writer)


def scheduled(sim, data_dir: Path, schedule) -> threading.Thread:
    """Write each ``(wall time, gps)`` of ``schedule`` (both files of the
    real second), or ``(wall time, gps, kind)`` (that stream's file
    alone), in order of time, in a thread."""

    def run() -> None:
        for when, gps, *kind in sorted(schedule):
            time.sleep(max(0.0, when - time.time()))
            if kind:
                write_file(sim, data_dir, gps, kind[0])
            else:
                sim.write(gps, data_dir, overwrite=True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_stall_does_not_slow_the_next_outage(tmp_path, small_sim):
    """The writer stalls once (second first+3 comes 3.2 s after its end,
    after it was dropped; the next three with it), runs on time for three
    seconds, then stops. The stall's late file set the latency only
    until the next file waited for: the seconds of the outage are dropped
    ``frame_timeout`` after the writer's pace of then, not the stall's
    (found by review)."""
    first = live_gps() + 1
    end = gps_to_unix
    schedule = [(end(g + 1) + LATENCY, g) for g in range(first, first + 3)]
    schedule.append((end(first + 4) + 3.2, first + 3))
    schedule += [
        (end(first + 4) + 3.4, g) for g in range(first + 4, first + 7)
    ]
    schedule += [
        (end(g + 1) + LATENCY, g) for g in range(first + 7, first + 10)
    ]
    thread = scheduled(small_sim, tmp_path, schedule)
    follower = FrameFollower(live_stream(tmp_path), start=first)
    lags = []
    for _ in range(13):
        second = follower.next_second()
        lags.append(
            (second.gps, second.dropped, time.time() - end(second.gps + 1))
        )
    thread.join(timeout=30)
    assert not any(d for g, d, _ in lags if first + 7 <= g < first + 10), lags
    outage = [(d, lag) for g, d, lag in lags if g >= first + 10]
    assert all(d for d, _ in outage), lags
    assert max(lag for _, lag in outage) < LATENCY + 1.0 + SLACK, lags


def test_a_stall_flushed_just_before_an_outage_delays_one_drop(
    tmp_path, small_sim
) -> None:
    """On time for 3 s; then seconds are held back and flushed at once 6 s
    after the end of the first of them; then the writer stops. The flush
    looks like a bulk writer's first batch, so the first second of the
    outage waits as long; that drop forgets the latency only late files
    raised, and the follower is back at the writer's pace of before
    (found by review: every second of the outage 7 s late)."""
    first = live_gps() + 1
    end = gps_to_unix
    flush = end(first + 4) + 6.0
    schedule = [(end(g + 1) + LATENCY, g) for g in range(first, first + 3)]
    schedule += [
        (flush, g)
        for g in range(first + 3, first + 20)
        if end(g + 1) + LATENCY < flush
    ]
    last = schedule[-1][1]
    thread = scheduled(small_sim, tmp_path, schedule)
    follower = FrameFollower(live_stream(tmp_path), start=first)
    lags = []
    while not lags or lags[-1][0] < last + 10:
        second = follower.next_second()
        lag = time.time() - end(second.gps + 1)
        lags.append((second.gps, second.dropped, lag))
    thread.join(timeout=30)
    outage = [(d, lag) for g, d, lag in lags if g > last]
    assert all(d for d, _ in outage), lags
    assert outage[0][1] < 6.0 + 1.0 + SLACK, lags
    assert max(lag for _, lag in outage[-4:]) < LATENCY + 1.0 + SLACK, lags


def test_a_strain_stall_under_a_lagging_witness_does_not_slow_outages(
    tmp_path, small_sim
) -> None:
    """The witness writer lags the strain's by 2.5 s, so the strain file
    is there before the follower comes to it. The strain writer stalls
    once (7 seconds flushed 6.5 s late), then both run on time, then both
    stop: the seconds of the outage are dropped ``frame_timeout`` after
    the witness stream's pace, not the stall's (found by review: a
    stream never waited for kept the stall's latency for good)."""
    lag = 2.5
    first = live_gps() + 1
    end = gps_to_unix
    last = first + 12  # the writers stop after it
    flush = end(first + 4) + 6.5
    writes = []
    for g in range(first, last + 1):
        strain_at = end(g + 1) + LATENCY
        if g >= first + 3:
            strain_at = max(strain_at, flush)
        writes.append((strain_at, g, "strain"))
        writes.append((end(g + 1) + LATENCY + lag, g, "witness"))
    thread = scheduled(small_sim, tmp_path, writes)
    follower = FrameFollower(live_stream(tmp_path), start=first)
    lags = []
    for _ in range(last - first + 4):
        second = follower.next_second()
        lag_now = time.time() - end(second.gps + 1)
        lags.append((second.gps - first, second.dropped, lag_now))
    thread.join(timeout=30)
    assert not any(d for g, d, _ in lags if 10 <= g <= 12), lags
    outage = [(d, t) for g, d, t in lags if g > 12]
    assert all(d for d, _ in outage), lags
    assert max(t for _, t in outage) < LATENCY + lag + 1.0 + SLACK, lags


def test_a_gap_right_after_a_slowdown_costs_only_the_gap(
    tmp_path, small_sim
) -> None:
    """The writer becomes 2.5 s slower, then skips two seconds: the
    latency its late files raised, confirmed by the next file waited for
    (as late), outlasts the gap's drops (found by review: two real
    seconds after the gap were dropped on the old pace)."""
    first = live_gps() + 1
    writer = LiveWriter(
        small_sim,
        tmp_path,
        first,
        12,
        skip={first + 6, first + 7},
        slow_from=first + 3,
        extra=2.5,
    )
    follower = FrameFollower(live_stream(tmp_path), start=first)
    seconds = follow(follower, 12)
    writer.join()
    dropped = [s.gps - first for s in seconds if s.dropped]
    assert set(dropped) <= {3, 4, 6, 7}, dropped


def test_a_fresh_start_under_two_slow_writers(tmp_path, small_sim) -> None:
    """The witness writer 2.5 s late, the strain's 6.5 s: a drop for the
    missing strain file does not forget what the witness stream's late
    files taught (found by review: twice the seconds were lost)."""
    first = live_gps() + 1
    end = gps_to_unix
    count = 10
    writes = []
    for g in range(first, first + count):
        writes.append((end(g + 1) + LATENCY + 6.5, g, "strain"))
        writes.append((end(g + 1) + LATENCY + 2.5, g, "witness"))
    thread = scheduled(small_sim, tmp_path, writes)
    follower = FrameFollower(live_stream(tmp_path), start=first)
    seconds = follow(follower, count)
    thread.join(timeout=30)
    dropped = [s.gps - first for s in seconds if s.dropped]
    assert set(dropped) <= {0, 1, 2}, dropped


@pytest.mark.parametrize("down", ["witness", "strain"])
def test_a_start_on_a_backlog_with_one_writer_down_catches_up(
    tmp_path, small_sim, down
) -> None:
    """Started 30 s behind, the other writer live, this one down for the
    last 10 s: the outage's seconds are given up at once, then
    ``frame_timeout`` after the live writer's pace, not the backlog's age
    (found by review: every one 12 s after its end, for good)."""
    up = "strain" if down == "witness" else "witness"
    now = live_gps()
    end = gps_to_unix
    stopped = now - 10  # the down writer's first missing second
    for g in range(now - 30, now):
        write_file(small_sim, tmp_path, g, up)
        if g < stopped:
            write_file(small_sim, tmp_path, g, down)
    writes = [(end(g + 1) + LATENCY, g, up) for g in range(now, now + 12)]
    thread = scheduled(small_sim, tmp_path, writes)
    config = live_stream(tmp_path, frame_timeout=2.0)
    follower = FrameFollower(config, start=now - 30)
    lags = []
    while (not lags or lags[-1][0] < 8) and len(lags) < 45:
        second = follower.next_second()
        lag = time.time() - end(second.gps + 1)
        lags.append((second.gps - now, second.dropped, lag))
    thread.join(timeout=30)
    assert not any(d for g, d, _ in lags if g < -10), lags
    assert all(d for g, d, _ in lags if g >= -10), lags
    live = [lag for g, _, lag in lags if g >= 2]
    assert max(live) < 2.0 + SLACK, lags


def test_a_replay_faster_than_real_time_that_stops_is_given_up_in_time(
    tmp_path, small_sim
) -> None:
    """Stored seconds (long past) written at 4x real time, each waited
    for, then the writer stops: the next second is dropped
    ``frame_timeout`` after it would have come, not after the pace of
    the first seconds read (found by review: 12 s late)."""
    start = time.time() + 0.5
    count = 16
    schedule = [(start + (k + 1) / 4.0, GPS + k) for k in range(count)]
    thread = scheduled(small_sim, tmp_path, schedule)
    follower = FrameFollower(live_stream(tmp_path), start=GPS)
    seconds = follow(follower, count)
    thread.join(timeout=30)
    assert not any(s.dropped for s in seconds), [s.reason for s in seconds]
    gone = follower.next_second()
    assert gone.dropped and gone.gps == GPS + count
    assert time.time() - seconds[-1].seen_at < 1.0 + 1.0 + SLACK


def test_a_stray_ahead_of_a_slowed_writer_drops_no_good_second(
    tmp_path, small_sim
) -> None:
    """The writer becomes 2.5 s slower; once the follower is in step
    again, a copy named for a second 3 ahead of the one waited for (3.5 s
    ahead of the writer's clock, more than ``future_tolerance``) is no
    newer frame: the real seconds before it are read (found by review:
    the writer's pace from before it slowed let the stray drop three)."""
    first = live_gps() + 1
    writer = LiveWriter(
        small_sim, tmp_path, first, 12, slow_from=first + 3, extra=2.5
    )
    follower = FrameFollower(live_stream(tmp_path), start=first)
    seconds = follow(follower, 7)
    assert not any(s.dropped for s in seconds[-2:]), seconds  # in step
    copy_second(small_sim, tmp_path, first, first + 10)
    seconds = follow(follower, 3)
    writer.join()
    assert [s.gps for s in seconds] == [first + 7, first + 8, first + 9]
    assert not any(s.dropped for s in seconds), [s.reason for s in seconds]


def test_a_lagging_witness_stream_costs_nothing(
    tmp_path, small_sim, caplog
) -> None:
    """The witness frames come 2.5 s after the strain frames (more than
    ``late_grace``, a second and ``frame_timeout``): a newer strain frame
    is no sign that a witness frame is gone. Once the follower has learnt
    the witness writer's latency (from the first seconds, which came too
    late for a follower that knew nothing of it, as with any slow writer)
    every second is read as soon as its witness frame is there; a second
    the writers never wrote is still dropped as soon as the strain stream
    has moved on, and no real strain frame is taken for a stray from the
    future."""
    first = live_gps() + 1
    writer = LiveWriter(
        small_sim, tmp_path, first, 9, skip={first + 6}, witness_lag=2.5
    )
    follower = FrameFollower(live_stream(tmp_path), start=first)
    with caplog.at_level(logging.WARNING, logger="utils.follower"):
        seconds = follow(follower, 9)
    writer.join()
    dropped = [s.gps for s in seconds if s.dropped]
    assert set(dropped) - {first, first + 1} == {first + 6}, dropped
    assert "arrived after it was dropped" in caplog.text
    learnt = re.search(
        r"witness writer's latency is now ([0-9.]+)", caplog.text
    )
    assert 2.7 <= float(learnt[1]) < LATENCY + 2.5 + SLACK
    # dropped once the strain writer has written the next second, not a
    # frame_timeout after the witness clock said it was due
    assert seconds[6].reason.endswith("a newer frame exists")
    real = [s for s in seconds[2:] if s.gps != first + 6]
    assert_all_real(real, small_sim, writer)
    assert follower.events["future_file"] == 0, caplog.text


def test_a_witness_stream_lagging_10_s_is_found_again(
    tmp_path, small_sim
) -> None:
    """A fresh start while the witness writer lags 10 s (more than
    ``frame_timeout`` plus the 8 dropped seconds once watched): the
    seconds before the first late witness file are dropped, then the
    follower has learnt the lag from it and reads every later second
    (found by review: every second was dropped for good with both
    writers healthy)."""
    now = live_gps()
    writer = LiveWriter(small_sim, tmp_path, now - 12, 30, witness_lag=10.0)
    time.sleep(1.0)  # the writers have a backlog
    follower = FrameFollower(live_stream(tmp_path), start="newest")
    seconds = follow(follower, 16)
    writer.join()
    dropped = [s.gps - seconds[0].gps for s in seconds if s.dropped]
    assert dropped == list(range(len(dropped))) and len(dropped) <= 11
    assert follower.events["late_after_drop"] >= 1
    assert_all_real(seconds[12:], small_sim, writer)


def test_start_newest_skips_a_future_file(tmp_path, small_sim) -> None:
    now = live_gps()
    small_sim.write_stretch(tmp_path, now - 3, 3)
    copy_second(small_sim, tmp_path, now - 1, now + 3600)
    follower = FrameFollower(live_stream(tmp_path))
    assert follower.next_second().gps == now - 1


def test_start_newest_is_of_the_strain_frames_only(
    tmp_path, small_sim
) -> None:
    """A newer file of another description in the strain folder (a
    stray) is not the newest strain frame: the follower starts at the
    real one instead of waiting for a second that never comes."""
    small_sim.write_stretch(tmp_path, GPS, 3)
    strain_dir = stream(tmp_path).strain_dir
    (strain_dir / f"L-{IFO}_R-{GPS + 5}-1.gwf").touch()
    assert FrameFollower(stream(tmp_path)).next_second().gps == GPS + 2


def test_stored_data_is_not_waited_for(tmp_path, small_sim) -> None:
    """wait=False: a missing second of stored data is dropped at once,
    also the last one (no newer frame to shorten a wait)."""
    small_sim.write_stretch(tmp_path, GPS, 2)
    follower = FrameFollower(
        stream(tmp_path, frame_timeout=30.0), start=GPS, wait=False
    )
    tic = time.monotonic()
    seconds = follow(follower, 3)
    assert [s.dropped for s in seconds] == [False, False, True]
    assert time.monotonic() - tic < SLACK
