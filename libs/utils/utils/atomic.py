"""Atomic writes: a hidden temporary name beside the target, then a rename.

A reader sees the old file or the new one, never a partial one (gwpy
``write_timeseriesdict``). The temporary name is
``.<name>.<pid>.<random>.tmp`` in the target's folder, so it is on the same
filesystem (the rename is atomic), frame listers skip it
(:func:`utils.names.list_frames`) and :func:`remove_stale_temporaries`
(the monitor's sweep of the carousel, the reprocessing's of its output
folder at start-up) removes what a crash leaves behind. On failure the
temporary file is removed and the target is untouched. Overwriting is
explicit: with ``overwrite=False`` an existing target raises
``FileExistsError``.

::

    with atomic_path(path) as tmp:      # any writer that takes a path
        torch.save(state, tmp)
    write_text(path, text, fsync=True)  # survives a power cut
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

logger = logging.getLogger(__name__)


def temporary_path(path: str | Path) -> Path:
    """A hidden, unique name beside ``path``: ``.<name>.<pid>.<hex>.tmp``."""
    path = Path(path)
    token = uuid.uuid4().hex[:8]  # unique among threads of one process
    return path.with_name(f".{path.name}.{os.getpid()}.{token}.tmp")


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists and overwrite is off")


def _remove(tmp: Path) -> None:
    """Remove a temporary file or folder; a failure is logged, not raised
    (it must not hide the error that made the write fail)."""
    try:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("cannot remove temporary %s: %s", tmp, exc)


def remove_stale_temporaries(folder: str | Path, older_than: float) -> int:
    """Remove the hidden temporary files and folders (``.*.tmp``) of
    ``folder`` untouched for ``older_than`` s: writes a crash left
    behind (a live write touches its file as it goes). Each removal is
    logged; a folder that cannot be listed is logged, not raised.

    Returns:
        How many were removed.
    """
    oldest = time.time() - older_than
    removed = 0
    try:
        with os.scandir(folder) as entries:
            stale = [
                Path(e.path)
                for e in entries
                if e.name.startswith(".")
                and e.name.endswith(".tmp")
                and e.stat(follow_symlinks=False).st_mtime < oldest
            ]
    except FileNotFoundError:
        return 0
    except OSError as exc:
        logger.warning("sweeping %s: %s", folder, exc)
        return 0
    for path in stale:
        logger.warning("removing stale temporary %s (a crashed write)", path)
        _remove(path)
        removed += 1
    return removed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(
    path: str | Path, *, overwrite: bool = True, fsync: bool = False
) -> Iterator[Path]:
    """Yield a temporary path to write; rename it over ``path`` on success.

    Args:
        path: the final file name.
        overwrite: replace an existing ``path``; otherwise
            ``FileExistsError`` (checked before and after the write, not
            atomically against another writer of the same name).
        fsync: flush the file to disk before the rename.

    Yields:
        The hidden temporary path (not created: the caller writes it).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is off.
        OSError: the write or the rename failed (nothing is left behind).
    """
    path = Path(path)
    _refuse_existing(path, overwrite)
    tmp = temporary_path(path)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        _refuse_existing(path, overwrite)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            _remove(tmp)


@contextmanager
def atomic_directory(
    path: str | Path, *, overwrite: bool = False
) -> Iterator[Path]:
    """Yield a new temporary folder to fill; rename it to ``path`` after.

    A folder cannot replace a non-empty one in one rename: with
    ``overwrite`` an existing ``path`` is deleted first, so a reader may
    briefly see no folder, but never a partial one.

    Args:
        path: the final folder.
        overwrite: replace an existing ``path``; otherwise
            ``FileExistsError``.

    Yields:
        The hidden temporary folder (created, empty).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is off.
        OSError: filling or renaming failed (the temporary folder is gone).
    """
    path = Path(path)
    _refuse_existing(path, overwrite)
    tmp = temporary_path(path)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        _refuse_existing(path, overwrite)
        if path.exists():
            shutil.rmtree(path)
        os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            _remove(tmp)


def write_bytes(
    path: str | Path,
    data: bytes,
    *,
    overwrite: bool = True,
    fsync: bool = False,
) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`).

    Returns:
        ``path``.
    """
    with atomic_path(path, overwrite=overwrite, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str, **options: bool) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; ``options``
    (``overwrite``, ``fsync``) as for :func:`write_bytes`. Returns ``path``.
    """
    return write_bytes(path, text.encode(), **options)


def write_json(path: str | Path, obj: object, **options: bool) -> Path:
    """Write ``obj`` as JSON atomically: 2-space indent, sorted keys, a
    final newline (readable and stable under diff); ``options`` as for
    :func:`write_bytes`. Returns ``path``.

    Raises:
        TypeError: ``obj`` is not JSON-serialisable (nothing is written).
    """
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return write_text(path, text, **options)


def move_aside(path: Path) -> Path | None:
    """Keep an unusable file for a person to read, out of the way of the
    next start: rename it ``<name>.bad-<Unix time>`` in its folder.

    Returns:
        The new path; None where it cannot be moved (a read-only disk),
        logged: the caller goes on without it, and finds it again next
        time.
    """
    aside = path.with_name(f"{path.name}.bad-{time.time():.0f}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        logger.error("%s cannot be moved aside: %s", path, exc)
        return None
    return aside
