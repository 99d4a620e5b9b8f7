"""Following the live strain and witness frames second by second.

:class:`FrameFollower` yields one :class:`FrameSecond` per GPS second, in
order, never skipping one: either the data, or a *dropped* second with the
reason. Every wait is bounded, and every deadline comes from the GPS clock,
never from when some earlier file happened to arrive:

- the strain and the witness frames are two streams, each written in
  order by a writer of its own (the witness writer may lag the strain's by
  seconds). Each stream has its own *data clock*, the GPS clock less its
  writer's latency, learnt from what arrives: a file that appeared while
  the follower waited for it (or a file of a second dropped as missing
  that turned up after all, so a follower that finds itself ahead of a
  slower writer falls back in step: it only ever raises it, until a file
  waited for confirms it or a second is dropped as missing) measures the
  latency (the wall time it was first seen minus the end of its GPS
  second); a file already there when the follower came to it (a backlog,
  the rest of a batch of a writer that delivers seconds in bulk) only
  bounds it from above until one is measured, and never lowers a
  measured one (the first of the next batch will be as late) unless the
  other stream's file of its second was waited for (that stream lags),
  and such a bound is forgotten when a second is dropped as missing (a
  stopped writer's backlog is as old as the stop: it would set that
  pace). A second is *due* when both clocks say it has ended;
  with no latency known, when the GPS clock says so (the first second
  followed: not before its wait began), so that a follower behind the
  clock with nothing to read catches up at once;
- a second whose files have not appeared ``frame_timeout`` seconds after
  it was due is dropped, and the drop names the file that is missing;
- a file that exists but cannot be read yet (still being written by a
  non-atomic writer), or whose content (start time, duration) disagrees
  with its name, is retried until that deadline (the real file may
  replace it), then dropped as corrupt; it is read again only once it
  changed;
- when the stream of a missing file has moved on (a newer file of that
  stream exists: LIGO writes each stream in order) the missing second is
  only given ``late_grace`` seconds, and none when that stream is two or
  more seconds ahead. A newer file of the *other* stream proves nothing:
  a strain frame that came before its lagging witness frame is not late.
  Only a file its stream's data clock allows counts: one that claims a
  second more than ``future_tolerance`` seconds ahead of that clock
  proves nothing about earlier seconds; it is reported once, by name,
  and ignored;
- a readable frame that lacks a channel or holds NaN/inf is dropped at once;
- after ``max_consecutive_drops`` drops in a row the stream is reported down
  (once, ERROR) and reported back up when data returns.

With ``wait=False`` (stored data: every file that will ever exist is there
already) nothing is waited for: a missing or unreadable second is dropped
at the first look.

Counts of what was refused (``future_file``, ``mislabelled``,
``late_after_drop``) are kept in :attr:`FrameFollower.events` for the
services' metrics.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal

import numpy as np

from utils.errors import BadData
from utils.errors import ChannelMissing
from utils.errors import ConfigError
from utils.errors import FrameError
from utils.errors import FrameMislabelled
from utils.errors import FrameMissing
from utils.gpstime import gps_now
from utils.gpstime import gps_to_unix
from utils.gwf import Series
from utils.gwf import check_span
from utils.gwf import read_frame
from utils.inference import FLOAT32_MAX
from utils.names import data_folder
from utils.names import list_frames
from utils.names import strain_description
from utils.names import strain_name
from utils.names import witness_description
from utils.names import witness_name
from utils.settings import require_positive
from utils.waiting import wait_for

logger = logging.getLogger(__name__)

# stray files from the future named one by one in an hour, per stream
# (then one ERROR, and the rest only counted: a runaway writer or a wrong
# clock must not flood the log)
MAX_REPORTED = 1000
# s: a stream's file there this long before the other stream's file of the
# same second, waited for, did not hold the follower back (one writer
# writing both files of a batch, one after the other, is quicker than this)
LEAD = 0.5


@dataclass(frozen=True)
class StreamConfig:
    """Where the live frames are and how long to wait for them.

    Attributes:
        data_dir: holds ``kafka/{IFO}/`` (strain) and ``lldetchar/{IFO}/``.
        ifo: interferometer, e.g. ``L1``.
        strain_channel: full name, e.g. ``L1:GDS-CALIB_STRAIN``.
        state_channel: state vector carrying analysis-ready bits.
        witness_channels: full witness channel names.
        frame_timeout: seconds after a frame is due before it is dropped.
        max_consecutive_drops: drops in a row that mean "stream down".
        start_timeout: seconds to wait for the very first frame.
        late_grace: seconds given to a missing frame once a newer one exists.
        poll_interval: seconds between looks at the directory.
        future_tolerance: seconds a file may claim a second ahead of the
            data clock and still count as a newer frame.
        late_memory: dropped seconds watched for a late arrival that
            moves the data clock: a writer up to about this many seconds
            slower than the follower thought (a witness stream lagging
            from the start, a writer that got slower) is found again.
    """

    data_dir: Path
    ifo: str
    strain_channel: str
    state_channel: str
    witness_channels: tuple[str, ...]
    frame_timeout: float
    max_consecutive_drops: int
    start_timeout: float
    late_grace: float = 0.5  # s; LIGO writes frames in order
    poll_interval: float = 0.05  # s; 20 stats a second
    future_tolerance: float = 1.0  # s of clock jitter allowed
    late_memory: int = 60  # dropped seconds watched

    def __post_init__(self) -> None:
        require_positive(
            self, "frame_timeout", "poll_interval", "start_timeout"
        )
        if self.late_grace < 0 or self.max_consecutive_drops < 1:
            raise ConfigError("late_grace >= 0, max_consecutive_drops >= 1")
        if self.future_tolerance < 0 or self.late_memory < 0:
            raise ConfigError("future_tolerance >= 0, late_memory >= 0")
        for channel in (self.strain_channel, self.state_channel):
            if not channel.startswith(f"{self.ifo}:"):
                raise ConfigError(f"channel {channel} is not of {self.ifo}")

    @property
    def strain_dir(self) -> Path:
        return data_folder(self.data_dir, "strain", self.ifo)

    @property
    def witness_dir(self) -> Path:
        return data_folder(self.data_dir, "witness", self.ifo)


@dataclass
class FrameSecond:
    """One GPS second of input.

    ``strain``/``state``/``witnesses`` are ``None`` when the second was
    dropped; ``reason`` then says why. ``seen_at`` is the wall time
    (``time.time()``) at which both files were first seen.
    """

    gps: int
    strain: Series | None = None
    state: Series | None = None
    witnesses: dict[str, Series] = field(default_factory=dict)
    reason: str | None = None
    seen_at: float | None = None

    @property
    def dropped(self) -> bool:
        return self.reason is not None


def list_gps(directory: Path, description: str | None = None) -> list[int]:
    """Sorted GPS starts of the frame files in ``directory`` (of that
    ``description`` only, if given: a file of another one is not what is
    being looked for, whatever its GPS)."""
    return [frame.gps for frame in list_frames(directory, description)]


def list_begun(directory: Path, description: str) -> list[int]:
    """:func:`list_gps` of the seconds that have begun: a file named for a
    later one is a stray (no writer can have written it), and sets no
    start or resume point."""
    return split_begun(list_gps(directory, description))[0]


def split_begun(seconds: Iterable[int]) -> tuple[list[int], list[int]]:
    """``seconds``, sorted, as ``(begun, not begun)`` by the GPS clock: a
    frame named for a second that has not begun is a stray, whoever's
    folder it is in."""
    now = gps_now()
    ordered = sorted(seconds)
    begun = [gps for gps in ordered if gps < now]
    return begun, ordered[len(begun) :]


@dataclass(eq=False)
class _Stream:
    """One of the two streams a second is read from (strain or witness),
    with what the follower has learnt of its writer."""

    kind: str  # "strain" or "witness"
    directory: Path
    description: str
    name_of: Callable[[str, int], str]
    ifo: str
    latency: float | None = None  # s, GPS clock - this data clock
    measured: bool = False  # latency measured, not only bounded
    # the latency last measured by a file waited for (a latency above it
    # was raised by late files only)
    confirmed: float | None = None
    # a file already there came sooner after its second than the latency
    # says (a backlog, the rest of a batch, a replay faster than real
    # time): until one is waited for, the GPS clock judges what can exist
    outran: bool = False
    newest_seen: int = -1  # newest allowed GPS second seen of it
    listed_at: float = float("-inf")
    # strays from the future seen (as long as they stay); when the last
    # MAX_REPORTED were named; whether naming is held back
    reported: set[int] = field(default_factory=set)
    named: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=MAX_REPORTED)
    )
    flooded: bool = False

    def path(self, gps: int) -> Path:
        return self.directory / self.name_of(self.ifo, gps)

    def learn(self, gps: int, seen_at: float, waited: bool) -> None:
        """Account its file of second ``gps`` first seen at ``seen_at``:
        a measurement when it appeared while ``waited`` for; else (it was
        there already) an upper bound, which only lowers a latency not
        measured yet. A measured latency is not lowered by the files that
        came with the one waited for (a writer that delivers seconds in
        bulk: the first of its next batch will be as late); the next file
        waited for measures it again (and for a stream ahead of a lagging
        other, never waited for, :meth:`learn_ahead` lowers it)."""
        latency = seen_at - gps_to_unix(gps + 1)
        if waited:
            self.latency = self.confirmed = latency
            self.measured, self.outran = True, False
        elif not self.measured:
            if self.latency is None or latency < self.latency:
                self.latency = latency
        elif latency < self.latency:
            self.outran = True

    def learn_late(self, gps: int, seen_at: float, waited: bool) -> None:
        """Its file of second ``gps`` was first seen at ``seen_at``, late:
        the second had been dropped as missing, or (``waited``) it was
        waited for and came with such a file. The writer is at least that
        slow (a slower writer, or a bulk one's first batch; of several
        late files the oldest second's says most): it never lowers the
        latency. Until a file waited for confirms it (one as late as the
        late ones, within :data:`LEAD`, is the writer's pace, not the
        tail of a batch), it lasts to the next second dropped as missing
        (:meth:`forget`)."""
        latency = seen_at - gps_to_unix(gps + 1)
        raised = latency
        if self.measured and self.latency is not None:
            raised = max(latency, self.latency)
        self.latency, self.measured, self.outran = raised, True, False
        if waited and latency >= raised - LEAD:
            self.confirmed = raised

    def learn_ahead(self, gps: int, seen_at: float) -> None:
        """Its file of second ``gps``, first seen at ``seen_at``, was there
        :data:`LEAD` or more before the other stream's, waited for: this
        stream did not hold the follower back (the other one lags), and
        the file's age bounds its latency as a backlog's does: a latency
        above it (a stall's, raised by late files) is lowered to it."""
        latency = seen_at - gps_to_unix(gps + 1)
        if self.latency is None or latency < self.latency:
            self.latency, self.measured, self.outran = latency, False, False
            self.confirmed = None

    def forget(self, missing: bool) -> None:
        """A second was dropped as missing: forget a latency only bounded
        from a backlog (a stopped writer's backlog is as old as the stop;
        a live one's is not its pace), and, if this stream's file was
        ``missing``, one only raised by late files (a stall flushed just
        before the writer stopped would set the pace of the whole
        outage): back to the last one measured by a file waited for, if
        any."""
        if not self.measured:
            self.latency = None
        elif missing:
            self.latency = self.confirmed
            self.measured = self.confirmed is not None


def newest_pairs(config: StreamConfig, count: int) -> list[int]:
    """The newest ``count`` GPS seconds (ascending) of which both the
    strain and the witness files are there, of seconds the GPS clock
    allows: where the channels' rates can be read (a lagging witness
    stream's files come later than the strain's, and a stray ahead
    proves nothing)."""
    ifo = config.ifo
    strain = list_gps(config.strain_dir, strain_description(ifo))
    witness = set(list_gps(config.witness_dir, witness_description(ifo)))
    now = gps_now() + config.future_tolerance
    both = [g for g in strain if g in witness and g + 1 <= now]
    return both[-count:]


def live_edge(path: Path, gps: int) -> int:
    """The GPS second a writer is at now, from its newest file ``path``
    (of second ``gps``): that second plus the whole seconds since the
    file was written, never past the GPS clock. A live writer's newest
    file is its edge; a stopped one's is as old as the stop, and a
    follower started there would run through the whole stop, late."""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return gps
    return min(gps + max(int(age), 0), max(int(gps_now()), gps))


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is replaced or grows; None: absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class FrameFollower:
    """Iterate over GPS seconds of strain + witness frames.

    Args:
        config: where and how long.
        start: ``"newest"``: the strain writer's edge (:func:`live_edge`
            of the newest strain frame the GPS clock allows: the live
            stream, even while the witness stream is down), ``"oldest"``
            strain frame present, or an explicit GPS second.
        wait: ``False`` for stored data: never wait for a file.
    """

    def __init__(
        self,
        config: StreamConfig,
        start: Literal["newest", "oldest"] | int = "newest",
        wait: bool = True,
    ) -> None:
        self.config = config
        self.events: collections.Counter[str] = collections.Counter()
        self._start = start
        self._wait = wait
        self._gps: int | None = None
        self._followed = False  # a second was followed already
        self._consecutive_drops = 0
        self._down = False
        ifo = config.ifo
        self._strain = _Stream(
            "strain",
            config.strain_dir,
            strain_description(ifo),
            strain_name,
            ifo,
        )
        self._witness = _Stream(
            "witness",
            config.witness_dir,
            witness_description(ifo),
            witness_name,
            ifo,
        )
        self._streams = (self._strain, self._witness)
        # seconds dropped as missing -> their files that were missing
        self._missed: dict[int, list[tuple[_Stream, Path]]] = {}
        # the strain path of the last failed read -> (what both files
        # looked like, the error): an unchanged file is not read again
        self._tried: dict[Path, tuple[tuple, FrameError]] = {}

    @property
    def next_gps(self) -> int | None:
        return self._gps

    def _first_gps(self) -> int:
        if isinstance(self._start, int):
            return self._start

        strain = self._strain

        def poll() -> int | None:
            present = list_gps(strain.directory, strain.description)
            if not present:
                return None
            if self._start == "oldest":
                return present[0]
            allowed = [g for g in present if self._allowed(g, strain)]
            if not allowed:
                return None
            return live_edge(strain.path(allowed[-1]), allowed[-1])

        return wait_for(
            poll,
            f"a first frame in {self.config.strain_dir}",
            timeout=self.config.start_timeout,
            interval=max(self.config.poll_interval, 0.2),
            log_interval=30.0,
        )

    def __iter__(self) -> Iterator[FrameSecond]:
        while True:
            yield self.next_second()

    def next_second(self) -> FrameSecond:
        """Block (boundedly) for the next GPS second and return it."""
        if self._gps is None:
            self._gps = self._first_gps()
            logger.info(
                "following %s from GPS %d", self.config.strain_dir, self._gps
            )
        gps = self._gps
        second = self._wait_for_second(gps)
        self._followed = True
        self._gps = gps + 1
        self._account(second)
        return second

    # -- the data clocks --------------------------------------------------
    def _due(self, gps: int, waiting_since: float) -> float:
        """Wall time at which second ``gps`` has ended on both data
        clocks. With no latency known, when the GPS clock says so; for
        the first second followed, not before its wait began (a start in
        the past gives it ``frame_timeout``; every later second past its
        end is dropped at once, so that a follower behind the clock with
        nothing to read catches up instead of falling further behind)."""
        end = gps_to_unix(gps + 1)
        known = [s.latency for s in self._streams if s.latency is not None]
        if known:
            return end + max(known)
        return end if self._followed else max(waiting_since, end)

    def _allowed(self, gps: int, stream: _Stream) -> bool:
        """Whether ``stream``'s file of second ``gps`` can exist by now."""
        tolerance = self.config.future_tolerance
        if gps + 1 > gps_now() + tolerance:
            return False
        if not stream.measured or stream.outran:
            return True  # reading a backlog: the GPS clock decides
        due = gps_to_unix(gps + 1) + stream.latency
        return time.time() >= due - tolerance

    def _watch_late(self, gps: int) -> set[str]:
        """Move a data clock if a file of a recently missed second turned
        up (its writer has become slower: fall back in step with it);
        return the kinds of the streams of which one did."""
        late = set()
        for missed, files in list(self._missed.items()):
            if missed < gps - self.config.late_memory:
                del self._missed[missed]
                continue
            for stream, path in [f for f in files if f[1].exists()]:
                files.remove((stream, path))
                before = stream.latency
                stream.learn_late(missed, time.time(), waited=False)
                late.add(stream.kind)
                self.events["late_after_drop"] += 1
                logger.warning(
                    "GPS %d arrived after it was dropped (%s): the %s "
                    "writer's latency is now %.1f s (was %.1f s); "
                    "following it",
                    missed,
                    path,
                    stream.kind,
                    stream.latency,
                    before or 0.0,
                )
            if not files:
                del self._missed[missed]
        return late

    # -- newer frames -----------------------------------------------------
    def _moved_on(self, stream: _Stream, gps: int) -> bool:
        """Whether ``stream`` holds a file newer than second ``gps`` (that
        its data clock allows)."""
        # the next second's file is one stat; a directory listing (to see
        # further ahead) at most once per second, as it grows with the
        # directory
        if stream.newest_seen > gps:
            return True
        following = stream.path(gps + 1)
        # a folder at its name holds no data (list_frames skips it too)
        if following.is_file() and self._allowed(gps + 1, stream):
            stream.newest_seen = gps + 1
            return True
        now = time.time()
        if now - stream.listed_at >= 1.0:
            stream.listed_at = now
            newest = stream.newest_seen
            future = []
            for present in reversed(
                list_gps(stream.directory, stream.description)
            ):
                if present <= max(gps, newest):
                    break
                if self._allowed(present, stream):
                    stream.newest_seen = present
                    break
                future.append(present)
            self._report_future(stream, future)
        return stream.newest_seen > gps

    def _report_future(self, stream: _Stream, future: list[int]) -> None:
        """Count, and name once each, the files of ``stream`` in a listing
        that claim seconds its clock does not allow yet (``future``); those
        no longer there (or allowed by now) are forgotten. At most
        :data:`MAX_REPORTED` are named in an hour."""
        stream.reported &= set(future)
        new = [gps for gps in future if gps not in stream.reported]
        stream.reported.update(new)
        self.events["future_file"] += len(new)
        now = time.time()
        held_back = 0
        for gps in new:
            named = stream.named
            if len(named) == named.maxlen and now - named[0] < 3600:
                held_back += 1
                continue
            named.append(now)
            logger.warning(
                "ignoring %s: it claims GPS %d, which cannot have ended "
                "yet (%.1f s ahead of the %s data clock; a stray or "
                "mislabelled file?); it drops no earlier second",
                stream.path(gps),
                gps,
                gps - (gps_now() - 1 - (stream.latency or 0.0)),
                stream.kind,
            )
        if held_back and not stream.flooded:
            logger.error(
                "more than %d %s files in an hour claim seconds that cannot "
                "have ended yet (a runaway writer, or a wrong clock?): the "
                "others are counted, not named",
                MAX_REPORTED,
                stream.kind,
            )
        named = stream.named
        stream.flooded = len(named) == named.maxlen and now - named[0] < 3600

    def _wait_for_second(self, gps: int) -> FrameSecond:
        config = self.config
        # named once a second, not at each look
        paths = tuple(stream.path(gps) for stream in self._streams)
        strain_path, witness_path = paths
        start = time.time()
        newer_since = None
        last_error: FrameError | None = None
        # each stream's file: when first seen, and whether it was waited
        # for (absent at an earlier look)
        arrivals: dict[str, tuple[float, bool]] = {}
        waited = False
        # the streams of which a missed second's file came during the wait
        late: set[str] = set()
        # the streams that had written two newer seconds at the first look
        behind: set[str] | None = None
        while True:
            missing = self._look(paths, arrivals, waited)
            if behind is None:
                # with nothing learnt of the writers yet, every gap gets
                # its grace: the next second, past its end, is dropped if
                # not there at once, and the grace lets a lagging stream's
                # file of it come
                known = missing and any(
                    s.latency is not None for s in self._streams
                )
                behind = self._behind(gps) if known else set()
            # before a read ends the watch: the files of missed seconds
            # that came with this one count
            late |= self._watch_late(gps)
            if not missing:
                try:
                    return self._try_read(
                        gps, strain_path, witness_path, arrivals, late
                    )
                except (ChannelMissing, BadData) as exc:
                    return self._drop(gps, str(exc))
                except FrameError as exc:  # not written yet, or mislabelled
                    last_error = exc
            elif last_error is None or isinstance(last_error, FrameMissing):
                last_error = _missing(gps, missing)
            now = time.time()
            deadline = max(
                self._due(gps, start) + config.frame_timeout,
                start + config.poll_interval,
            )
            if not self._wait or now >= deadline:
                if isinstance(last_error, FrameMissing):
                    self._remember_missed(gps, missing)
                return self._drop(
                    gps, f"{last_error} (after {now - start:.1f} s)"
                )
            newer_since = self._newer_since(gps, missing, newer_since, now)
            if newer_since is not None:
                if now - newer_since >= self._grace(gps, missing, behind):
                    return self._drop(
                        gps, f"{last_error}; a newer frame exists"
                    )
            time.sleep(config.poll_interval)
            waited = True

    def _newer_since(
        self,
        gps: int,
        missing: list[_Stream],
        since: float | None,
        now: float,
    ) -> float | None:
        """Since when the stream of a missing file of second ``gps`` has
        held a newer file (None: none has). Judged again at each look: the
        file of a stream that moved on may have come since, and a newer
        file of the other stream proves nothing."""
        if not missing:  # both there, not readable yet: as it was
            return since
        if not any(self._moved_on(stream, gps) for stream in missing):
            return None
        return now if since is None else since

    def _behind(self, gps: int) -> set[str]:
        """The kinds of the streams that have written second ``gps + 2``
        already (that their data clocks allow): asked at the first look at
        ``gps``, a file of it missing then is not late but gone (a gap in
        a backlog). Asked later, it proves less: the files of a batch can
        appear out of order."""
        return {
            stream.kind
            for stream in self._streams
            if stream.path(gps + 2).is_file()
            and self._allowed(gps + 2, stream)
        }

    def _grace(
        self, gps: int, missing: list[_Stream], behind: set[str]
    ) -> float:
        """How long a missing file is waited for once its stream moved
        on: none when the follower came to it two or more seconds behind
        its stream (``behind``), or it is two or more behind the newest of
        its stream a listing found (not late but gone: catching up after
        an outage)."""
        if any(
            stream.kind in behind or stream.newest_seen >= gps + 2
            for stream in missing
        ):
            return 0.0
        return self.config.late_grace

    def _look(
        self,
        paths: tuple[Path, ...],
        arrivals: dict[str, tuple[float, bool]],
        waited: bool,
    ) -> list[_Stream]:
        """The streams whose file (of ``paths``, one per stream) is not
        there; notes in ``arrivals`` when each other one was first seen."""
        now = time.time()
        missing = []
        for stream, path in zip(self._streams, paths, strict=True):
            if not path.exists():
                missing.append(stream)
            elif stream.kind not in arrivals:
                arrivals[stream.kind] = (now, waited)
        return missing

    def _remember_missed(self, gps: int, missing: list[_Stream]) -> None:
        """Second ``gps`` was dropped with the files of ``missing`` not
        there: watch for them (a late file moves its stream's clock).
        A latency only bounded from a backlog (the age of the files read,
        however stale: a writer may have stopped before the follower
        started), or, for the streams of ``missing``, only raised by late
        files, has only delayed the drop: it is forgotten
        (:meth:`_Stream.forget`), and the next seconds are
        due on the GPS clock plus what files waited for measured, not
        that long after it."""
        for stream in self._streams:
            stream.forget(stream in missing)
        if self._wait and self.config.late_memory and missing:
            self._missed[gps] = [(s, s.path(gps)) for s in missing]

    def _try_read(
        self,
        gps: int,
        strain_path: Path,
        witness_path: Path,
        arrivals: dict[str, tuple[float, bool]],
        late: set[str],
    ) -> FrameSecond:
        """Read the second, unless both files are as they were when they
        last failed (then raise that failure again without reading).
        ``late``: the streams of which a missed second's file came while
        this one was waited for: this one came with it (a batch), and
        its arrival only raises the latency, and confirms it when it is
        as late as they were (within :data:`LEAD`)."""
        signature = (_signature(strain_path), _signature(witness_path))
        failed = self._tried.get(strain_path)
        if failed is not None and failed[0] == signature:
            raise failed[1]
        try:
            second = read_second(self.config, gps, strain_path, witness_path)
        except FrameMislabelled as exc:
            self._tried = {strain_path: (signature, exc)}
            self.events["mislabelled"] += 1
            logger.warning("%s: not used; waiting for the real file", exc)
            raise
        except FrameError as exc:
            self._tried = {strain_path: (signature, exc)}
            raise
        self._tried = {}
        if self._wait:
            # the newest evidence of the writers' latencies; seconds missed
            # before it are no longer evidence (they were late, alone)
            last = max((t for t, w in arrivals.values() if w), default=None)
            for stream in self._streams:
                seen_at, waited = arrivals[stream.kind]
                if waited and stream.kind in late:
                    stream.learn_late(gps, seen_at, waited=True)
                elif (
                    not waited and last is not None and last - seen_at >= LEAD
                ):
                    stream.learn_ahead(gps, seen_at)
                else:
                    stream.learn(gps, seen_at, waited)
            self._missed.clear()
        return second

    def _drop(self, gps: int, reason: str) -> FrameSecond:
        return FrameSecond(gps, reason=reason)

    def _account(self, second: FrameSecond) -> None:
        if second.dropped:
            self._consecutive_drops += 1
            logger.warning("GPS %d dropped: %s", second.gps, second.reason)
            if (
                not self._down
                and self._consecutive_drops
                >= self.config.max_consecutive_drops
            ):
                self._down = True
                logger.error(
                    "stream down: %d consecutive seconds dropped since GPS %d",
                    self._consecutive_drops,
                    second.gps - self._consecutive_drops + 1,
                )
        else:
            if self._down:
                logger.info(
                    "stream back at GPS %d after %d dropped seconds",
                    second.gps,
                    self._consecutive_drops,
                )
            self._down = False
            self._consecutive_drops = 0
            logger.debug("GPS %d read", second.gps)

    @property
    def consecutive_drops(self) -> int:
        return self._consecutive_drops

    @property
    def down(self) -> bool:
        return self._down


def _missing(gps: int, missing: list[_Stream]) -> FrameMissing:
    """The error naming the missing files of second ``gps``."""
    if len(missing) == 1:
        stream = missing[0]
        return FrameMissing(f"no {stream.kind} frame {stream.path(gps)}")
    paths = " nor ".join(str(stream.path(gps)) for stream in missing)
    return FrameMissing(f"no frame {paths}")


def read_second(
    config: StreamConfig,
    gps: int,
    strain_path: Path | None = None,
    witness_path: Path | None = None,
) -> FrameSecond:
    """The configured channels of second ``gps``, read from its strain
    and witness frames (by default at their names) and checked: each file
    spans what its name claims, every sample is finite.

    Raises:
        FrameError: a file is missing, unreadable, mislabelled, lacks a
            channel, or holds non-finite samples.
    """
    strain_path = strain_path or config.strain_dir / strain_name(
        config.ifo, gps
    )
    witness_path = witness_path or config.witness_dir / witness_name(
        config.ifo, gps
    )
    raw = read_frame(
        strain_path, [config.strain_channel, config.state_channel]
    )
    witnesses = read_frame(witness_path, list(config.witness_channels))
    check_span(strain_path, gps, raw)
    check_span(witness_path, gps, witnesses)
    for name, series in [*raw.items(), *witnesses.items()]:
        # one pass: NaN and inf fail it too; beyond float32 (garbage,
        # swapped bytes) the network's input cannot hold a sample, and the
        # strain's squares would overflow
        if not np.all(np.abs(series.data) <= FLOAT32_MAX):
            what = (
                f"samples beyond {FLOAT32_MAX:.3g}"
                if np.all(np.isfinite(series.data))
                else "non-finite samples"
            )
            raise BadData(f"channel {name} in GPS {gps} holds {what}")
    return FrameSecond(
        gps,
        strain=raw[config.strain_channel],
        state=raw[config.state_channel],
        witnesses=witnesses,
        seen_at=time.time(),
    )
