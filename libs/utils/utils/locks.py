"""Bounded ``flock``: one way to wait for a lock file, for the exporter's
model repository (exclusive) and a service's environment (shared, against
``build.sh``)."""

from __future__ import annotations

import fcntl

from utils.waiting import wait_for


def flock_within(
    fd: int, operation: int, what: str, timeout: float, interval: float
) -> None:
    """Take ``flock(fd, operation)`` (``fcntl.LOCK_EX`` or ``LOCK_SH``),
    polling without blocking every ``interval`` s, within ``timeout`` s.

    Raises:
        TimeoutError: another process held it throughout (``what`` names
            it, as :func:`utils.waiting.wait_for` does).
        OSError: it cannot be locked at all (no locks on the filesystem).
    """

    def taken() -> bool:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    wait_for(taken, what, timeout, interval)
