"""GPS-ordered processing with a bounded wait for skipped seconds.

The earlier implementation waited forever for a second that never came.
Here the sequencer walks a cursor through whatever frames exist, in GPS
order. When the cursor's second is missing while a later one exists, it
waits at most ``missing_timeout`` seconds (wall clock, from when it first
saw the hole) and then declares ``[cursor, next frame)`` a gap. When no
later frame exists there is nothing to process and nothing to wait for.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import Iterable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One thing to do, in order: a frame ``[start, start+1)`` or a gap
    ``[start, stop)``."""

    kind: str  # "frame" or "gap"
    start: int
    stop: int


class Sequencer:
    """Decides, per tick, which seconds to process and which are gaps.

    Args:
        missing_timeout: s a skipped second may stay missing.
        max_steps: steps planned per tick at most.
        rewind_length: when every frame present is older than
            ``cursor - rewind_length``, GPS time went back (a new stream):
            restart at the oldest frame.
        cursor: next GPS second to process (from the saved state), or
            ``None`` to start at the oldest frame present (of those within
            ``rewind_length`` of the newest).
    """

    def __init__(
        self,
        missing_timeout: float,
        max_steps: int,
        rewind_length: int,
        cursor: int | None = None,
    ) -> None:
        self.missing_timeout = missing_timeout
        self.max_steps = max_steps
        if cursor is not None and type(cursor) is not int:
            raise TypeError(f"cursor {cursor!r} is not a GPS second")
        self.cursor = cursor
        self.rewind_length = rewind_length
        self._hole: tuple[int, float] | None = None  # (gps, first seen)

    def align(self, available: Iterable[int]) -> list[int]:
        """Place the cursor on the stream that ``available`` holds: at its
        oldest frame on the first look, and again when GPS time went back.
        The seconds below the cursor afterwards are the ones done.

        Returns:
            ``available``, sorted, without repeats.
        """
        present = sorted(set(available))
        if not present:
            return present
        if self.cursor is None:
            # from the oldest frame of the stream: one far older (a stray,
            # an old run's) would make everything between them a gap
            first = bisect.bisect_left(
                present, present[-1] - self.rewind_length
            )
            self.cursor = present[first]
            if first:
                logger.warning(
                    "starting at GPS %d: %d older frames (from GPS %d) lie "
                    "over %d s before the newest; not processed",
                    self.cursor,
                    first,
                    present[0],
                    self.rewind_length,
                )
            else:
                logger.info("starting at GPS %d (oldest frame)", self.cursor)
        elif present[-1] < self.cursor - self.rewind_length:
            logger.warning(
                "newest frame %d is far before the cursor %d: "
                "GPS time went back; restarting at %d",
                present[-1],
                self.cursor,
                present[0],
            )
            self.cursor = present[0]
        return present

    def plan(self, available: Iterable[int], now: float) -> list[Step]:
        """Steps for this tick; advances the cursor past them.

        Args:
            available: GPS seconds whose frames exist.
            now: monotonic clock, s.
        """
        present = self.align(available)
        if not present:
            return []
        steps: list[Step] = []
        while len(steps) < self.max_steps:
            i = bisect.bisect_left(present, self.cursor)
            if i == len(present):
                break  # nothing newer exists: nothing to wait for
            if present[i] == self.cursor:
                steps.append(Step("frame", self.cursor, self.cursor + 1))
                self.cursor += 1
                self._hole = None
                continue
            if self._hole is None or self._hole[0] != self.cursor:
                self._hole = (self.cursor, now)
            waited = now - self._hole[1]
            if waited < self.missing_timeout:
                break
            logger.warning(
                "GPS %d-%d missing for %.1f s while %d exists: gap",
                self.cursor,
                present[i] - 1,
                waited,
                present[i],
            )
            steps.append(Step("gap", self.cursor, present[i]))
            self.cursor = present[i]
            self._hole = None
        return steps
