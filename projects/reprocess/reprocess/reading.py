"""Reading a span of channels from frame files of any duration.

:func:`read_span` assembles ``[start, stop)`` of some channels at their
native rates from the files of a :class:`~reprocess.sources.FrameIndex`.
It never invents data: a second that no file covers, whose file lacks a
channel, or that holds NaN/inf is *absent* (zeros, ``present`` False), as
the live follower drops it. A file that is listed but cannot be read
(missing, corrupt, mislabelled, at another rate than the first one)
raises :class:`~utils.errors.FrameMissing` or
:class:`~utils.errors.FrameCorrupt` naming it when it holds seconds of
the chunk itself: that chunk fails, is reported with that name and is
tried again by a rerun (a file that vanished for a while, an outage of
the file system, must not become a finished file of zeros). In a
neighbour's pad it is a gap (logged): the neighbours still complete.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reprocess.sources import FrameIndex
from utils.errors import ChannelMissing
from utils.errors import ConfigError
from utils.errors import FrameCorrupt
from utils.errors import FrameMissing
from utils.gwf import Series
from utils.gwf import check_span
from utils.gwf import read_frame
from utils.names import FrameFile

logger = logging.getLogger(__name__)

FILES_KEPT = 2  # frame files a reader keeps read (a block spans <= 2 often)


@dataclass
class SpanData:
    """Channels of ``[start, start + duration)`` at their native rates.

    Attributes:
        start: GPS start.
        duration: seconds.
        data: channel -> ``(duration * rate,)`` float64, zeros where absent.
        rates: channel -> Hz.
        present: ``(duration,)`` bool: every channel there and finite.
    """

    start: int
    duration: int
    data: dict[str, np.ndarray]
    rates: dict[str, int]
    present: np.ndarray


class FrameReader:
    """Reads spans from one frame type, keeping the last files read.

    Args:
        index: the files of that frame type.
        rates: channel -> native rate, Hz (:func:`probe_rates`).
    """

    def __init__(self, index: FrameIndex, rates: dict[str, int]) -> None:
        self.index = index
        self.rates = dict(rates)
        self._kept: OrderedDict[str, dict[str, Series]] = OrderedDict()

    def _load(self, file: FrameFile) -> dict[str, Series]:
        """The file's channels.

        Raises:
            FrameMissing: it is not there.
            FrameCorrupt: it cannot be read or is not what it claims.
        """
        if file.path in self._kept:
            self._kept.move_to_end(file.path)
            return self._kept[file.path]
        try:  # only the channels read (a raw frame holds thousands)
            frame = read_frame(Path(file.path), list(self.rates))
        except ChannelMissing:  # some are not there: gaps, said below
            frame = read_frame(Path(file.path))
        check_span(
            Path(file.path),
            file.gps,
            {c: frame[c] for c in self.rates if c in frame},
            file.duration,
        )
        for channel, rate in self.rates.items():
            if channel in frame and frame[channel].sample_rate != rate:
                raise FrameCorrupt(
                    f"frame {file.path}: {channel} at "
                    f"{frame[channel].sample_rate:g} Hz, not {rate} Hz"
                )
        self._kept[file.path] = frame
        while len(self._kept) > FILES_KEPT:
            self._kept.popitem(last=False)
        return frame

    def read(self, start: int, stop: int, core: tuple[int, int]) -> SpanData:
        """Channels of ``[start, stop)`` (module docstring).

        Args:
            start: GPS start, pad included.
            stop: GPS end, pad included.
            core: ``(first, end)`` GPS seconds of the chunk itself.

        Raises:
            FrameMissing: a listed file holding seconds of ``core`` is
                not there, naming it.
            FrameCorrupt: a file holding seconds of ``core`` cannot be
                read, naming it.
        """
        duration = stop - start
        data = {c: np.zeros(duration * r) for c, r in self.rates.items()}
        covered = np.zeros((len(self.rates), duration), dtype=bool)
        for file in self.index.overlapping(start, stop):
            try:
                frame = self._load(file)
            except (FrameMissing, FrameCorrupt) as exc:
                if file.gps < core[1] and file.stop > core[0]:
                    raise
                logger.warning("%s: a gap in the pad", exc)
                continue
            first, last = max(start, file.gps), min(stop, file.stop)
            for row, (channel, rate) in enumerate(self.rates.items()):
                if channel not in frame:
                    logger.warning(
                        "%s missing from %s: a gap", channel, file.path
                    )
                    continue
                source = frame[channel].data
                a, b = (first - file.gps) * rate, (last - file.gps) * rate
                x, y = (first - start) * rate, (last - start) * rate
                data[channel][x:y] = source[a:b]
                covered[row, first - start : last - start] = True
        for row, (channel, rate) in enumerate(self.rates.items()):
            seconds = data[channel].reshape(duration, rate)
            finite = np.isfinite(seconds).all(axis=1)
            seconds[~finite] = 0.0
            covered[row] &= finite
        return SpanData(start, duration, data, self.rates, covered.all(axis=0))


def probe_rates(
    index: FrameIndex, channels: list[str], start: int, stop: int
) -> dict[str, int]:
    """Native rates of ``channels``, from the first file of ``index``
    that holds some of ``[start, stop)``.

    Raises:
        ConfigError: no such file, or it lacks a channel or cannot be
            read (checked at start-up, before any chunk runs).
    """
    files = index.overlapping(start, stop)
    if not files:
        raise ConfigError(
            f"no frame file of type {index.frame_type} holds any of GPS "
            f"[{start}, {stop}) ({len(index.files)} listed around it)"
        )
    first = files[0]
    try:
        frame = read_frame(Path(first.path), channels)
    except (FrameCorrupt, FrameMissing, ChannelMissing) as exc:
        raise ConfigError(f"cannot learn the channel rates: {exc}") from exc
    rates = {}
    for channel in channels:
        rate = frame[channel].sample_rate
        if rate != int(rate):
            raise ConfigError(f"{channel} in {first.path}: {rate} Hz")
        rates[channel] = int(rate)
    return rates
