"""Operating-system signals that stop a service (not signal processing,
which is :mod:`utils.signal`).

Every service stops the same way: SIGTERM or SIGINT sets one
``threading.Event`` that its loops check between units of work, so the
current second (or request, or batch) finishes and ``main`` cleans up.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Iterable

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals(
    stop: threading.Event,
    signals: Iterable[signal.Signals] = STOP_SIGNALS,
) -> None:
    """Set ``stop`` when one of ``signals`` arrives.

    The first signal is logged at INFO; repeats (an impatient operator) at
    DEBUG: ``stop`` is already set. Must be called from the main thread
    (Python runs signal handlers there).

    Args:
        stop: the event the service's loops check.
        signals: the signals that stop it (default SIGTERM and SIGINT).

    Raises:
        ValueError: not called from the main thread.
    """

    def handler(number: int, _frame: object) -> None:
        name = signal.Signals(number).name
        if stop.is_set():
            logger.debug("signal %s (%d): already stopping", name, number)
            return
        logger.info("signal %s (%d): stopping", name, number)
        stop.set()

    for number in signals:
        signal.signal(number, handler)
