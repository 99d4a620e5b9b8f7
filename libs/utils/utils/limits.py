"""Process resource limits a service raises at start-up.

A server that holds many client connections needs one file descriptor per
connection; the default soft ``RLIMIT_NOFILE`` (often 1024) is far below
the hard limit an unprivileged process may raise it to.
"""

from __future__ import annotations

import logging
import resource

logger = logging.getLogger(__name__)


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft open-file limit to ``wanted``, at most the hard limit.

    Never lowers it. Logs what it found or did (INFO), and a WARNING when
    the hard limit is below ``wanted``.

    Args:
        wanted: file descriptors the process needs open at once.

    Returns:
        ``wanted``, or the lower soft limit the hard limit allowed.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        logger.info("open-file soft limit %s: enough for %d", soft, wanted)
        return wanted
    unlimited = hard == resource.RLIM_INFINITY
    target = wanted if unlimited else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        logger.info(
            "open-file soft limit raised from %d to %d (hard %s)",
            soft,
            target,
            "unlimited" if unlimited else hard,
        )
    if target < wanted:
        logger.warning(
            "open-file hard limit %d is below the %d wanted", hard, wanted
        )
    return target
