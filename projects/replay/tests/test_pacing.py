"""Pacing against a controlled clock (the wall clock is injected)."""

from __future__ import annotations

import threading
import time

from replay.pacing import Pacer
from replay.pacing import current_gps
from utils.gpstime import gps_now
from utils.gpstime import gps_to_unix


class Clock:
    """A wall clock that only moves when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_due_times() -> None:
    clock = Clock(1000.0)
    pacer = Pacer(5000, 2.0, threading.Event(), anchor=1000.0, clock=clock)
    assert pacer.due(5000) == 1000.5  # written when it has ended
    assert pacer.due(5003) == 1002.0
    clock.now = 1003.0
    assert pacer.lag(5003) == 1.0


def test_anchor_follows_the_gps_clock() -> None:
    start = current_gps()
    assert start <= gps_now() < start + 1
    pacer = Pacer(start, 1.0, threading.Event())
    assert pacer.due(start) == gps_to_unix(start + 1)
    # a start far from now is anchored at now instead
    tic = time.time()
    old = Pacer(1400000000, 1.0, threading.Event())
    assert tic <= old.anchor <= time.time()


def test_wait_returns_at_once_when_overdue_or_stopped() -> None:
    stop = threading.Event()
    clock = Clock(2000.0)
    pacer = Pacer(0, 1.0, stop, anchor=1000.0, clock=clock)
    tic = time.monotonic()
    assert pacer.wait(10) is True  # due at 1011: long overdue
    stop.set()
    assert pacer.wait(5000) is False  # would be due in the future
    assert time.monotonic() - tic < 0.5


def test_skip_to_after_a_long_stall() -> None:
    clock = Clock(1000.0)
    pacer = Pacer(0, 1.0, threading.Event(), anchor=1000.0, clock=clock)
    assert pacer.skip_to(0, 60) == 0
    clock.now = 1000.0 + 1 + 30  # second 0 is 30 s overdue: kept
    assert pacer.skip_to(0, 60) == 0
    clock.now = 1000.0 + 1 + 300  # 300 s overdue: jump to the one due now
    assert pacer.skip_to(0, 60) == 300
    assert pacer.lag(300) == 0.0
    assert pacer.skip_to(0, 0) == 0  # 0 never skips
