"""Reading and writing GWF frames (through gwframe/frameCPP).

gwframe was chosen over gwpy/LALFrame by measurement (``bench/bench_io.py``:
one strain + witness pair read and one output frame written cost ~8 ms per
second against ~50 ms; reads ~10x, writes ~4x faster), and the files it
writes are read by gwpy too (``libs/utils/tests/test_gwpy_interop.py``).
Writes are atomic (:mod:`utils.atomic`: a hidden temporary name in the same
folder, then a rename), so a reader never sees a partial file.
"""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import gwframe
import numpy as np

from utils.atomic import write_bytes
from utils.errors import ChannelMissing
from utils.errors import FrameCorrupt
from utils.errors import FrameMislabelled
from utils.errors import FrameMissing

logger = logging.getLogger(__name__)

START_TOLERANCE = 1e-6  # s, in-file start time vs the GPS in the name


@dataclass(frozen=True)
class Series:
    """One channel of one frame: ``data`` sampled at ``sample_rate`` Hz.

    ``start`` is the GPS time of the first sample as the file records it
    (``None`` for series that were not read from a file).
    """

    data: np.ndarray
    sample_rate: float
    start: float | None = None


def read_frame(
    path: Path,
    channels: Sequence[str] | None = None,
    *,
    span: tuple[int, int] | None = None,
    partial: bool = False,
) -> dict[str, Series]:
    """Read ``channels`` (all when ``None``) of the frame file at ``path``;
    only those are decoded (a raw frame holds thousands).

    Args:
        path: the file.
        channels: the channels to read; ``None``: all.
        span: GPS ``(start, end)`` to read from a file that may hold
            several frames (a stored archive's files, e.g. 4096 s of 4-s
            frames), joined; ``None``: the file's first frame only (LIGO's
            1-s files hold one).
        partial: leave out requested channels the file lacks, instead of
            raising :class:`ChannelMissing`.

    Raises:
        FrameMissing: the file does not exist.
        FrameCorrupt: the file cannot be parsed (corrupt or still written),
            is not a regular file (a FIFO would block the read for ever),
            or holds nothing of ``span``.
        ChannelMissing: a requested channel is not in the frame.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FrameMissing(f"no frame file {path}") from None
    except OSError as exc:
        raise FrameCorrupt(f"cannot read frame {path}: {exc}") from exc
    if not stat.S_ISREG(mode):
        raise FrameCorrupt(f"cannot read frame {path}: not a regular file")
    times = {} if span is None else {"start": span[0], "end": span[1]}
    try:
        wanted = None if channels is None else list(channels)
        raw = gwframe.read(str(path), channels=wanted, **times)
    except Exception as exc:  # frameCPP raises RuntimeError for everything
        raise FrameCorrupt(f"cannot read frame {path}: {exc}") from exc
    if channels is None:
        channels = list(raw)
    elif partial:
        channels = [c for c in channels if c in raw]
    out = {}
    for channel in channels:
        try:
            series = raw[channel]
        except KeyError:
            raise ChannelMissing(
                f"channel {channel} missing from frame {path}"
            ) from None
        out[channel] = Series(
            np.asarray(series.array), series.sample_rate, float(series.start)
        )
    return out


def check_span(
    path: Path, gps: int, frame: dict[str, Series], duration: int = 1
) -> None:
    """Check that every channel of ``frame`` spans what its name claims:
    ``duration`` seconds from GPS ``gps``.

    Raises:
        FrameMislabelled: a channel starts at another time or lasts
            another duration than the file name ``path`` claims.
    """
    for name, series in frame.items():
        size = series.data.size
        span = size / series.sample_rate if series.sample_rate else 0.0
        start = series.start
        if start is not None and abs(start - gps) > START_TOLERANCE:
            raise FrameMislabelled(
                f"frame {path} holds GPS {start:.6f} in channel {name}, "
                f"its name claims {gps}"
            )
        if abs(span - duration) > START_TOLERANCE:
            raise FrameMislabelled(
                f"frame {path} holds {size} samples of channel {name} at "
                f"{series.sample_rate:g} Hz ({span:g} s), its name "
                f"claims {duration} s"
            )


def encode_frame(
    channels: Mapping[str, np.ndarray],
    gps: float,
    sample_rates: Mapping[str, float] | float,
    frame_name: str,
    compress: bool = False,
) -> bytes:
    """The bytes of the GWF file :func:`write_frame` would write.

    For writers that must control how the bytes reach the disk (e.g. the
    simulator's non-atomic writes).

    Args:
        channels: channel name -> samples (float or integer arrays).
        gps: GPS start of the frame.
        sample_rates: Hz, one for all channels or one per channel.
        frame_name: name stored in the frame header (e.g. ``L``).
        compress: gzip the data.

    Returns:
        The whole file.
    """
    kwargs = {} if compress else {"compression": 0}
    return gwframe.write_bytes(
        dict(channels),
        start=float(gps),
        sample_rate=(
            dict(sample_rates)
            if isinstance(sample_rates, Mapping)
            else float(sample_rates)
        ),
        name=frame_name,
        **kwargs,
    )


def write_frame(
    path: Path,
    channels: Mapping[str, np.ndarray],
    gps: float,
    sample_rates: Mapping[str, float] | float,
    overwrite: bool = False,
    compress: bool = False,
    fsync: bool = False,
) -> Path:
    """Write one frame atomically (hidden temporary file, then rename).

    The frame is encoded in memory and written with Python's file I/O, so a
    failed write (disk full, file size limit) raises: frameCPP's own file
    stream ignores write errors and leaves a truncated file behind, which
    the rename would then have published under the final name.

    Args:
        path: final file name.
        channels: channel name -> samples (float or integer arrays).
        gps: GPS start of the frame.
        sample_rates: Hz, one for all channels or one per channel.
        overwrite: replace an existing file; otherwise ``FileExistsError``.
        compress: gzip the data (smaller, slower); off for the carousel.
        fsync: flush the file to disk before the rename, so that a crash
            or power cut after it never leaves an empty or partial file
            under the final name (archives that a rerun trusts, such as
            the reprocessing's output); off for the carousel (one
            short-lived frame a second).

    Returns:
        ``path``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is off.
        OSError: the file could not be written completely (nothing is left
            behind, neither the final nor the temporary file).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"frame {path} exists and overwrite is off")
    data = encode_frame(
        channels, gps, sample_rates, path.name.split("-")[0], compress
    )
    return write_bytes(path, data, overwrite=overwrite, fsync=fsync)
