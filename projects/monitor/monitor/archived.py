"""Which GPS seconds are already in the archive.

Built once from the archive's file names at start-up and updated by the
archiver after each write (the archive folder may be cold storage that an
operator empties; what this process wrote or found stays known).
"""

from __future__ import annotations

import bisect
import logging
import os
from pathlib import Path

from utils.names import list_frames

logger = logging.getLogger(__name__)


class ArchivedIndex:
    """Sorted, merged ``[start, stop)`` GPS intervals known to be archived.

    Args:
        description: frame-name description of archived files, e.g.
            ``L1_DEEPCLEAN``; other files are ignored.
    """

    def __init__(self, description: str) -> None:
        self.description = description
        self._starts: list[int] = []
        self._stops: list[int] = []

    def scan(self, folder: Path) -> int:
        """Add every archived stretch found in ``folder``. An empty file
        (a write cut short by a power cut, a stray) is not an archive: its
        seconds would never be archived, nor counted as lost.

        Returns:
            The number of files found (0 when the folder is unreadable).
        """
        try:
            found = list_frames(folder, self.description)
        except OSError as exc:  # a missing folder is empty: nothing yet
            logger.warning("cannot list archive %s: %s", folder, exc)
            return 0
        kept = 0
        for frame in found:
            try:
                empty = os.stat(frame.path).st_size == 0
            except OSError:
                continue  # gone meanwhile
            if empty:
                logger.warning("ignoring empty archive file %s", frame.path)
                continue
            self.add(frame.gps, frame.stop)
            kept += 1
        return kept

    def add(self, start: int, stop: int) -> None:
        """Mark ``[start, stop)`` archived, merging with its neighbours."""
        if stop <= start:
            return
        i = bisect.bisect_left(self._stops, start)
        j = bisect.bisect_right(self._starts, stop)
        if i < j:
            start = min(start, self._starts[i])
            stop = max(stop, self._stops[j - 1])
        self._starts[i:j] = [start]
        self._stops[i:j] = [stop]

    def covers(self, gps: int) -> bool:
        """Whether second ``gps`` is archived."""
        i = bisect.bisect_right(self._starts, gps) - 1
        return i >= 0 and gps < self._stops[i]
