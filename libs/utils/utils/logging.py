"""Service logging: UTC time, service, level, logger, message.

Libraries only call ``logging.getLogger(__name__)``; each service calls
:func:`configure_logging` once in its ``main``. Output goes to stdout and is
appended (never truncated) to ``<log_dir>/<service>.log``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

_FORMAT = "%(asctime)sZ %(service)s %(levelname)s %(name)s: %(message)s"


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True


def configure_logging(
    service: str, log_dir: Path | None = None, verbose: bool = False
) -> Path | None:
    """Send the root logger to stdout and ``<log_dir>/<service>.log``.

    Args:
        service: name written in every line and used for the file name.
        log_dir: folder of the log file; created if needed; ``None``: stdout.
        verbose: DEBUG instead of INFO.

    Returns:
        The log file path, or ``None``.
    """
    formatter = logging.Formatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    log_file = None
    if log_dir is not None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / f"{service}.log"
        handlers.append(logging.FileHandler(log_file, mode="a"))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(_ServiceFilter(service))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "matplotlib", "PIL", "waitress", "inspiral_range"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file
