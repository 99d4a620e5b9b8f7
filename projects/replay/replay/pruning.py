"""Deleting old frames, as LIGO's shared memory does (it keeps a few hundred
seconds)."""

from __future__ import annotations

import logging
from pathlib import Path

from utils.names import list_frames

logger = logging.getLogger(__name__)


class Pruner:
    """Keep the frames of the last ``keep_length`` seconds in ``folders``.

    Only files named like LIGO frames are touched.

    Args:
        folders: folders to prune (missing ones are skipped).
        keep_length: seconds kept; 0 keeps everything.
    """

    def __init__(self, folders: list[Path], keep_length: int) -> None:
        self.folders = [Path(f) for f in folders]
        self.keep_length = int(keep_length)

    def prune(self, newest_gps: int) -> int:
        """Delete frames that end before ``newest_gps + 1 - keep_length``.

        Returns:
            Number of files deleted.
        """
        if self.keep_length <= 0:
            return 0
        oldest_kept = newest_gps + 1 - self.keep_length
        removed = 0
        for folder in self.folders:
            for frame in list_frames(folder):
                if frame.stop <= oldest_kept:
                    removed += self._remove(Path(frame.path))
        if removed:
            logger.debug(
                "pruned %d frames before GPS %d", removed, oldest_kept
            )
        return removed

    @staticmethod
    def _remove(path: Path) -> int:
        try:
            path.unlink()
        except FileNotFoundError:  # removed by someone else meanwhile
            return 0
        return 1
