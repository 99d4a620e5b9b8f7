"""One lock for every change of the model repository.

A :class:`threading.Lock` serialises the threads of one exporter and an
exclusive ``flock`` on a lock file serialises exporter processes (a second
exporter started by mistake, or an old one still stopping). Acquiring is
bounded; at the deadline it raises :class:`~utils.errors.ServiceError`.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from utils.errors import ServiceError
from utils.locks import flock_within


class RepositoryLock:
    """Context manager: thread lock, then file lock, both bounded.

    Args:
        path: the lock file (created if missing).
        timeout: seconds to wait for both together.
    """

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def acquire(self, timeout: float | None = None) -> None:
        """Take both locks within ``timeout`` s (default: the configured).

        Raises:
            ServiceError: not acquired in time.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            raise ServiceError(
                f"model repository busy: waited {timeout:.1f} s for the "
                f"lock of {self.path.parent}"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                flock_within(
                    fd,
                    fcntl.LOCK_EX,
                    f"file lock {self.path}",
                    max(0.01, deadline - time.monotonic()),
                    interval=0.05,
                )
            except TimeoutError as exc:
                os.close(fd)
                raise ServiceError(
                    f"model repository busy: another process holds "
                    f"{self.path}: {exc}"
                ) from exc
            self._fd = fd
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        """Release both locks."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._thread_lock.release()

    def __enter__(self) -> "RepositoryLock":
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
