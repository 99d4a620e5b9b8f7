"""Where the stored frames are: a folder pattern, a LAL cache file, or a
gwdatafind server.

Each source yields :class:`~utils.names.FrameFile` s (GPS start, duration,
site, description = frame type, path); files may last any whole number of
seconds (1 s llhoft/lldetchar, 64 s or 4096 s archive frames).
:class:`FrameIndex` holds those of one frame type and says which of them
overlap a span; strain and witnesses may be of different frame types.
"""

from __future__ import annotations

import bisect
import glob
import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlparse

import numpy as np

from utils.errors import ConfigError
from utils.names import FrameFile
from utils.names import FrameName

logger = logging.getLogger(__name__)

# gwdatafind.find_urls(site, frametype, gpsstart, gpsend, host=...)
FindUrls = Callable[..., list[str]]


@dataclass(frozen=True)
class SourceConfig:
    """Where to look for the input frames (first of these that is set).

    Attributes:
        data_dir: root the ``frame_patterns`` are relative to.
        frame_patterns: glob patterns of frame files under ``data_dir``.
        frame_cache: a LAL cache file (``lal.utils.CacheEntry`` lines);
            ``None``: none.
        datafind_server: ``host[:port]`` of a gwdatafind server; ``""``:
            none.
        site: observatory letter the frame types are asked for.
        frame_types: the frame types needed (strain's, witnesses').
    """

    data_dir: Path
    frame_patterns: tuple[str, ...]
    frame_cache: Path | None
    datafind_server: str
    site: str
    frame_types: tuple[str, ...]


def from_patterns(data_dir: Path, patterns: Iterable[str]) -> list[FrameFile]:
    """The frame files matching ``patterns`` (globs under ``data_dir``).

    What is not a regular file with a LIGO frame name (a temporary file,
    a folder, a link to nothing) is passed over, and counted in the log.
    """
    out, strays = [], []
    for pattern in patterns:
        for path in sorted(glob.glob(str(Path(data_dir) / pattern))):
            try:
                name = FrameName.parse(path)
            except ValueError:
                strays.append(path)
                continue
            if not os.path.isfile(path):
                strays.append(path)
                continue
            out.append(_frame_file(name, path))
    if strays:
        logger.warning(
            "passed over %d paths that are not frame files, e.g. %s",
            len(strays),
            ", ".join(strays[:3]),
        )
    return out


def from_cache(path: Path) -> list[FrameFile]:
    """The entries of a LAL frame cache file: local files (a path or a
    ``file:`` URL; a relative path is taken from the current folder) of
    whole seconds.

    Raises:
        ConfigError: the file is missing, or a line is not such an entry
            (named by its line number).
    """
    from lal.utils import CacheEntry

    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read frame cache {path}: {exc}") from exc
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entry = CacheEntry(line)
            start, stop = entry.segment  # None: "-" for the segment
            if entry.scheme not in ("", "file") or entry.host not in (
                "",
                "localhost",
            ):
                raise ValueError(f"{entry.url} is not a local file")
            if start != int(start) or stop != int(stop) or stop <= start:
                raise ValueError("not a span of whole seconds")
        except Exception as exc:  # lal raises ValueError, RuntimeError, ...
            raise ConfigError(
                f"{path}:{number}: not a LAL cache entry of a local frame "
                f"file: {line!r} ({exc})"
            ) from exc
        out.append(
            FrameFile(
                int(start),
                int(stop) - int(start),
                entry.observatory,
                entry.description,
                str(Path(entry.path).absolute()),
            )
        )
    return out


def from_datafind(
    server: str,
    site: str,
    frame_types: Iterable[str],
    gps_start: int,
    gps_end: int,
    find_urls: FindUrls | None = None,
) -> list[FrameFile]:
    """The frame files a gwdatafind server lists for ``[gps_start,
    gps_end)``.

    Args:
        find_urls: :func:`gwdatafind.find_urls` (tests pass a stand-in).

    Raises:
        ConfigError: the server cannot be asked (unreachable, refused,
            an HTTP error), or it lists a path that is not a frame name.
    """
    if find_urls is None:
        from gwdatafind import find_urls
    out = []
    for frame_type in frame_types:
        try:
            urls = find_urls(
                site,
                frame_type,
                gps_start,
                gps_end,
                host=server,
                urltype="file",
            )
        except OSError as exc:  # requests' errors are OSErrors
            raise ConfigError(
                f"datafind_server={server!r}: cannot list {frame_type}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        for url in urls:
            path = urlparse(url).path or url
            try:
                name = FrameName.parse(path)
            except ValueError as exc:
                raise ConfigError(
                    f"datafind_server={server!r} lists {url!r}: {exc}"
                ) from exc
            out.append(_frame_file(name, path))
    return out


def find_frames(
    config: SourceConfig, gps_start: int, gps_end: int
) -> list[FrameFile]:
    """The frame files of ``config``'s first configured source."""
    if config.frame_cache is not None:
        found = from_cache(config.frame_cache)
        where = f"cache {config.frame_cache}"
    elif config.datafind_server:
        found = from_datafind(
            config.datafind_server,
            config.site,
            config.frame_types,
            gps_start,
            gps_end,
        )
        where = f"gwdatafind {config.datafind_server}"
    else:
        found = from_patterns(config.data_dir, config.frame_patterns)
        where = f"{config.data_dir}/{{{','.join(config.frame_patterns)}}}"
    logger.info("%d frame files in %s", len(found), where)
    return found


def _frame_file(name: FrameName, path: str) -> FrameFile:
    return FrameFile(
        name.gps, name.duration, name.site, name.description, path
    )


class FrameIndex:
    """The frame files of one frame type, sorted by GPS start.

    The same file listed at two paths (two mounts of one archive) is kept
    once, at the path listed first, its other paths as its copies
    (:meth:`copies`: read where the first cannot be); :meth:`check_overlaps`
    refuses files of one type that claim the same seconds otherwise (which
    would be read is a guess).

    Args:
        files: any frame files; those of ``frame_type`` are kept.
        frame_type: e.g. ``L1_llhoft``; None keeps every file.
    """

    def __init__(
        self, files: Iterable[FrameFile], frame_type: str | None
    ) -> None:
        self.frame_type = frame_type
        first: dict[tuple, FrameFile] = {}
        self._copies: dict[tuple, list[FrameFile]] = {}
        for f in files:
            if frame_type not in (None, f.description):
                continue
            key = (f.description, f.gps, f.duration)
            if key not in first:
                first[key] = f
            elif f.path != first[key].path:
                self._copies.setdefault(key, []).append(f)
        self.files = sorted(first.values())
        self._starts = [f.gps for f in self.files]
        self._longest = max((f.duration for f in self.files), default=0)

    def __len__(self) -> int:
        return len(self.files)

    def check_overlaps(self) -> None:
        """Raises ConfigError naming two files of the type that claim
        some of the same seconds (after duplicates were dropped)."""
        # sorted by start: if any two overlap, some neighbours do
        for a, b in itertools.pairwise(self.files):
            if b.gps < a.stop and a.description == b.description:
                raise ConfigError(
                    f"{a.path} and {b.path} both claim GPS "
                    f"[{b.gps}, {min(a.stop, b.stop)}): one input per "
                    "second (list one of them only)"
                )

    def copies(self, file: FrameFile) -> list[FrameFile]:
        """``file`` and the same file listed at other paths, in the order
        listed."""
        key = (file.description, file.gps, file.duration)
        return [file, *self._copies.get(key, [])]

    def overlapping(self, start: int, stop: int) -> list[FrameFile]:
        """Files holding some of ``[start, stop)``, in GPS order."""
        first = bisect.bisect_left(self._starts, start - self._longest)
        last = bisect.bisect_left(self._starts, stop)
        return [f for f in self.files[first:last] if f.stop > start]

    def held(self, start: int, stop: int) -> np.ndarray:
        """Which seconds of ``[start, stop)`` a file holds (by its name:
        nothing is read)."""
        held = np.zeros(stop - start, bool)
        for f in self.overlapping(start, stop):
            held[max(f.gps, start) - start : min(f.stop, stop) - start] = 1
        return held
