"""When each second is written: one per ``1 / speed`` wall seconds
(:class:`Pacer`), by either frame source (:class:`PacedSource`).

At ``speed`` 1 with a start taken from the clock, second ``g`` is written
when the GPS clock reaches ``g + 1`` (the end of the second it holds), as
LIGO's low-latency writers do.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from replay.pruning import Pruner
from utils.gpstime import gps_now
from utils.gpstime import gps_to_unix

if TYPE_CHECKING:
    from replay.config import PlaybackConfig
    from replay.config import SimulateConfig
    from replay.metrics import SourceMetrics

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


class PacedSource:
    """What both frame sources share: one second written at a time on the
    GPS clock (:class:`Pacer`), the output folders pruned to the last
    ``keep_length`` seconds (:class:`~replay.pruning.Pruner`).

    Args:
        config: the mode's configuration (its ``pace``:
            :class:`replay.config.PaceConfig`).
        stop: set (e.g. by SIGTERM) to stop after the current second.
        metrics: where to count what is written.
        folders: the output folders.
    """

    def __init__(
        self,
        config: PlaybackConfig | SimulateConfig,
        stop: threading.Event,
        metrics: SourceMetrics,
        folders: list[Path],
    ) -> None:
        self.config = config
        self.stop = stop
        self.metrics = metrics
        self.pruner = Pruner(folders, config.pace.keep_length)

    def _paced(
        self,
        pacer: Pacer,
        start_gps: int,
        total: int | None,
        write: Callable[[int], int],
    ) -> tuple[int, int]:
        """``write(gps)`` each second from ``start_gps`` when it is due,
        until ``total`` seconds have passed (None: until stopped); seconds
        more than ``max_lag_length`` overdue are skipped (a gap).

        Returns:
            ``(seconds written, the GPS second after the last one)``.
        """
        max_lag = self.config.pace.max_lag_length
        end = None if total is None else start_gps + total
        written, gps = 0, start_gps
        while end is None or gps < end:
            gps = pacer.skip_to(gps, max_lag)
            if end is not None and gps >= end:
                break
            if not pacer.wait(gps):
                break
            self.metrics.lag.set(max(0.0, pacer.lag(gps)))
            written += write(gps)
            self._prune(gps)
            gps += 1
        return written, gps

    def _prune(self, gps: int) -> None:
        removed = self.pruner.prune(gps)
        if removed:
            self.metrics.pruned.inc(removed)
