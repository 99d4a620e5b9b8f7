"""FrameFollower on real files written by the simulator, under each fault.

Small timeouts (0.3 s) keep every case bounded; each test asserts both the
outcome and that it came within its time bound.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import FEW_WITNESSES, GPS, IFO, MAINS, STATE, STRAIN
from utils.follower import FrameFollower, StreamConfig
from utils.simulation import Fault

TIMEOUT = 0.3  # s, frame_timeout of these tests
SLACK = 0.5  # s, scheduling slack on a loaded 2-core machine


def stream(tmp_path: Path, **kwargs) -> StreamConfig:
    values = dict(
        data_dir=tmp_path, ifo=IFO, strain_channel=STRAIN,
        state_channel=STATE, witness_channels=FEW_WITNESSES,
        frame_timeout=TIMEOUT, late_grace=0.1, poll_interval=0.02,
        max_consecutive_drops=3, start_timeout=2.0,
    )  # fmt: skip
    values.update(kwargs)
    return StreamConfig(**values)


def timed(follower: FrameFollower):
    tic = time.monotonic()
    second = follower.next_second()
    return second, time.monotonic() - tic


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
