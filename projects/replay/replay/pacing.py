"""When each second is written: one per ``1 / speed`` wall seconds.

At ``speed`` 1 with a start taken from the clock, second ``g`` is written
when the GPS clock reaches ``g + 1`` (the end of the second it holds), as
LIGO's low-latency writers do.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable

from utils.gpstime import gps_now, gps_to_unix

logger = logging.getLogger(__name__)

BEHIND_WARNING_LENGTH = 5.0  # s behind schedule before a warning is logged


def current_gps() -> int:
    """The GPS second in progress (whole)."""
    return int(math.floor(gps_now()))


class Pacer:
    """Wait until GPS second ``gps`` is due.

    Args:
        start_gps: first live second.
        speed: simulated seconds per wall second.
        stop: set to stop waiting at once.
        anchor: Unix time at which ``start_gps`` begins; ``None``: aligned
            to the GPS clock when ``start_gps`` is the current second,
            otherwise now.
        clock: wall clock (Unix seconds).
    """

    def __init__(
        self,
        start_gps: int,
        speed: float,
        stop: threading.Event,
        anchor: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.start_gps = int(start_gps)
        self.speed = float(speed)
        self.stop = stop
        self.clock = clock
        if anchor is None:
            aligned = gps_to_unix(self.start_gps)
            now = clock()
            anchor = aligned if abs(now - aligned) < 2.0 else now
        self.anchor = anchor
        self._tolerance = 0.0
        self._warned = False

    def tolerate(self, lag: float) -> None:
        """Expect to be up to ``lag`` s behind (a catch-up by design, e.g.
        after the prefill): warn only beyond it."""
        self._tolerance = max(0.0, lag)

    def due(self, gps: int) -> float:
        """Unix time at which second ``gps`` is written."""
        return self.anchor + (gps - self.start_gps + 1) / self.speed

    def wait(self, gps: int) -> bool:
        """Sleep until ``gps`` is due; ``False`` if stopped meanwhile."""
        delay = self.due(gps) - self.clock()
        if delay > 0:
            return not self.stop.wait(delay)
        behind = -delay - self._tolerance
        if behind > BEHIND_WARNING_LENGTH and not self._warned:
            logger.warning(
                "%.1f s behind schedule at GPS %d (speed %g too high for "
                "this machine?); writing as fast as possible",
                -delay,
                gps,
                self.speed,
            )
            self._warned = True
        return not self.stop.is_set()

    def skip_to(self, gps: int, max_lag_length: float) -> int:
        """``gps``, or the second due now when ``gps`` is more than
        ``max_lag_length`` seconds (wall) overdue (e.g. after the machine
        was suspended): a gap, as a real outage would leave. 0 never skips.
        """
        lag = self.lag(gps)
        if not max_lag_length or lag <= max_lag_length:
            return gps
        target = gps + int(math.floor(lag * self.speed))
        logger.warning(
            "%.1f s behind schedule: skipping GPS %d-%d", lag, gps, target - 1
        )
        return target

    def lag(self, gps: int) -> float:
        """Seconds between now and when ``gps`` was due."""
        return self.clock() - self.due(gps)
