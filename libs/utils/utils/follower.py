"""Following the live strain and witness frames second by second.

:class:`FrameFollower` yields one :class:`FrameSecond` per GPS second, in
order, never skipping one: either the data, or a *dropped* second with the
reason. Every wait is bounded:

- a second whose files have not appeared ``frame_timeout`` seconds after they
  were due is dropped (due = one second after the previous real frame was
  seen, so a long outage keeps pace with the writer's clock);
- a file that exists but cannot be read yet (still being written by a
  non-atomic writer) is retried until that deadline, then dropped as corrupt;
- when a newer frame already exists the missing second is only given
  ``late_grace`` seconds (LIGO writes frames in order), and none when it is
  two or more seconds behind the newest frame;
- a readable frame that lacks a channel or holds NaN/inf is dropped at once;
- after ``max_consecutive_drops`` drops in a row the stream is reported down
  (once, ERROR) and reported back up when data returns.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal

import numpy as np

from utils.errors import (
    BadData,
    ChannelMissing,
    ConfigError,
    FrameError,
    FrameMissing,
)
from utils.gwf import Series, read_frame
from utils.names import FrameName, strain_name, witness_name
from utils.waiting import wait_for

logger = logging.getLogger(__name__)


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
        late_grace: seconds given to a missing frame once a newer one exists.
        poll_interval: seconds between looks at the directory.
        max_consecutive_drops: drops in a row that mean "stream down".
        start_timeout: seconds to wait for the very first frame.
    """

    data_dir: Path
    ifo: str
    strain_channel: str
    state_channel: str
    witness_channels: tuple[str, ...]
    frame_timeout: float = 2.0
    late_grace: float = 0.5
    poll_interval: float = 0.05
    max_consecutive_drops: int = 30
    start_timeout: float = 600.0

    def __post_init__(self) -> None:
        for name in ("frame_timeout", "poll_interval", "start_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.late_grace < 0 or self.max_consecutive_drops < 1:
            raise ConfigError("late_grace >= 0, max_consecutive_drops >= 1")
        for channel in (self.strain_channel, self.state_channel):
            if not channel.startswith(f"{self.ifo}:"):
                raise ConfigError(f"channel {channel} is not of {self.ifo}")

    @property
    def strain_dir(self) -> Path:
        return Path(self.data_dir) / "kafka" / self.ifo

    @property
    def witness_dir(self) -> Path:
        return Path(self.data_dir) / "lldetchar" / self.ifo


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


def list_gps(directory: Path) -> list[int]:
    """Sorted GPS starts of the frame files in ``directory``."""
    out = []
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return out
    with entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                out.append(FrameName.parse(entry.name).gps)
            except ValueError:
                continue
    return sorted(out)


class FrameFollower:
    """Iterate over GPS seconds of strain + witness frames.

    Args:
        config: where and how long.
        start: ``"newest"`` frame present, ``"oldest"`` one present, or an
            explicit GPS second.
        clock: wall clock (``time.time``); injectable for tests.
    """

    def __init__(
        self,
        config: StreamConfig,
        start: Literal["newest", "oldest"] | int = "newest",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._start = start
        self._clock = clock
        self._gps: int | None = None
        self._due: float | None = None
        self._consecutive_drops = 0
        self._down = False
        self._listed_at = float("-inf")
        self._newest_seen = -1

    @property
    def next_gps(self) -> int | None:
        return self._gps

    def _first_gps(self) -> int:
        if isinstance(self._start, int):
            return self._start

        def poll() -> int | None:
            present = list_gps(self.config.strain_dir)
            if not present:
                return None
            return present[-1] if self._start == "newest" else present[0]

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
        self._gps = gps + 1
        self._account(second)
        return second

    def _paths(self, gps: int) -> tuple[Path, Path]:
        ifo = self.config.ifo
        return (
            self.config.strain_dir / strain_name(ifo, gps),
            self.config.witness_dir / witness_name(ifo, gps),
        )

    def _newer_exists(self, gps: int) -> bool:
        # the next second's file is one stat; a directory listing (to see
        # further ahead) at most once per second, as it grows with the
        # directory; frames once seen do not un-appear
        if self._newest_seen > gps or self._paths(gps + 1)[0].exists():
            return True
        now = self._clock()
        if now - self._listed_at >= 1.0:
            self._listed_at = now
            present = list_gps(self.config.strain_dir)
            if present:
                self._newest_seen = max(self._newest_seen, present[-1])
        return self._newest_seen > gps

    def _wait_for_second(self, gps: int) -> FrameSecond:
        config = self.config
        strain_path, witness_path = self._paths(gps)
        start = self._clock()
        due = self._due if self._due is not None else start
        deadline = max(due + config.frame_timeout, start + config.poll_interval)
        newer_since = None
        last_error: FrameError = FrameMissing(f"no frame {strain_path}")
        while True:
            both = strain_path.exists() and witness_path.exists()
            if both:
                try:
                    return self._read(gps, strain_path, witness_path)
                except (ChannelMissing, BadData) as exc:
                    return self._drop(gps, str(exc))
                except FrameError as exc:  # missing or not fully written yet
                    last_error = exc
            now = self._clock()
            if now >= deadline:
                return self._drop(gps, f"{last_error} (after {now - start:.1f} s)")
            if newer_since is None and not both and self._newer_exists(gps):
                newer_since = now
            if newer_since is not None:
                # a frame two or more seconds behind the newest is not late
                # but gone: no grace (catching up after an outage)
                grace = 0.0 if self._newest_seen >= gps + 2 else (
                    config.late_grace
                )
                if now - newer_since >= grace:
                    return self._drop(
                        gps, f"{last_error}; a newer frame exists"
                    )
            time.sleep(config.poll_interval)

    def _read(
        self, gps: int, strain_path: Path, witness_path: Path
    ) -> FrameSecond:
        config = self.config
        raw = read_frame(
            strain_path, [config.strain_channel, config.state_channel]
        )
        witnesses = read_frame(witness_path, list(config.witness_channels))
        for name, series in [*raw.items(), *witnesses.items()]:
            expected = int(round(series.sample_rate))
            if series.data.size != expected:
                raise BadData(
                    f"channel {name} in GPS {gps} has {series.data.size} "
                    f"samples, expected {expected}"
                )
            if not np.all(np.isfinite(series.data)):
                raise BadData(
                    f"channel {name} in GPS {gps} holds non-finite samples"
                )
        seen = self._clock()
        self._due = seen + 1.0
        return FrameSecond(
            gps,
            strain=raw[config.strain_channel],
            state=raw[config.state_channel],
            witnesses=witnesses,
            seen_at=seen,
        )

    def _drop(self, gps: int, reason: str) -> FrameSecond:
        # the next second is due one second after this one was due, so an
        # outage keeps pace with the writer's clock
        due = self._due if self._due is not None else self._clock()
        self._due = due + 1.0
        return FrameSecond(gps, reason=reason)

    def _account(self, second: FrameSecond) -> None:
        if second.dropped:
            self._consecutive_drops += 1
            logger.warning("GPS %d dropped: %s", second.gps, second.reason)
            if (
                not self._down
                and self._consecutive_drops >= self.config.max_consecutive_drops
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
