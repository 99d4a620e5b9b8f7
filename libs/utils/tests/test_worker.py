"""Background threads: real threads, real waits, bounded stops."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from utils.waiting import wait_for
from utils.worker import JobWorker
from utils.worker import Worker
from utils.worker import join_all


def test_steps_until_stopped() -> None:
    calls: list[float] = []
    worker = Worker("ticker", lambda: calls.append(time.monotonic()), 0.02)
    assert not worker.alive
    worker.start()
    wait_for(lambda: len(calls) >= 3, "three steps", timeout=5.0)
    assert worker.alive
    assert worker.stop(timeout=5.0)
    assert not worker.alive and worker.stopping
    count = len(calls)
    time.sleep(0.1)
    assert len(calls) == count  # no step after the stop


def test_wait_first_and_wake() -> None:
    calls: list[int] = []
    worker = Worker("waiter", lambda: calls.append(1), 60.0, wait_first=True)
    worker.start()
    time.sleep(0.1)
    assert calls == []  # still in the first 60 s wait
    worker.wake()
    wait_for(lambda: calls == [1], "the woken step", timeout=5.0)
    start = time.monotonic()
    assert worker.stop(timeout=5.0)  # ends the 60 s wait at once
    assert time.monotonic() - start < 5.0


def test_step_chooses_its_wait() -> None:
    calls: list[float] = []

    def step() -> float:
        calls.append(time.monotonic())
        return 0.01 if len(calls) < 5 else 60.0

    worker = Worker("paced", step, 60.0)
    worker.start()
    wait_for(lambda: len(calls) >= 5, "five quick steps", timeout=5.0)
    assert worker.stop(timeout=5.0)
    assert len(calls) == 5


def test_crash_is_logged_and_visible(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="utils.worker")

    def step() -> None:
        raise ZeroDivisionError("a bug")

    worker = Worker("buggy", step, 0.01)
    worker.start()
    wait_for(lambda: not worker.alive, "the crashed thread", timeout=5.0)
    assert isinstance(worker.error, ZeroDivisionError)
    [record] = caplog.records
    assert "buggy" in record.getMessage() and record.exc_info is not None


def test_stop_is_bounded_when_a_step_hangs(caplog) -> None:
    release = threading.Event()
    worker = Worker("stuck", lambda: release.wait(30.0), 0.01)
    worker.start()
    time.sleep(0.05)
    caplog.set_level(logging.WARNING, logger="utils.worker")
    start = time.monotonic()
    assert not worker.stop(timeout=0.2)
    assert time.monotonic() - start < 2.0
    assert "stuck" in caplog.records[-1].getMessage()
    release.set()
    wait_for(lambda: not worker.alive, "the released thread", timeout=5.0)


def test_stop_before_start() -> None:
    worker = Worker("idle", lambda: None, 1.0)
    assert worker.stop(timeout=1.0)


def test_jobs_run_in_order_and_the_queue_is_bounded() -> None:
    done: list[int] = []
    gate = threading.Event()

    def handle(job: int) -> None:
        gate.wait(5.0)
        done.append(job)

    worker: JobWorker[int] = JobWorker("jobs", handle, max_queued=2)
    assert worker.submit(1) and worker.submit(2)  # before start: queued
    assert not worker.submit(3)  # full
    worker.start()
    wait_for(lambda: worker.queued == 1, "job 1 running", timeout=5.0)
    assert worker.submit(3)
    gate.set()
    wait_for(lambda: done == [1, 2, 3], "three jobs", timeout=5.0)
    assert worker.stop(timeout=5.0)


def test_job_errors_end_the_worker_loudly(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="utils.worker")

    def handle(job: str) -> None:
        raise ValueError(job)

    worker: JobWorker[str] = JobWorker("failing", handle)
    worker.start()
    worker.submit("bad job")
    wait_for(lambda: not worker.alive, "the crashed worker", timeout=5.0)
    assert str(worker.error) == "bad job"
    assert caplog.records


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Worker("x", lambda: None, 0.0)


def test_join_all_bounds_the_whole_wait_and_names_the_stuck() -> None:
    """The timeout is for all the threads together, not each: three stuck
    threads cost one timeout (not three), and are the ones returned."""
    release = threading.Event()
    quick = threading.Thread(target=lambda: None)
    stuck = [threading.Thread(target=release.wait) for _ in range(3)]
    threads = [quick, *stuck]
    for thread in threads:
        thread.start()
    try:
        tic = time.monotonic()
        assert join_all(threads, 0.5) == stuck
        assert time.monotonic() - tic < 1.2  # not 0.5 s per stuck thread
    finally:
        release.set()
    assert join_all(threads, 5.0) == []
