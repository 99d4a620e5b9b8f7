"""Retrying with a bounded exponential back-off.

One rule for every retry: after ``n`` consecutive failures wait
``min(initial * factor**(n - 1), maximum)`` seconds (:class:`Backoff`).
Two forms use it:

- :class:`RetrySchedule` never sleeps: a loop that must keep its own pace
  (the cleaner's per-second path, the monitor's tick, the trainer's
  notifier) asks :meth:`RetrySchedule.due` and records outcomes.
- :func:`retry` calls a function until it succeeds, sleeping between
  attempts, bounded by a number of attempts or a timeout; each failure is
  a WARNING, and giving up raises ``TimeoutError`` naming what was tried.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: ``initial``, times ``factor`` each time,
    at most ``maximum`` seconds.

    Attributes:
        initial: seconds after the first failure (>= 0).
        factor: growth per further failure (>= 1; 1 is a fixed interval).
        maximum: cap of the delay, seconds (>= ``initial``).
    """

    initial: float
    factor: float = 2.0
    maximum: float = math.inf

    def __post_init__(self) -> None:
        if not 0 <= self.initial <= self.maximum:
            raise ValueError(
                f"back-off: need 0 <= initial ({self.initial}) <= maximum "
                f"({self.maximum})"
            )
        if self.factor < 1:
            raise ValueError(f"back-off factor {self.factor}: must be >= 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` (>= 1) consecutive failures."""
        if failures < 1:
            raise ValueError(f"failures {failures}: must be >= 1")
        try:
            return min(
                self.initial * self.factor ** (failures - 1), self.maximum
            )
        except OverflowError:
            return self.maximum


class RetrySchedule:
    """When to try again, for a caller that must not sleep.

    ::

        if schedule.due(now):
            try: call()
            except OSError: schedule.failed(now)
            else: schedule.succeeded()

    Args:
        backoff: the delays.

    Attributes:
        failures: consecutive failures so far.
        next_time: earliest time (the caller's clock) of the next attempt;
            ``-inf`` when there is no failure to wait out.
    """

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.failures = 0
        self.next_time = -math.inf

    def due(self, now: float) -> bool:
        """Whether an attempt may be made at ``now``."""
        return now >= self.next_time

    def failed(self, now: float) -> float:
        """Record a failure at ``now``; returns the delay until the next
        attempt (``next_time - now``)."""
        self.failures += 1
        delay = self.backoff.delay(self.failures)
        self.next_time = now + delay
        return delay

    def succeeded(self) -> None:
        """Record a success: the next failure waits ``initial`` again."""
        self.failures = 0
        self.next_time = -math.inf


def retry(
    call: Callable[[], T],
    what: str,
    backoff: Backoff,
    *,
    attempts: int | None = None,
    timeout: float | None = None,
    retry_on: tuple[type[Exception], ...] = (OSError,),
    stop: threading.Event | None = None,
) -> T:
    """Call ``call`` until it returns, sleeping ``backoff`` in between.

    An error outside ``retry_on`` propagates at once. No attempt starts
    after the timeout: if the next delay would pass it, this gives up now.

    Args:
        call: the attempt.
        what: what is attempted, for the logs and the error.
        backoff: delays between attempts.
        attempts: most attempts (>= 1); None: bounded by ``timeout`` only.
        timeout: seconds from the first attempt after which no new one
            starts; None: bounded by ``attempts`` only.
        retry_on: errors that count as a failed attempt.
        stop: set to give up early (the sleep ends at once).

    Returns:
        What ``call`` returned.

    Raises:
        ValueError: neither ``attempts`` nor ``timeout`` bounds the retries.
        TimeoutError: attempts or time ran out (or ``stop`` was set); it
            names ``what`` and is raised ``from`` the last error.
    """
    if attempts is None and timeout is None:
        raise ValueError(f"retrying {what}: give attempts or a timeout")
    if attempts is not None and attempts < 1:
        raise ValueError(f"retrying {what}: attempts {attempts} < 1")
    start = time.monotonic()
    deadline = math.inf if timeout is None else start + timeout
    limit = attempts or math.inf
    failures = 0
    while True:
        try:
            return call()
        except retry_on as exc:
            failures += 1
            delay = backoff.delay(failures)
            elapsed = time.monotonic() - start
            logger.warning(
                "%s failed (attempt %d, %.1f s): %s",
                what,
                failures,
                elapsed,
                exc,
            )
            out_of_time = time.monotonic() + delay > deadline
            if failures >= limit or out_of_time or _stopped(stop, delay):
                raise TimeoutError(
                    f"gave up on {what} after {failures} attempts in "
                    f"{elapsed:.1f} s: {exc}"
                ) from exc


def _stopped(stop: threading.Event | None, delay: float) -> bool:
    """Sleep ``delay`` seconds; whether ``stop`` was set meanwhile."""
    if stop is None:
        time.sleep(delay)
        return False
    return stop.wait(delay)
