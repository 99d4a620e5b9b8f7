"""Bounded waiting: every wait has a deadline, sleeps between polls, logs its
progress and checks that what it waits on is still alive."""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


def wait_for(
    poll: Callable[[], T | None],
    what: str,
    timeout: float,
    interval: float = 0.1,
    log_interval: float = 10.0,
    alive: Callable[[], bool] | None = None,
) -> T:
    """Call ``poll`` until it returns something other than ``None``/False.

    Args:
        poll: returns the awaited thing, or ``None``/``False`` while waiting.
        what: description used in logs and in the ``TimeoutError``.
        timeout: seconds before giving up.
        interval: seconds between polls.
        log_interval: seconds between progress messages.
        alive: returns ``False`` when the awaited party has died.

    Raises:
        TimeoutError: ``what`` did not happen within ``timeout`` seconds.
        RuntimeError: ``alive`` said the awaited party died.
    """
    if timeout <= 0 or interval <= 0:
        raise ValueError("timeout and interval must be positive")
    start = time.monotonic()
    next_log = start + log_interval
    while True:
        result = poll()
        if result is not None and result is not False:
            return result
        now = time.monotonic()
        if alive is not None and not alive():
            raise RuntimeError(f"gave up waiting for {what}: it died")
        if now - start >= timeout:
            raise TimeoutError(
                f"waited {now - start:.1f} s for {what}; giving up"
            )
        if now >= next_log:
            logger.info("still waiting for %s (%.0f s)", what, now - start)
            next_log = now + log_interval
        time.sleep(min(interval, max(0.0, start + timeout - now)))
