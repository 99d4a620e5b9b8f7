"""Writing the cleaned frames into the carousel.

One GWF file per GPS second, ``{carousel}/L-L1_DEEPCLEAN-{gps}-1.gwf``
(:func:`utils.names.cleaned_name`), written atomically by
:func:`utils.gwf.write_frame` (:mod:`utils.atomic`: a hidden temporary
name, then a rename), never twice: a second it wrote already is left
alone with a WARNING. A file already at the name of a second it has not
written is not its own (a restart resumes after the newest frame in the
carousel, :mod:`cleaner.restart`): a stray or mislabelled file, which
would otherwise stand for that second's product; it is replaced, with a
WARNING. A frame that cannot be
written (disk full, folder gone) is held back, with every later one, and
written in GPS order as soon as the carousel takes writes again: a
transient failure delays frames instead of losing them; only past
``max_backlog`` held frames is the oldest lost (ERROR). Channels
(:class:`utils.channels.OutputChannels`, docs/architecture.md):

- 4096 Hz float64: ``..._PRODUCTION_OUT_DQ``, ``..._PRODUCTION``,
  ``..._CANARY``, ``..._RAW``;
- 16 Hz int32 ``..._STATE_VECTOR`` (bits :class:`utils.channels.State`, the
  same in all 16 samples of a second);
- 1 Hz int32 ``..._PRODUCTION_VERSION`` and ``..._CANARY_VERSION`` (0: no
  model made this second).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleaner.frames import OutputFrame
from utils.channels import STATE_RATE
from utils.channels import STRAIN_RATE
from utils.channels import VERSION_RATE
from utils.channels import OutputChannels
from utils.gwf import write_frame
from utils.names import cleaned_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterConfig:
    """Where the frames go.

    Attributes:
        directory: the carousel, ``$PROJECT_DIR/carousel``.
        ifo: interferometer, e.g. ``L1``.
        max_backlog: frames held back while the carousel cannot be
            written: the carousel's own bound, beyond which the monitor
            would prune the oldest at once anyway.
    """

    directory: Path
    ifo: str
    max_backlog: int


class FrameWriter:
    """Writes :class:`~cleaner.frames.OutputFrame` s, one file per
    second, never twice.

    Args:
        config: carousel folder and IFO.
    """

    def __init__(self, config: WriterConfig) -> None:
        self.config = config
        self.channels = OutputChannels(config.ifo)
        self._backlog: deque[OutputFrame] = deque()
        self._newest: int | None = None  # GPS of the newest frame written
        Path(config.directory).mkdir(parents=True, exist_ok=True)

    def path(self, gps: int) -> Path:
        """File of second ``gps``."""
        return Path(self.config.directory) / cleaned_name(self.config.ifo, gps)

    @property
    def backlog(self) -> int:
        """Frames held back by failed writes."""
        return len(self._backlog)

    def write(self, frame: OutputFrame) -> float | None:
        """Write one frame, after the frames held back before it.

        Returns:
            Wall time (``time.time()``) just after the rename, or ``None``
            if this writer wrote that second already, or it could not be
            written now (held back; retried with the next frame).
        """
        self._backlog.append(frame)
        held = len(self._backlog) - 1
        written_at = None
        while self._backlog:
            head = self._backlog[0]
            try:
                try:
                    result = self._write_one(head)
                except FileNotFoundError:  # the folder itself is gone
                    self._make_folder()
                    result = self._write_one(head)
            except OSError as exc:  # e.g. disk full: retried next second
                self._hold(head, exc)
                return None
            self._backlog.popleft()
            if head is frame:
                written_at = result
        if held:
            logger.warning(
                "carousel writable again: %d held-back frames written, "
                "up to GPS %d",
                held,
                frame.gps,
            )
        return written_at

    def _make_folder(self) -> None:
        """Make the carousel folder again (removed by hand, or its mount
        lost): without it every later frame would be lost.

        Raises:
            OSError: it cannot be made (the frame is then held back).
        """
        Path(self.config.directory).mkdir(parents=True, exist_ok=True)
        logger.warning(
            "carousel folder %s was missing: made again", self.config.directory
        )

    def _hold(self, frame: OutputFrame, exc: OSError) -> None:
        """Keep the frames that could not be written (bounded)."""
        if len(self._backlog) == 1:
            logger.error(
                "GPS %d: cannot write %s (%s); holding frames back until "
                "the carousel takes writes again",
                frame.gps,
                self.path(frame.gps),
                exc,
            )
        else:
            logger.debug("GPS %d: still cannot write: %s", frame.gps, exc)
        while len(self._backlog) > self.config.max_backlog:
            lost = self._backlog.popleft()
            logger.error(
                "GPS %d: frame LOST: %d frames held back while the "
                "carousel cannot be written",
                lost.gps,
                self.config.max_backlog,
            )

    def _write_one(self, frame: OutputFrame) -> float | None:
        """Write ``frame`` now; ``None`` if this writer wrote its second
        already.

        Raises:
            OSError: it could not be written (nothing was left behind).
        """
        path = self.path(frame.gps)
        if path.is_dir() and not path.is_symlink():
            # not ours, and a rename cannot replace it: moved aside, or
            # every frame after it would be held back behind it
            aside = path.with_name(
                f".{path.name}.in-the-way-{time.time():.0f}"
            )
            path.rename(aside)
            logger.error(
                "GPS %d: a folder stood at %s: moved to %s",
                frame.gps,
                path,
                aside,
            )
        if path.exists():
            if self._newest is not None and frame.gps <= self._newest:
                logger.warning(
                    "GPS %d: %s written already, not written again",
                    frame.gps,
                    path,
                )
                return None
            logger.warning(
                "GPS %d: %s exists already but was not written by this "
                "cleaner (a stray or mislabelled file): replaced",
                frame.gps,
                path,
            )
        ch = self.channels
        data = {
            ch.out_dq: frame.out_dq,
            ch.production: frame.production,
            ch.canary: frame.canary,
            ch.raw: frame.raw,
            ch.state: np.full(STATE_RATE, int(frame.state), dtype=np.int32),
            ch.production_version: np.full(
                VERSION_RATE, frame.production_version, dtype=np.int32
            ),
            ch.canary_version: np.full(
                VERSION_RATE, frame.canary_version, dtype=np.int32
            ),
        }
        for name in ch.strains:
            data[name] = np.asarray(data[name], dtype=np.float64)
            if data[name].shape != (STRAIN_RATE,):
                raise ValueError(
                    f"GPS {frame.gps}: {name} has shape {data[name].shape}"
                )
        write_frame(path, data, frame.gps, ch.sample_rates, overwrite=True)
        self._newest = frame.gps
        return time.time()
