"""One back-off rule, a non-sleeping schedule and a bounded retry loop.

The failing call is a real TCP connection to a port nobody listens on,
later opened by a real listener."""

from __future__ import annotations

import logging
import math
import socket
import threading
import time

import pytest

from utils.retry import Backoff
from utils.retry import RetrySchedule
from utils.retry import retry
from utils.testing import free_port


def connect(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=1.0):
        return "connected"


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 2.0, 8.0)
    delays = [backoff.delay(failures) for failures in range(1, 7)]
    assert delays == [1, 2, 4, 8, 8, 8]
    assert backoff.delay(10_000) == 8.0  # no overflow
    assert Backoff(0.5, factor=1.0).delay(7) == 0.5  # fixed interval
    assert Backoff(0.0).delay(3) == 0.0
    with pytest.raises(ValueError):
        backoff.delay(0)


@pytest.mark.parametrize(
    "args", [(-1.0,), (2.0, 2.0, 1.0), (1.0, 0.5), (math.nan,)]
)
def test_backoff_rejects_nonsense(args: tuple) -> None:
    with pytest.raises(ValueError):
        Backoff(*args)


def test_schedule_never_sleeps() -> None:
    schedule = RetrySchedule(Backoff(1.0, 2.0, 4.0))
    assert schedule.due(0.0)
    assert schedule.failed(100.0) == 1.0
    assert not schedule.due(100.5) and schedule.due(101.0)
    assert schedule.failed(101.0) == 2.0
    assert schedule.failed(103.0) == 4.0
    assert schedule.failed(107.0) == 4.0
    assert (schedule.failures, schedule.next_time) == (4, 111.0)
    schedule.succeeded()
    assert schedule.due(-1e9) and schedule.failures == 0
    assert schedule.failed(200.0) == 1.0  # starts over


def test_retry_until_the_listener_is_up(caplog) -> None:
    port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def open_later() -> None:
        time.sleep(0.3)
        listener.bind(("127.0.0.1", port))
        listener.listen()

    opener = threading.Thread(target=open_later, name="opener")
    opener.start()
    caplog.set_level(logging.WARNING, logger="utils.retry")
    try:
        result = retry(
            lambda: connect(port),
            f"port {port}",
            Backoff(0.05, 2.0, 0.1),
            timeout=10.0,
        )
    finally:
        opener.join(timeout=5)
        listener.close()
    assert result == "connected"
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings and all(f"port {port}" in m for m in warnings)
    assert "attempt 1," in warnings[0]


def test_retry_gives_up_after_attempts(caplog) -> None:
    port = free_port()
    caplog.set_level(logging.WARNING, logger="utils.retry")
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=f"port {port} after 3") as info:
        retry(lambda: connect(port), f"port {port}", Backoff(0.05), attempts=3)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert len(caplog.records) == 3
    assert 0.15 <= time.monotonic() - start < 5.0  # slept 0.05 + 0.1


def test_retry_never_starts_an_attempt_past_the_timeout() -> None:
    port = free_port()
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="after 1 attempts"):
        retry(lambda: connect(port), "x", Backoff(5.0), timeout=1.0)
    assert time.monotonic() - start < 1.0  # did not sleep 5 s


def test_other_errors_are_not_retried() -> None:
    calls = []

    def bad() -> None:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        retry(bad, "bad", Backoff(0.01), attempts=5)
    assert calls == [1]


def test_stop_ends_the_sleep() -> None:
    port, stop = free_port(), threading.Event()
    threading.Timer(0.2, stop.set).start()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        retry(
            lambda: connect(port), "x", Backoff(30.0), timeout=60.0, stop=stop
        )
    assert time.monotonic() - start < 5.0


def test_retry_must_be_bounded() -> None:
    with pytest.raises(ValueError):
        retry(lambda: 1, "x", Backoff(1.0))
    with pytest.raises(ValueError):
        retry(lambda: 1, "x", Backoff(1.0), attempts=0)
