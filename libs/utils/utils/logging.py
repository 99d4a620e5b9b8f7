"""Service logging: UTC time, service, level, logger, message.

Libraries only call ``logging.getLogger(__name__)``; each service calls
:func:`configure_logging` once in its ``main``. Output goes to stdout and is
appended (never truncated) to ``<log_dir>/<service>.log``, which is moved
to ``<service>.log.1`` (and the older ones one number up, the last of
:data:`LOG_BACKUPS` dropped) whenever it would pass :data:`LOG_MAX_BYTES`:
a service running for months keeps at most ~256 MiB of log. (Only the
service's own process writes its file, as the rotation needs.)

The message of a record is one line: its control characters (CR, LF, NUL,
the other C0/C1 controls, DEL, U+2028/U+2029) are written escaped, as
``\\r``, ``\\n``, ``\\x00``..., so that text a client sent (a request
path, a run name) can neither forge a line nor make the file binary. A
traceback appended to it stays multi-line (only its other control
characters are escaped).
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import sys
import time
from pathlib import Path
from typing import Hashable

LOG_MAX_BYTES = 64 << 20  # a log file is moved aside past this size
LOG_BACKUPS = 3  # moved-aside files kept: <service>.log.1 .. .3
ONCE_KEPT = 1000  # keys a Once remembers
_FORMAT = "%(asctime)sZ %(service)s %(levelname)s %(name)s: %(message)s"
# C0 controls, DEL, C1 controls (NEL U+0085 among them), line and paragraph
# separators: code point -> its escape
_ESCAPES = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_MULTILINE_ESCAPES = {k: v for k, v in _ESCAPES.items() if k != ord("\n")}


class Outage:
    """A failure that repeats (a write to a full disk, each second) said
    once: :meth:`failed` logs its ERROR the first time only, until
    :meth:`ended`, which says whether there was one to end.

    Args:
        logger: where the ERROR goes.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.on = False

    def failed(self, message: str, *args: object) -> None:
        """It failed (again): ``message % args`` at ERROR if it is new."""
        if not self.on:
            self.logger.error(message, *args)
        self.on = True

    def ended(self) -> bool:
        """It worked: whether it had been failing."""
        was, self.on = self.on, False
        return was


class Once:
    """Problems already said, each by a key: one that recurs is logged
    once, and a stream of ever new ones (hostile input: a new sample rate
    each second) costs bounded memory: the :data:`ONCE_KEPT` newest keys
    are kept, and one older than those may be said again."""

    def __init__(self, kept: int = ONCE_KEPT) -> None:
        self.kept = kept
        self._keys: collections.OrderedDict[Hashable, None] = (
            collections.OrderedDict()
        )

    def first(self, key: Hashable) -> bool:
        """Whether ``key`` is new: to be said now (it is remembered)."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.kept:
            self._keys.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._keys)


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    """``text`` with its control characters written as escapes.

    Args:
        text: any text, e.g. a log message holding a client's input.
        keep_newlines: leave LF as it is (tracebacks).

    Returns:
        ``text`` if it has none, else a copy with ``\\n``, ``\\r``,
        ``\\t``, ``\\xNN`` or ``\\uNNNN`` in their place.
    """
    if text.isprintable():  # fast path: no control, no separator
        return text
    return text.translate(_MULTILINE_ESCAPES if keep_newlines else _ESCAPES)


class _EscapingFormatter(logging.Formatter):
    """The service format; the message escaped, tracebacks multi-line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = escape_controls(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message

    def formatException(self, ei: tuple) -> str:
        return escape_controls(super().formatException(ei), True)

    def formatStack(self, stack_info: str) -> str:
        return escape_controls(stack_info, True)


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
    formatter = _EscapingFormatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    log_file = None
    if log_dir is not None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / f"{service}.log"
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file,
                mode="a",
                maxBytes=LOG_MAX_BYTES,
                backupCount=LOG_BACKUPS,
                encoding="utf-8",
            )
        )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(_ServiceFilter(service))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in (
        "urllib3",
        "matplotlib",
        "PIL",
        "waitress",
        "inspiral_range",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file
