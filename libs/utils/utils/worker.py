"""Background threads with one lifecycle: start, wake, bounded stop.

:class:`Worker` calls ``step`` in a named daemon thread until stopped; the
step returns how long to wait before the next call, and :meth:`Worker.wake`
cuts the wait short. :class:`JobWorker` is a worker fed by a queue: it calls
``handle(job)`` for each submitted job, in order.

An exception that escapes ``step`` (or ``handle``) is a bug: it is logged
with its traceback (``logger.exception``), kept in :attr:`Worker.error`,
and ends the thread, so :attr:`Worker.alive` turns False: a caller that
needs the thread checks it (never silently dead). A step that must survive
its errors catches them itself, with its own message and metrics.

:meth:`Worker.stop` waits a bounded time and logs a WARNING when the thread
is still busy after it (a step that does not return cannot be killed).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


class Worker:
    """A named daemon thread that calls ``step`` until stopped.

    Args:
        name: the thread's name (in logs and ``threading.enumerate``).
        step: one unit of work; returns the seconds to wait before the next
            call, or None for ``interval``.
        interval: default wait between calls, s (> 0).
        wait_first: wait ``interval`` before the first call.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], float | None],
        interval: float,
        wait_first: bool = False,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"worker {name}: interval {interval} <= 0")
        self.name = name
        self.step = step
        self.interval = float(interval)
        self.wait_first = wait_first
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=name, daemon=True
        )

    @property
    def alive(self) -> bool:
        """Whether the thread runs (started, not stopped, not crashed)."""
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called; long steps check it."""
        return self._stopping.is_set()

    @property
    def stop_event(self) -> threading.Event:
        """Set by :meth:`stop`: a step that waits waits on it, so that a
        stop ends the wait at once."""
        return self._stopping

    def start(self) -> None:
        """Start the thread (once)."""
        self._thread.start()

    def wake(self) -> None:
        """Call ``step`` now rather than after the current wait."""
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Ask the thread to end after its current step; wait at most
        ``timeout`` seconds.

        Returns:
            Whether the thread has ended (a WARNING says when not).
        """
        self._stopping.set()
        self._wake.set()
        if self._thread.ident is None:  # never started
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning(
                "%s thread still busy %.1f s after the stop request",
                self.name,
                timeout,
            )
            return False
        return True

    def _loop(self) -> None:
        wait = self.interval if self.wait_first else 0.0
        while True:
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                wait = self.step()
            except BaseException as exc:
                self.error = exc
                logger.exception(
                    "%s thread crashed; it has stopped", self.name
                )
                return
            if wait is None:
                wait = self.interval


class JobWorker(Worker, Generic[T]):
    """A worker that calls ``handle(job)`` for each submitted job, in order.

    Args:
        name: the thread's name.
        handle: runs one job (blocking).
        max_queued: jobs waiting at most (0: unbounded).
        interval: longest idle wait between looks at the queue, s.
    """

    def __init__(
        self,
        name: str,
        handle: Callable[[T], None],
        max_queued: int = 0,
        interval: float = 1.0,
    ) -> None:
        super().__init__(name, self._drain, interval)
        self.handle = handle
        self._jobs: queue.Queue[T] = queue.Queue(maxsize=max_queued)

    @property
    def queued(self) -> int:
        """Jobs waiting (not counting the one running)."""
        return self._jobs.qsize()

    def submit(self, job: T) -> bool:
        """Queue ``job`` (also before :meth:`start`).

        Returns:
            False (nothing queued) when ``max_queued`` jobs are waiting.
        """
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            return False
        self.wake()
        return True

    def _drain(self) -> None:
        while not self.stopping:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            self.handle(job)


def join_all(
    threads: Sequence[threading.Thread], timeout: float
) -> list[threading.Thread]:
    """Join ``threads`` within ``timeout`` seconds in all (not each);
    returns those still running."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread for thread in threads if thread.is_alive()]
