"""The ``replay`` mode: play recorded 1 s frames at one per ``1 / speed`` s.

The source folder has the layout of a data folder (``kafka/{IFO}/``,
``lldetchar/{IFO}/``, optionally ``truth/{IFO}/``). With ``restamp`` each
frame is read and written again with a new GPS start (the first played
second becomes ``start_gps``, or the current GPS second) under the matching
new name, so the recording looks live; gaps in the recording stay gaps.
Without it the files are copied (atomically) under their own names.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from replay.config import PlaybackConfig
from replay.metrics import SourceMetrics
from replay.pacing import PacedSource
from replay.pacing import Pacer
from replay.pacing import current_gps
from utils.atomic import atomic_path
from utils.errors import ConfigError
from utils.errors import FrameError
from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.names import FrameName
from utils.names import data_folder
from utils.names import list_frames

logger = logging.getLogger(__name__)

KINDS = ("truth", "witness", "strain")  # written in this order per second


def index_frames(folder: Path) -> dict[int, Path]:
    """GPS -> path of the 1 s frames in ``folder`` (others are skipped)."""
    out = {}
    if not folder.is_dir():
        return out
    for frame in list_frames(folder):
        if frame.duration == 1:
            out[frame.gps] = Path(frame.path)
        else:
            logger.warning(
                "skipping %s: only 1 s frames are replayed", frame.path
            )
    return out


def _restamped(path: Path, gps: int) -> str:
    name = FrameName.parse(path.name)
    return FrameName(name.site, name.description, gps, 1).filename


class Playback(PacedSource):
    """Replay a recording until it ends (or forever with ``loop``).

    Args:
        config: the mode's configuration.
        stop: set (e.g. by SIGTERM) to stop after the current second.
        metrics: where to count what is written.

    Raises:
        ConfigError: the source holds no 1 s strain frames.
    """

    def __init__(
        self,
        config: PlaybackConfig,
        stop: threading.Event,
        metrics: SourceMetrics,
    ) -> None:
        ifo = config.ifo
        self.sources = {
            kind: index_frames(data_folder(config.source_dir, kind, ifo))
            for kind in KINDS
        }
        strain = sorted(self.sources["strain"])
        if not strain:
            folder = data_folder(config.source_dir, "strain", ifo)
            raise ConfigError(f"no 1 s strain frames in {folder}")
        self.first, self.span = strain[0], strain[-1] - strain[0] + 1
        self.out_dirs = {
            k: data_folder(config.data_dir, k, ifo) for k in KINDS
        }
        for folder in self.out_dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        super().__init__(config, stop, metrics, list(self.out_dirs.values()))
        if config.restamp:
            self.start_gps = config.pace.start_gps or current_gps()
        else:
            self.start_gps = self.first

    def run(self) -> int:
        """Play the recording. Returns seconds written."""
        config = self.config
        pacer = Pacer(self.start_gps, config.pace.speed, self.stop)
        logger.info(
            "replaying %d s of %s from GPS %d as GPS %d at speed %g",
            self.span,
            config.source_dir,
            self.first,
            self.start_gps,
            config.pace.speed,
        )
        total = self.span if not config.loop else None
        if config.pace.duration:
            total = min(total or config.pace.duration, config.pace.duration)
        start = self.start_gps

        def play(gps: int) -> int:
            return self._play(self.first + (gps - start) % self.span, gps)

        written, after = self._paced(pacer, start, total, play)
        step = after - start
        logger.info(
            "replay stopped after %d seconds (%d written)", step, written
        )
        return written

    def _play(self, source_gps: int, gps: int) -> int:
        if source_gps not in self.sources["strain"]:
            logger.debug("GPS %d: a gap in the recording", gps)
            return 0
        tic = time.monotonic()
        for kind in KINDS:
            path = self.sources[kind].get(source_gps)
            if path is not None and self._copy(path, kind, gps):
                self.metrics.frames.labels(kind).inc()
        self.metrics.write_time.observe(time.monotonic() - tic)
        self.metrics.last_gps.set(gps)
        return 1

    def _copy(self, path: Path, kind: str, gps: int) -> bool:
        target = self.out_dirs[kind] / _restamped(path, gps)
        if target.exists():
            logger.debug("%s exists; left alone", target)
            return False
        try:
            if self.config.restamp:
                channels = read_frame(path)
                write_frame(
                    target,
                    {n: s.data for n, s in channels.items()},
                    gps,
                    {n: s.sample_rate for n, s in channels.items()},
                )
            else:
                with atomic_path(target) as tmp:
                    shutil.copyfile(path, tmp)
        except (FrameError, OSError, RuntimeError) as exc:
            logger.warning("GPS %d: cannot replay %s: %s", gps, path, exc)
            return False
        return True
