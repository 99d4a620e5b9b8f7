"""Reading a span of channels from frame files of any duration.

:func:`read_span` assembles ``[start, stop)`` of some channels at their
native rates from the files of a :class:`~reprocess.sources.FrameIndex`.
It never invents data: a second that no file covers, whose file lacks
some of the channels, or that holds NaN/inf is *absent* (zeros,
``present`` False), as the live follower drops it. A file that is listed
but cannot be read (missing, corrupt, mislabelled, at another rate than
the first one, or holding none of the channels read: another detector's
or another type's frames under this type's name) raises
:class:`~utils.errors.FrameMissing` or :class:`~utils.errors.FrameCorrupt`
naming it when it holds seconds of the chunk itself: that chunk fails, is
reported with that name and is tried again by a rerun (a file that
vanished for a while, an outage of the file system, a wrong file in its
place, must not become a finished file of zeros). In a neighbour's pad it
is a gap (logged): the neighbours still complete.

:func:`probe_rates` learns the channels' rates at start-up from the first
file of the span that can be read: the unreadable ones before it fail
their own chunks later, as any other does.
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
from utils.inference import FLOAT32_MAX
from utils.names import FrameFile

logger = logging.getLogger(__name__)

FILES_KEPT = 2  # frame files a reader keeps read (a block spans <= 2 often)
PROBED_FILES = 8  # unreadable files probe_rates passes over before it stops


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
        """The file's channels, from its first copy that can be read (the
        same file listed at other paths: other mounts of an archive).

        Raises:
            FrameMissing: it is not there (at any of its paths).
            FrameCorrupt: it cannot be read or is not what it claims (its
                span, its rates, or none of the channels read), at any of
                its paths; the first path's error.
        """
        if file.path in self._kept:
            self._kept.move_to_end(file.path)
            return self._kept[file.path]
        errors: list[FrameMissing | FrameCorrupt] = []
        for copy in self.index.copies(file):
            try:
                frame = self._read(copy)
            except (FrameMissing, FrameCorrupt) as exc:
                errors.append(exc)
                continue
            if errors:
                logger.warning(
                    "%s: read from %s instead", errors[0], copy.path
                )
            self._kept[file.path] = frame
            while len(self._kept) > FILES_KEPT:
                self._kept.popitem(last=False)
            return frame
        raise errors[0]

    def _read(self, file: FrameFile) -> dict[str, Series]:
        """The channels of ``file`` at its path, checked against its name
        and the rates (:meth:`_load`)."""
        # only the channels read (a raw frame holds thousands), every frame
        # of the file; those it lacks are gaps, said below
        frame = read_frame(
            Path(file.path),
            list(self.rates),
            span=(file.gps, file.stop),
            partial=True,
        )
        if not any(c in frame for c in self.rates):
            raise FrameCorrupt(
                f"frame {file.path} holds none of {list(self.rates)}: "
                "not the frame its name claims"
            )
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
                read or holds none of the channels, naming it.
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
            # NaN, inf, and what the model's float32 input cannot hold
            usable = (np.abs(seconds) <= FLOAT32_MAX).all(axis=1)
            seconds[~usable] = 0.0
            covered[row] &= usable
        return SpanData(start, duration, data, self.rates, covered.all(axis=0))


def probe_rates(
    index: FrameIndex, channels: list[str], start: int, stop: int
) -> dict[str, int]:
    """Native rates of ``channels``, from the first file of ``index``
    holding some of ``[start, stop)`` that can be read.

    An unreadable file (corrupt, empty, not there) is logged and the next
    one tried, up to :data:`PROBED_FILES` of them: it fails its own chunk
    later, by name, and must not stop the whole span. The first file
    read decides the channels: one missing from it stops the command,
    as a misspelt or another detector's channel name would leave every
    second of the span absent (a file that lacks a channel the others
    hold is named, to be moved away).

    Raises:
        ConfigError: no such file, none of the first :data:`PROBED_FILES`
            can be read (each reason named), or the first read lacks a
            channel (checked at start-up, before any chunk runs).
    """
    files = index.overlapping(start, stop)
    if not files:
        raise ConfigError(
            f"no frame file of type {index.frame_type} holds any of GPS "
            f"[{start}, {stop}) ({len(index.files)} listed around it)"
        )
    reasons = []
    for file in files[:PROBED_FILES]:
        try:
            frame = read_frame(
                Path(file.path), channels, span=(file.gps, file.stop)
            )
        except (FrameCorrupt, FrameMissing) as exc:
            logger.warning(
                "%s (its chunk will fail): the rates from the next file", exc
            )
            reasons.append(str(exc))
            continue
        except ChannelMissing as exc:
            raise ConfigError(
                f"cannot learn the channel rates: {exc} (a misspelt "
                "channel, or a wrong file)"
            ) from exc
        return native_rates(frame, channels, file.path)
    raise ConfigError(
        f"cannot learn the channel rates: none of the first {len(reasons)} "
        f"{index.frame_type} files of the span can be read: "
        + "; ".join(reasons)
    )


def native_rates(
    frame: dict[str, Series], channels: list[str], path: str
) -> dict[str, int]:
    """Each channel's rate in ``frame`` (read from ``path``), in Hz.

    Raises:
        ConfigError: a rate is not a whole number of Hz.
    """
    rates = {}
    for channel in channels:
        rate = frame[channel].sample_rate
        if rate != int(rate):
            raise ConfigError(f"{channel} in {path}: {rate} Hz")
        rates[channel] = int(rate)
    return rates
