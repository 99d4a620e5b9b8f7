"""The carousel (bounded) and its spool (what still has to be archived).

Policy, in order of priority:

1. The carousel never holds more than ``max_frames`` frames: it is the data
   product that downstream readers rely on (docs/architecture.md,
   "``$PROJECT_DIR``"). Pruning removes
   the oldest frames down to ``max_frames - headroom``, including frames
   left from before a restart.
2. No frame leaves the carousel before it is safe: spooled (hard link in
   ``spool_dir``, same filesystem, else an atomic copy) or already
   archived. Spooling is cheap and happens as soon as a frame is seen, so
   a failing archive never holds up pruning: the spool keeps the data
   until the archiver has written it.
3. Hidden temporary files of crashed writes (``.*.tmp``) older than
   ``stale_temp_length`` are removed from the carousel and the spool (and
   by the archiver from the archive), so they do not pile up either.
4. Only when a frame cannot even be spooled (spool folder broken, disk
   full) does the bound win over the archive: the frame is deleted, an
   ERROR names it and ``deepclean_monitor_frames_lost_total`` counts it.

Thread safety: :meth:`maintain` (spool + prune) runs from the keeper thread
and from the loop; :meth:`release` (after archiving) from the loop. One lock
orders them, so a frame is never re-spooled after its archive was written.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

from monitor.archived import ArchivedIndex
from utils import names
from utils.atomic import atomic_path
from utils.atomic import remove_stale_temporaries
from utils.errors import ConfigError
from utils.follower import split_begun
from utils.names import cleaned_description
from utils.names import cleaned_name
from utils.names import site_of

logger = logging.getLogger(__name__)

LOG_INTERVAL = 60.0  # s between repeats of the same listing error
SWEEP_INTERVAL = 60.0  # s between sweeps of stale temporary files
_LIST_ERRORS: dict[str, float] = {}


@dataclass(frozen=True)
class CarouselConfig:
    """The carousel and its spool.

    Attributes:
        ifo: interferometer, e.g. ``L1``.
        carousel_dir: where the cleaner writes 1 s frames.
        spool_dir: hard links of frames not archived yet (same filesystem
            as the carousel, else copies).
        max_frames: carousel bound.
        max_spool_length: s of frames the spool may hold while the archive
            is failing; past it the oldest processed ones are dropped.
        headroom: frames kept free below the bound when pruning, so that
            the cleaner's next writes do not cross it between two prunes.
        stale_temp_length: s after which a writer's hidden temporary file
            left in the carousel (a crashed write) is removed.
    """

    ifo: str
    carousel_dir: Path
    spool_dir: Path
    max_frames: int
    max_spool_length: int
    headroom: int = 2
    stale_temp_length: float = 300.0

    def __post_init__(self) -> None:
        site_of(self.ifo)
        if not 0 <= self.headroom < self.max_frames:
            raise ConfigError(
                f"max_frames={self.max_frames!r}: must be > "
                f"headroom={self.headroom!r}"
            )


@dataclass(frozen=True)
class CarouselReport:
    """What one :meth:`Carousel.maintain` did.

    Attributes:
        carousel_frames: frames in the carousel after pruning.
        spool_frames: frames in the spool.
        lost: frames removed now without being spooled or archived.
        listing: the folders after it.
    """

    carousel_frames: int
    spool_frames: int
    lost: int
    listing: Listing


def list_frames(folder: Path, description: str) -> dict[int, str]:
    """GPS second -> path (str) of the 1 s frames ``*-<description>-*-1``
    in ``folder`` (hidden temporary files are skipped). A missing folder is
    empty; an unreadable one is logged (ERROR, at most once a minute)."""
    try:
        found = names.list_frames(folder, description)
    except OSError as exc:  # not a folder, no permission, I/O error
        now = time.monotonic()
        if now - _LIST_ERRORS.get(str(folder), -LOG_INTERVAL) >= LOG_INTERVAL:
            logger.error("cannot list %s: %s", folder, exc)
            _LIST_ERRORS[str(folder)] = now
        return {}
    return {f.gps: f.path for f in found if f.duration == 1}


@dataclass(frozen=True)
class Listing:
    """The carousel and the spool as one :meth:`Carousel.maintain` left
    them: GPS -> path."""

    frames: dict[int, str]
    spooled: dict[int, str]

    def available(self) -> dict[int, str]:
        """Every readable frame, spool first (it survives pruning)."""
        return {**self.frames, **self.spooled}


class Carousel:
    """Keeps the carousel bounded and every unarchived frame spooled.

    Args:
        config: folders and bounds.
        archived: the seconds already archived (shared with the archiver).
    """

    def __init__(self, config: CarouselConfig, archived: ArchivedIndex):
        self.config = config
        self.archived = archived
        self.description = cleaned_description(config.ifo)
        self.lock = threading.Lock()
        self.lost_total = 0
        self._spool_failures: set[int] = set()
        self._next_sweep = 0.0
        config.carousel_dir.mkdir(parents=True, exist_ok=True)
        self.config.spool_dir.mkdir(parents=True, exist_ok=True)
        self.corrupt_dir = config.spool_dir / "corrupt"
        self.quarantined = set(list_frames(self.corrupt_dir, self.description))
        # quarantined second -> (device, inode) of the carousel's file then
        self._quarantined_from: dict[int, tuple[int, int]] = {}
        self._future_reported: set[int] = set()

    def frames(self) -> dict[int, str]:
        """GPS -> path of the frames in the carousel, but those of seconds
        that have not begun: no frame of the cleaner's can be of one (a
        stray or mislabelled file would otherwise move the monitor past
        every real second before it). They are left alone, logged once:
        the cleaner replaces such a file when it writes that second."""
        frames = list_frames(self.config.carousel_dir, self.description)
        future = split_begun(frames)[1]
        if future:
            new = set(future) - self._future_reported
            if new:
                logger.warning(
                    "ignoring %d carousel frames of seconds that have not "
                    "begun (from GPS %d): not the cleaner's",
                    len(future),
                    future[0],
                )
            self._future_reported = set(future)
            for gps in future:
                del frames[gps]
        return frames

    def spooled(self) -> dict[int, str]:
        """GPS -> path of the frames in the spool."""
        return list_frames(self.config.spool_dir, self.description)

    def maintain(self) -> CarouselReport:
        """Spool every new frame, then prune the carousel to its bound."""
        with self.lock:
            frames = self.frames()
            spooled = self.spooled()
            for gps in sorted(frames):
                if gps in self.quarantined:
                    self._requalify(gps, frames[gps])
                if self._safe(gps, spooled):
                    continue
                target = self._spool(gps, frames[gps])
                if target is not None:
                    spooled[gps] = target
            pruned = self._prune(frames, spooled)
            lost = sum(1 for g in pruned if not self._safe(g, spooled))
            self.lost_total += lost
            self._spool_failures -= pruned  # logged once; gone for good
            for gps in pruned:  # no file of the carousel to tell by
                self._quarantined_from.pop(gps, None)
            self._sweep_temporaries()
        left = {g: p for g, p in frames.items() if g not in pruned}
        return CarouselReport(
            len(left), len(spooled), lost, Listing(left, spooled)
        )

    def _sweep_temporaries(self) -> None:
        """Remove writers' hidden temporary files older than
        ``stale_temp_length`` (crashed writes: the cleaner's in the
        carousel, a copy's in the spool); at most once a minute."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        for folder in (self.config.carousel_dir, self.config.spool_dir):
            remove_stale_temporaries(folder, self.config.stale_temp_length)

    def _safe(self, gps: int, spooled: dict[int, str]) -> bool:
        """Whether the carousel may drop ``gps``: spooled, archived, or
        quarantined as unreadable."""
        return (
            gps in spooled
            or gps in self.quarantined
            or self.archived.covers(gps)
        )

    def _requalify(self, gps: int, path: str) -> None:
        """The carousel holds another file for a quarantined second than
        it held when that second was quarantined (the cleaner's rename
        replaced a stray that claimed its second): that second is to be
        spooled and archived again. (Quarantined before a restart: the
        file kept aside, linked from the carousel's, tells; a copy of it,
        on another filesystem, is taken for another file once.)"""
        try:
            now = os.stat(path)
        except OSError:  # gone meanwhile
            return
        then = self._quarantined_from.get(gps)
        if then is None:
            try:
                kept = os.stat(self.corrupt_dir / os.path.basename(path))
            except OSError:  # not kept aside: stays out
                return
            then = (kept.st_dev, kept.st_ino)
        if (now.st_dev, now.st_ino) == then:
            return
        self.quarantined.discard(gps)
        self._quarantined_from.pop(gps, None)
        logger.warning(
            "%s was replaced after the file of that name was quarantined "
            "in %s: the new one is spooled and archived",
            path,
            self.corrupt_dir,
        )

    def _spool(self, gps: int, path: str) -> str | None:
        """Hard-link (else copy) a carousel frame into the spool; returns
        the spooled path, or ``None`` if that failed."""
        target = self.config.spool_dir / os.path.basename(path)
        try:
            os.link(path, target)
        except FileExistsError:
            return str(target)
        except FileNotFoundError:
            if not os.path.exists(path):
                return None  # pruned or renamed meanwhile: nothing to keep
            # the spool folder itself is gone (its archive folder removed
            # or unmounted): made again, then the frame copied into it
            self._make_spool()
            if not self._copy(path, target, gps):
                return None
        except OSError as exc:
            logger.debug("hard link of %s failed (%s); copying", path, exc)
            if not self._copy(path, target, gps):
                return None
        self._spool_failures.discard(gps)
        return str(target)

    def _make_spool(self) -> None:
        """Make the spool folder again (a failure shows in the copy that
        follows, logged there)."""
        try:
            self.config.spool_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        logger.warning(
            "spool folder %s was missing: made again", self.config.spool_dir
        )

    def _copy(self, path: str, target: Path, gps: int) -> bool:
        try:
            with atomic_path(target) as tmp:
                shutil.copy2(path, tmp)
            return True
        except OSError as exc:
            if gps not in self._spool_failures:
                logger.error(
                    "cannot spool frame %s (GPS %d) to %s: %s",
                    path,
                    gps,
                    target.parent,
                    exc,
                )
                self._spool_failures.add(gps)
            return False

    def _prune(
        self, frames: dict[int, str], spooled: dict[int, str]
    ) -> set[int]:
        """Delete the oldest frames down to the bound; returns their GPS."""
        excess = len(frames) - (self.config.max_frames - self.config.headroom)
        pruned: set[int] = set()
        for gps in sorted(frames)[: max(0, excess)]:
            if not self._safe(gps, spooled):
                logger.error(
                    "carousel bound %d: deleting frame %s (GPS %d) that is "
                    "neither spooled nor archived: its data are LOST to "
                    "the archive",
                    self.config.max_frames,
                    frames[gps],
                    gps,
                )
            try:
                os.unlink(frames[gps])
            except FileNotFoundError:
                pass  # gone already: pruned all the same
            except OSError as exc:
                logger.error("cannot prune %s: %s", frames[gps], exc)
                continue
            pruned.add(gps)
        return pruned

    def spool_path(self, gps: int) -> Path:
        """Where the frame of ``gps`` is spooled."""
        return self.config.spool_dir / cleaned_name(self.config.ifo, gps)

    def release(self, start: int, stop: int) -> None:
        """After ``[start, stop)`` was archived: record it, unspool it (a
        frame that cannot be unspooled now is logged; the archiver
        unspools it later, as archived already)."""
        with self.lock:
            self.archived.add(start, stop)
            for gps in range(start, stop):
                self._unlink(self.spool_path(gps), "unspool")

    def _unlink(self, path: Path, what: str) -> bool:
        """Remove ``path``; an error (a read-only or failing file system)
        is logged, not raised: the loop goes on."""
        try:
            path.unlink(missing_ok=True)
            return True
        except OSError as exc:
            logger.error("cannot %s %s: %s", what, path, exc)
            return False

    def unspool_archived(self, seconds: Collection[int]) -> list[int]:
        """Unspool the frames of ``seconds`` that are archived already (a
        release cut short by a kill); returns the others, which are still
        to be archived."""
        left = []
        for gps in seconds:
            if not self.archived.covers(gps):
                left.append(gps)
                continue
            path = self.spool_path(gps)
            if path.exists():
                logger.info("%s is archived already: unspooled", path.name)
                with self.lock:
                    self._unlink(path, "unspool")
        return left

    def bound_spool(self, cursor: int | None, spooled: Collection[int]) -> int:
        """Keep the decided frames of the spool (those the archive is to
        take: below the cursor) within ``max_spool_length`` while the
        archive is failing: drop the oldest (ERROR each). Frames not
        processed yet do not count (a monitor behind, after a restart,
        must not drop the stretch it is filling).

        Args:
            cursor: the sequencer's; seconds below it are decided.
            spooled: GPS seconds in the spool before this tick's archiving
                (a superset of what is left).

        Returns:
            How many frames were dropped.
        """
        limit = self.config.max_spool_length
        if cursor is None or len(spooled) <= limit:
            return 0
        decided = sorted(g for g in self.spooled() if g < cursor)  # after
        excess = len(decided) - limit  # archiving
        if excess <= 0:
            return 0
        victims = decided[:excess]
        for gps in victims:
            self.drop_spooled(
                gps, f"spool over {limit} frames while the archive fails"
            )
        return len(victims)

    def drop_spooled(self, gps: int, reason: str) -> None:
        """Remove one spooled frame that will never be archived."""
        with self.lock:
            path = self.spool_path(gps)
            if path.exists():
                logger.error("dropping spooled frame %s: %s", path, reason)
                if self._unlink(path, "drop"):
                    self.lost_total += 1

    def quarantine(self, gps: int, reason: str) -> None:
        """Move an unreadable spooled frame aside (``spool/corrupt/``) so
        that it is kept for inspection but never archived."""
        with self.lock:
            self.quarantined.add(gps)
            carousel = self.config.carousel_dir / self.spool_path(gps).name
            try:
                found = os.stat(carousel)
                self._quarantined_from[gps] = (found.st_dev, found.st_ino)
            except OSError:  # not in the carousel (any more)
                pass
            path = self.spool_path(gps)
            name = path.name
            if not path.exists():
                return
            try:
                self.corrupt_dir.mkdir(exist_ok=True)
                os.replace(path, self.corrupt_dir / name)
            except OSError as exc:  # it stays where it is, never archived
                logger.error(
                    "cannot quarantine %s (%s): %s", path, reason, exc
                )
                return
            logger.warning(
                "quarantined %s in %s: %s", name, self.corrupt_dir, reason
            )
