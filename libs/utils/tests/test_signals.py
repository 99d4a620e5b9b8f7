"""SIGTERM/SIGINT set the stop event; real signals sent to this process."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Iterator

import pytest

from utils.signals import stop_on_signals


@pytest.fixture
def restore_handlers() -> Iterator[None]:
    """The test process's own handlers come back after each test."""
    saved = {
        n: signal.getsignal(n)
        for n in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    }
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_signal_sets_the_event_and_logs_once(
    number: signal.Signals, restore_handlers: None, caplog
) -> None:
    stop = threading.Event()
    stop_on_signals(stop)
    caplog.set_level(logging.DEBUG, logger="utils.signals")
    os.kill(os.getpid(), number)
    assert stop.wait(5.0)
    os.kill(os.getpid(), number)  # a second, impatient signal
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and number.name in infos[0].getMessage()


def test_only_the_named_signals(restore_handlers: None) -> None:
    stop = threading.Event()
    stop_on_signals(stop, signals=(signal.SIGUSR1,))
    assert signal.getsignal(signal.SIGTERM) is not signal.getsignal(
        signal.SIGUSR1
    )
    os.kill(os.getpid(), signal.SIGUSR1)
    assert stop.wait(5.0)


def test_main_thread_only(restore_handlers: None) -> None:
    errors: list[BaseException] = []

    def install() -> None:
        try:
            stop_on_signals(threading.Event())
        except ValueError as exc:
            errors.append(exc)

    thread = threading.Thread(target=install, name="not-main")
    thread.start()
    thread.join(timeout=5)
    assert len(errors) == 1
