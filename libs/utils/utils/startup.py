"""The first steps of every service's ``main``: settings, then logging,
then a hold on the service's environment.

A setting that cannot be parsed is reported before logging exists, so on
stderr, as ``<prog>: cannot start: <why>``, and the service exits with
:data:`CANNOT_START`::

    settings = configure_service(CleanerSettings, "cleaner", argv)
    if settings is None:
        return CANNOT_START
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from pathlib import Path
from typing import TypeVar

from utils.config import parse_settings
from utils.errors import ConfigError
from utils.locks import flock_within
from utils.logging import configure_logging

T = TypeVar("T")
CANNOT_START = 2  # exit status: bad settings, a broken contract, ...
# s to wait for build.sh to finish rebuilding the environment (as
# scripts/supervise.sh waits)
REBUILD_WAIT = 60.0
logger = logging.getLogger(__name__)
# in-use files this process holds, and their descriptors: one each
_held: dict[Path, int] = {}


def cannot_start(prog: str, error: Exception | str) -> int:
    """Say on stderr why ``prog`` cannot start, for when logging is not
    configured (there is nowhere else to say it).

    Returns:
        :data:`CANNOT_START`, the exit status.
    """
    sys.stderr.write(f"{prog}: cannot start: {error}\n")
    return CANNOT_START


def configure_service(
    cls: type[T], prog: str, argv: list[str] | None = None
) -> T | None:
    """The settings of ``prog`` from ``argv``, and its logging configured
    from them (``log_dir``, ``verbose``: :func:`configure_logging`).

    Args:
        cls: the service's settings dataclass.
        prog: the console script's name (log file, ``--help``).
        argv: command-line arguments (default ``sys.argv[1:]``;
            :func:`utils.config.parse_settings`).

    Returns:
        The settings; None when they cannot be parsed or their log folder
        cannot be made or written (said on stderr by :func:`cannot_start`:
        a bad folder is a bad setting, not a crash).
    """
    try:
        settings = parse_settings(cls, prog, argv)
    except ConfigError as exc:
        cannot_start(prog, exc)
        return None
    try:
        configure_logging(prog, settings.log_dir, settings.verbose)
    except OSError as exc:
        cannot_start(prog, f"cannot log to {settings.log_dir}: {exc}")
        return None
    try:
        hold_environment(sys.prefix, REBUILD_WAIT)
    except TimeoutError as exc:
        logger.error("cannot start: %s", exc)
        cannot_start(prog, exc)
        return None
    return settings


def hold_environment(prefix: str | Path, wait: float) -> Path | None:
    """Hold, until this process ends, a shared lock on the in-use file
    ``build.sh`` keeps beside the environment (``.venv/NAME.inuse`` for
    ``.venv/NAME``), as ``scripts/supervise.sh`` does for run.sh's panes:
    build.sh does not rebuild an environment a process runs from. A
    command started by hand (``reprocess``, a service outside run.sh) is
    held so too. Idempotent: one descriptor a file and process.

    Args:
        prefix: the environment (a service's: ``sys.prefix``).
        wait: seconds to wait while build.sh holds the file (rebuilding).

    Returns:
        The file held; None for an environment build.sh did not make (no
        in-use file beside it: nothing to hold), or one this user cannot
        open or lock (logged: the service runs unprotected rather than not
        at all).

    Raises:
        TimeoutError: build.sh held it for ``wait`` s.
    """
    path = Path(f"{prefix}.inuse")
    if path in _held:
        return path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:  # another user's file
        return _unprotected(path, exc)
    what = f"build.sh to finish rebuilding {prefix} ({path} held)"
    try:
        flock_within(fd, fcntl.LOCK_SH, what, wait, interval=0.5)
    except TimeoutError:
        os.close(fd)
        raise
    except OSError as exc:  # a filesystem without locks
        os.close(fd)
        return _unprotected(path, exc)
    _held[path] = fd
    return path


def _unprotected(path: Path, error: OSError) -> None:
    """Say that ``path`` cannot be held: the service runs unprotected."""
    logger.warning(
        "cannot hold %s (%s): build.sh may rebuild the environment under "
        "this process",
        path,
        error,
    )
