"""The two ends of a running pipeline under chaos: the raw frames going in
(:class:`FrameSource`, which takes over from the replay service) and the
carousel frames coming out (:class:`CarouselWatcher`, which reads every one
as soon as it appears). Used by ``faults.py``.

Time stamps are wall clock (``time.time()``).
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import Pipeline
from pipeline import wait_until
from utils.atomic import atomic_path
from utils.channels import State
from utils.errors import FrameError
from utils.errors import FrameMissing
from utils.follower import list_gps
from utils.gwf import read_frame
from utils.names import cleaned_name
from utils.names import list_frames
from utils.names import strain_name
from utils.names import witness_name
from utils.simulation import Fault
from utils.simulation import SimulationConfig
from utils.simulation import Simulator

# the simulator's file-level and data-level faults (drop, partial, corrupt,
# missing_channel, nan_strain, nan_witness, not_ready); "late" is done
# here instead: the writer stalls, in order, as LIGO's does
FAULTS = {f.value: f for f in Fault if f is not Fault.LATE}
KEEP_LENGTH = 600  # s of raw frames kept, as the replay service keeps
JOIN_TIMEOUT = 10.0  # s for a partial write's thread to finish


def simulation_config(pipe: Pipeline) -> SimulationConfig:
    """The replay service's simulation, from the pipeline's configuration
    (same seed and channels: the data continue seamlessly)."""
    return SimulationConfig(
        ifo=pipe.ifo,
        witness_channels=tuple(pipe.setting("replay", "witness_channels")),
        seed=int(pipe.setting("replay", "seed")),
        strain_channel=pipe.setting("replay", "strain_channel"),
        state_channel=pipe.setting("replay", "state_channel"),
    )


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: tmux reaps dead panes
    late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(frozen=True)
class Injection:
    """What happens to one raw second: a fault kind, and for ``late`` the
    seconds the writer stalls before writing it. Once the second is
    written, a copy of its strain and witness frames is put under the
    names of each second ``copies`` ahead (a mislabelled file), and junk
    under the strain name of each second ``junk`` ahead (stray files;
    the writer replaces them when it comes to those seconds)."""

    kind: str
    delay: float = 0.0
    copies: tuple[int, ...] = ()
    junk: tuple[int, ...] = ()


class FrameSource:
    """Writes the raw frames, one per second, in place of the replay
    service, breaking the seconds it is told to.

    Args:
        pipe: the running pipeline.
    """

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self.sim = Simulator(simulation_config(pipe))
        self.plan: dict[int, Injection] = {}
        self.written: dict[int, float] = {}  # gps -> wall time complete
        self.strays: list[Path] = []  # stray files put in the data folders
        self.errors: list[str] = []
        self.next_gps: int | None = None
        self._anchor = (0.0, 0)  # (wall time, GPS) of the pace
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, daemon=True, name="chaos-source"
        )

    @property
    def strain_dir(self) -> Path:
        return self.pipe.data_dir / "kafka" / self.pipe.ifo

    def take_over(self, timeout: float = 30.0) -> int:
        """Stop the replay service (SIGTERM to its supervisor: no restart)
        and continue its stream. Returns the first GPS second written here.

        Raises:
            RuntimeError: the replay's frames are not this simulation's.
        """
        supervisor = self.pipe.pane_pid("replay")
        if alive(supervisor):
            child = self.pipe.service_pid("replay")
            os.kill(supervisor, signal.SIGTERM)
            wait_until(
                lambda: not (alive(child) or alive(supervisor)),
                "the replay service to stop",
                timeout,
                0.05,
            )
        newest = list_gps(self.strain_dir)[-1]
        channel = self.sim.config.strain_channel
        path = self.strain_dir / strain_name(self.pipe.ifo, newest)
        theirs = read_frame(path, [channel])[channel].data
        if not np.array_equal(theirs, self.sim.second(newest).strain):
            raise RuntimeError(
                f"GPS {newest}: replay data differ from "
                "the simulation configured here"
            )
        # at the replay's pace (the GPS clock); a stream stopped long ago
        # resumes now
        self._anchor = (max(path.stat().st_mtime, time.time() - 1), newest)
        self.next_gps = newest + 1
        self._thread.start()
        return self.next_gps

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=JOIN_TIMEOUT + 5)

    def inject(
        self, kind: str, count: int = 1, delay: float = 0.0, lead: int = 2
    ) -> list[int]:
        """Break ``count`` seconds from ``lead`` seconds ahead of the
        writer (and after a clean second following the last planned
        fault); returns their GPS seconds."""
        if kind != "late" and kind not in FAULTS:
            raise ValueError(f"unknown fault {kind}")
        return self.plan_seconds([Injection(kind, delay)] * count, lead)

    def plan_seconds(
        self, injections: list[Injection | None], lead: int = 2
    ) -> list[int]:
        """Plan consecutive seconds (``None``: written normally) from
        ``lead`` seconds ahead of the writer; returns their GPS seconds."""
        with self._lock:
            start = max(self.next_gps + lead, max(self.plan, default=0) + 2)
            if start - self.next_gps < 1:
                raise ValueError(f"GPS {start} is being written already")
            seconds = list(range(start, start + len(injections)))
            for gps, injection in zip(seconds, injections, strict=True):
                if injection is not None:
                    self.plan[gps] = injection
        return seconds

    def remove_strays(self) -> None:
        """Delete the stray files that are still there."""
        for path in self.strays:
            path.unlink(missing_ok=True)
        self.strays.clear()

    def wait_written(self, gps: int, timeout: float) -> float:
        """Wall time at which raw second ``gps`` was complete."""
        return wait_until(
            lambda: self.written.get(gps),
            f"raw GPS {gps} to be written",
            timeout,
            0.05,
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            gps = self.next_gps
            delay = self._anchor[0] + gps - self._anchor[1] - time.time()
            if delay > 0 and self._stop.wait(delay):
                return
            try:
                self._write(gps, self.plan.get(gps))
            except (OSError, RuntimeError, TimeoutError) as exc:
                self.errors.append(f"GPS {gps}: {exc!r}")
            with self._lock:
                self.next_gps = gps + 1
            if gps % 10 == 0:
                self._prune(gps)

    def _write(self, gps: int, injection: Injection | None) -> None:
        data_dir = self.pipe.data_dir
        if injection is not None and injection.kind == "late":
            self._stop.wait(injection.delay)
            injection = None
        fault = FAULTS.get(injection.kind) if injection else None
        try:
            thread = self.sim.write(gps, data_dir, fault)
        except FileExistsError:  # written by the replay before it stopped
            thread = None
        if thread is not None:
            thread.join(timeout=JOIN_TIMEOUT)
            if thread.is_alive():
                raise TimeoutError(f"partial write of GPS {gps} hangs")
        self.written[gps] = time.time()
        if injection is not None:
            self._put_strays(gps, injection)

    def _put_strays(self, gps: int, injection: Injection) -> None:
        ifo, data_dir = self.pipe.ifo, self.pipe.data_dir
        for ahead in injection.copies:
            target = gps + ahead
            for folder, name in (
                (self.strain_dir, strain_name(ifo, target)),
                (data_dir / "lldetchar" / ifo, witness_name(ifo, target)),
            ):
                source = folder / name.replace(str(target), str(gps))
                path = folder / name
                with atomic_path(path) as tmp:
                    shutil.copyfile(source, tmp)
                self.strays.append(path)
        for ahead in injection.junk:
            path = self.strain_dir / strain_name(ifo, gps + ahead)
            path.write_bytes(b"\0junk" * 2000)
            self.strays.append(path)

    def _prune(self, newest: int) -> None:
        for kind in ("kafka", "lldetchar", "truth"):
            folder = self.pipe.data_dir / kind / self.pipe.ifo
            for frame in list_frames(folder):
                if frame.gps <= newest - KEEP_LENGTH:
                    Path(frame.path).unlink(missing_ok=True)


@dataclass
class Seen:
    """One carousel frame as the watcher first read it."""

    gps: int
    seen_at: float  # wall time it was first read
    state: int  # STATE_VECTOR bits (utils.channels.State)
    production_version: int
    canary_version: int
    out_dq: np.ndarray
    raw: np.ndarray
    identity: tuple[int, int]  # (inode, mtime_ns): rewritten if it changes

    def has(self, bits: State) -> bool:
        return self.state & bits == bits


class CarouselWatcher:
    """Reads each new carousel frame at once (every ``interval`` s) and
    records what a reader saw, including any visible file it could not
    read (a partial or corrupt frame in the carousel).

    Args:
        pipe: the running pipeline.
        interval: seconds between looks at the folder.
    """

    def __init__(self, pipe: Pipeline, interval: float = 0.2) -> None:
        self.pipe = pipe
        self.interval = interval
        self.seen: dict[int, Seen] = {}
        self.violations: list[str] = []
        self._description = f"{pipe.ifo}_DEEPCLEAN"
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, daemon=True, name="chaos-watcher"
        )

    def start(self) -> None:
        self._scan()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._scan()
            except OSError as exc:  # e.g. the folder briefly unreadable
                self.violations.append(f"cannot list the carousel: {exc}")

    def _scan(self) -> None:
        for frame in list_frames(self.pipe.carousel, self._description):
            if frame.duration == 1 and frame.gps not in self.seen:
                self._read(frame.gps, Path(frame.path))

    def _read(self, gps: int, path: Path) -> None:
        ch = self.pipe.channels
        try:
            stat = path.stat()
            frame = read_frame(path)
        except (FileNotFoundError, FrameMissing):
            return  # pruned meanwhile
        except FrameError as exc:
            if path.exists():
                self.violations.append(
                    f"{path.name} visible but unreadable: {exc}"
                )
            return
        state = frame[ch.state].data
        if np.any(state != state[0]):
            self.violations.append(f"GPS {gps}: state varies in the second")
        self.seen[gps] = Seen(
            gps,
            time.time(),
            int(state[0]),
            int(frame[ch.production_version].data[0]),
            int(frame[ch.canary_version].data[0]),
            frame[ch.out_dq].data,
            frame[ch.raw].data,
            (stat.st_ino, stat.st_mtime_ns),
        )

    def wait_for(self, gps: int, timeout: float) -> Seen:
        return wait_until(
            lambda: self.seen.get(gps),
            f"carousel frame GPS {gps}",
            timeout,
            0.05,
        )

    def newest(self) -> int | None:
        return max(self.seen, default=None)

    def frames(
        self, gps: Iterable[int], problems: list[str]
    ) -> dict[int, Seen] | None:
        """The frames seen for the seconds ``gps``; None, with a problem
        appended to ``problems``, when any of them was not seen."""
        frames = {g: self.seen.get(g) for g in gps}
        missing = [g for g, f in frames.items() if f is None]
        if missing:
            problems.append(f"no frame for GPS {missing}")
            return None
        return frames

    def first_after(self, when: float, predicate) -> Seen | None:
        """The first frame (GPS order) read after ``when`` satisfying
        ``predicate``."""
        for gps in sorted(self.seen):
            seen = self.seen[gps]
            if seen.seen_at > when and predicate(seen):
                return seen
        return None

    def rewritten(self) -> list[int]:
        """Frames whose file was replaced after it was first read."""
        out = []
        for gps, seen in list(self.seen.items()):
            path = self.pipe.carousel / cleaned_name(self.pipe.ifo, gps)
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # pruned
            if (stat.st_ino, stat.st_mtime_ns) != seen.identity:
                out.append(gps)
        return out
