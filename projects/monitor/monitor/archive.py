"""Cold storage: longer stretches of the carousel, written from the spool.

Stretches start at multiples of ``archive_length`` GPS seconds (so files
sit on a predictable grid) and hold every channel of the cleaned frames:
the three products and the raw strain (4096 Hz), the state vector (16 Hz)
and the version tags (1 Hz). Gaps are explicit: a stretch ends at the
first second that is not in the spool; what was collected is written, so a
file never spans a gap and its name
(``utils.names.cleaned_name(ifo, start, duration)``) says exactly which
seconds it holds.

A stretch is complete when it reaches the grid boundary, or when the
second after it has been decided (the sequencer's cursor is past it) and
is not spooled. Only decided seconds (below the cursor) are archived, so a
late frame becomes its own short stretch instead of being lost.

An archive that cannot be written (missing mount, permissions, disk full)
is logged as an ERROR naming the file; the frames stay in the spool and the
write is retried ``retry_interval`` seconds later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from monitor.carousel import Carousel
from utils.atomic import remove_stale_temporaries
from utils.channels import OutputChannels
from utils.errors import FrameError
from utils.gwf import check_span
from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.names import cleaned_name
from utils.retry import Backoff
from utils.retry import RetrySchedule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveConfig:
    """Cold storage of longer stretches.

    Attributes:
        ifo: interferometer.
        archive_dir: where stretches go.
        archive_length: s per stretch; stretches start at multiples of it
            and end early at a gap.
        compress: gzip the archived frames.
        retry_interval: s before retrying after a failed write.
    """

    ifo: str
    archive_dir: Path
    archive_length: int
    compress: bool
    retry_interval: float


@dataclass(frozen=True)
class Stretch:
    """``[start, stop)`` GPS seconds, all spooled."""

    start: int
    stop: int

    @property
    def duration(self) -> int:
        return self.stop - self.start


def plan_stretches(
    spooled: list[int], cursor: int, archive_length: int
) -> list[Stretch]:
    """Complete stretches among the sorted spooled seconds.

    Args:
        spooled: sorted GPS seconds in the spool.
        cursor: seconds below it are decided (processed or a gap).
        archive_length: grid of stretch boundaries, s.
    """
    decided = [g for g in spooled if g < cursor]
    present = set(decided)
    out = []
    start = None
    for gps in decided:
        if start is None:
            start = gps
        stop = gps + 1
        if stop % archive_length == 0 or (
            stop not in present and stop < cursor
        ):
            out.append(Stretch(start, stop))
            start = None
    return out


class Archiver:
    """Writes complete stretches from the spool, then unspools them.

    Args:
        config: archive folder, stretch length, compression, retry interval.
        carousel: the spool's owner.
        channels: output channel names.
    """

    def __init__(
        self,
        config: ArchiveConfig,
        carousel: Carousel,
        channels: OutputChannels,
    ) -> None:
        self.config = config
        self.carousel = carousel
        self.channels = channels
        self.failures = 0
        self.written_total = 0  # stretches written by this process
        fixed = Backoff(initial=config.retry_interval, factor=1.0)
        self._retry = RetrySchedule(fixed)

    def archive(
        self, cursor: int | None, now: float, spooled: Iterable[int]
    ) -> list[tuple[Stretch, float]]:
        """Write every complete stretch (unless backing off after a
        failure).

        Args:
            cursor: the sequencer's; seconds below it are decided.
            now: monotonic clock, s.
            spooled: GPS seconds in the spool.

        Returns:
            The stretches written, with the seconds each took.
        """
        if cursor is None or not self._retry.due(now):
            return []
        quarantined = self.carousel.quarantined
        spooled = [g for g in sorted(spooled) if g not in quarantined]
        # a kill between an archive's write and its release leaves its
        # frames spooled: archiving them again would put those seconds in
        # two files
        spooled = self.carousel.unspool_archived(spooled)
        done = []
        for stretch in plan_stretches(
            spooled, cursor, self.config.archive_length
        ):
            seconds = self._write(stretch)
            if seconds is None:
                self._retry.failed(now)
                break
            self._retry.succeeded()
            if seconds >= 0:
                done.append((stretch, seconds))
        return done

    def path_of(self, stretch: Stretch) -> Path:
        name = cleaned_name(self.config.ifo, stretch.start, stretch.duration)
        return self.config.archive_dir / name

    def _write(self, stretch: Stretch) -> float | None:
        """Returns the seconds it took, -1 if a frame was unreadable (it is
        quarantined and the stretch replanned next tick), ``None`` if the
        write failed."""
        path = self.path_of(stretch)
        t0 = time.perf_counter()
        data = self._collect(stretch)
        if data is None:
            return -1.0
        try:
            self.config.archive_dir.mkdir(parents=True, exist_ok=True)
            write_frame(
                path,
                data,
                stretch.start,
                self.channels.sample_rates,
                overwrite=True,
                compress=self.config.compress,
                fsync=True,  # its spooled frames are removed next
            )
        except OSError as exc:  # RuntimeError: frameCPP's write failures
            return self._failed(path, stretch, exc)
        except RuntimeError as exc:
            return self._failed(path, stretch, exc)
        seconds = time.perf_counter() - t0
        self.carousel.release(stretch.start, stretch.stop)
        self.written_total += 1
        # what a killed write left (a stretch's worth each), once a stretch
        remove_stale_temporaries(
            self.config.archive_dir, self.carousel.config.stale_temp_length
        )
        logger.info(
            "archived GPS %d-%d (%d s) to %s in %.2f s",
            stretch.start,
            stretch.stop,
            stretch.duration,
            path,
            seconds,
        )
        return seconds

    def _failed(self, path: Path, stretch: Stretch, exc: Exception) -> None:
        self.failures += 1
        logger.error(
            "cannot write archive %s (GPS %d-%d); frames stay "
            "spooled, retry in %.0f s: %s",
            path,
            stretch.start,
            stretch.stop,
            self.config.retry_interval,
            exc,
        )
        return None

    def _collect(self, stretch: Stretch) -> dict[str, np.ndarray] | None:
        """Every channel of the stretch, concatenated in GPS order."""
        names = tuple(self.channels.sample_rates)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for gps in range(stretch.start, stretch.stop):
            path = self.carousel.spool_path(gps)
            try:
                frame = read_frame(path, names)
                # a late frame that was never read (its second was a gap
                # by then) must not put another second's data in the archive
                check_span(path, gps, frame)
                for name in names:
                    data = np.asarray(frame[name].data)
                    rate = self.channels.sample_rates[name]
                    if data.shape != (rate,):
                        raise FrameError(f"{path}: {name} has {data.shape}")
                    parts[name].append(data)
            except FrameError as exc:
                self.carousel.quarantine(gps, str(exc))
                return None
        return {name: np.concatenate(parts[name]) for name in names}
