"""The first steps of every service's ``main``: settings, then logging.

A setting that cannot be parsed is reported before logging exists, so on
stderr, as ``<prog>: cannot start: <why>``, and the service exits with
:data:`CANNOT_START`::

    settings = configure_service(CleanerSettings, "cleaner", argv)
    if settings is None:
        return CANNOT_START
"""

from __future__ import annotations

import sys
from typing import TypeVar

from utils.config import parse_settings
from utils.errors import ConfigError
from utils.logging import configure_logging

T = TypeVar("T")
CANNOT_START = 2  # exit status: bad settings, a broken contract, ...


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
    return settings
