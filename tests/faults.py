"""Faults injected into a running pipeline, one method each, and the
promises each must leave intact. Shared by ``tests/test_chaos.py`` (the
quick subset, in CI) and ``bench/chaos.py`` (every fault one at a time,
then combined, printed as a table).

Every fault returns an :class:`Outcome`: how it was detected (log line,
state bit), the recovery time (s from the end of the fault to the first
normal output), the seconds affected and what happened; ``problems`` lists
each broken promise (empty: passed). Every wait is bounded by
:data:`HANG_TIMEOUT`: a service that does not recover is a problem, never a
hang of the suite. Bounds come from the configuration (:class:`Bounds`);
those of a restart also from how long the service took to start with the
pipeline on this machine (:func:`restart_bound`).
"""

from __future__ import annotations

import calendar
import math
import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field

from chaos_io import CarouselWatcher
from chaos_io import FrameSource
from chaos_io import Seen
from pipeline import Pipeline
from pipeline import wait_until
from utils.channels import State

HANG_TIMEOUT = 120.0  # s: longer than any recovery here means "hung"
# s: CPU time of one second through the cleaner on 2 shared cores, the
# follower's and the watcher's polls (0.05 s, 0.2 s) and the write
COMPUTE_MARGIN = 2.0
RESTART_GOAL = 10.0  # s from a kill to normal output again (the goal)
# a restart on a slower machine: the supervisor's first back-off (1 s)
# plus 1.5 times the service's own start-up with the pipeline (start_up),
# at most twice the goal (a start-up measured while the prefill was being
# written took 20 s)
RESTART_DELAY = 1.0
START_UP_FACTOR = 1.5
MAX_RESTART_BOUND = 2 * RESTART_GOAL
DROPPING = {"drop", "corrupt", "missing_channel", "nan_strain", "nan_witness"}
# the input faults, one at a time: (kind, seconds in a row, delay s)
INPUT_FAULTS = [
    ("drop", 1, 0.0),
    ("drop", 3, 0.0),
    ("late", 1, 1.0),  # inside frame_timeout (2 s): read, not dropped
    ("late", 1, 2.5),  # past it: dropped, and not written twice later
    ("partial", 1, 0.0),
    ("corrupt", 1, 0.0),
    ("missing_channel", 1, 0.0),
    ("nan_strain", 1, 0.0),
    ("nan_witness", 1, 0.0),
    ("not_ready", 5, 0.0),
]
# the processes killed (and restarted by run.sh's supervisor) one at a time
KILLED_SERVICES = ("cleaner", "triton", "exporter", "monitor", "trainer")


@dataclass(frozen=True)
class Bounds:
    """Bounds derived from the pipeline's configuration.

    Attributes:
        latency: the cleaner's data latency, s (drop look-ahead +
            resampling context + ceil(E + F) + gate look-ahead).
        realtime: a frame is in real time when it appears within this
            many seconds of its raw frame (latency + COMPUTE_MARGIN).
        frame_timeout: s the follower waits for a due frame.
        input_recovery: bound on an input fault's recovery: the follower
            may wait one frame_timeout on the bad second, then the second
            after it is in real time.
        gate: bound on ASD(OUT_DQ)/ASD(RAW) in the band over any
            ``gate_length`` s: the gate's threshold.
        gate_length: s of the OUT_DQ gate's buffer.
        max_drops: consecutive drops that mean "stream down".
        window_length: s of a canary's validation window.
        settle_length: s of a new canary before its window.
    """

    latency: float
    realtime: float
    frame_timeout: float
    input_recovery: float
    gate: float
    gate_length: int
    max_drops: int
    window_length: int
    settle_length: int

    @classmethod
    def of(cls, pipe: Pipeline) -> "Bounds":
        def c(key: str):
            return pipe.setting("cleaner", key)

        latency = (
            c("drop_lookahead_length")
            + c("resample_context_length")
            + math.ceil(c("prediction_edge_length") + c("filter_pad_length"))
            + c("gate_lookahead_length")
        )
        timeout = float(c("frame_timeout"))
        realtime = latency + COMPUTE_MARGIN
        return cls(
            latency,
            realtime,
            timeout,
            realtime + timeout,
            c("gate_threshold"),
            c("gate_length"),
            int(c("max_consecutive_drops")),
            int(pipe.setting("monitor", "window_length")),
            int(pipe.setting("monitor", "settle_length")),
        )


@dataclass
class Outcome:
    """One row of the fault table."""

    fault: str
    detection: str = ""
    recovery_s: float | None = None
    affected: str = ""
    outcome: str = ""
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None
    bound: float | None = None  # s the recovery may take, when derived

    def row(self) -> str:
        rec = "n/a" if self.recovery_s is None else f"{self.recovery_s:.1f}"
        if self.recovery_s is not None and self.bound is not None:
            rec += f" (bound {self.bound:.1f})"
        verdict = self.skipped or ("; ".join(self.problems) or "pass")
        cells = [
            self.fault,
            self.detection,
            rec,
            self.affected,
            self.outcome,
            verdict,
        ]
        return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


TABLE_HEADER = (
    "| fault | detection | recovery (s) | seconds affected | "
    "outcome | result |\n|---|---|---|---|---|---|"
)
# rows of this session's chaos tests, printed in pytest's terminal summary
# (conftest), so that every CI log holds the fault table
OUTCOMES: list[Outcome] = []


class LogMark:
    """The lines each log gets after the mark."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self.counts = {s: len(pipe.log_lines(s)) for s in LOG_NAMES}

    def new(self, service: str) -> list[str]:
        return self.pipe.log_lines(service)[self.counts[service] :]

    def find(self, service: str, text: str) -> str | None:
        """The first new line of ``service`` containing ``text``."""
        return next((x for x in self.new(service) if text in x), None)

    def wait(
        self,
        service: str,
        text: str,
        what: str,
        timeout: float,
        interval: float,
    ) -> str:
        """:meth:`find`, polled every ``interval`` s until it finds the
        line; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
        return wait_until(
            lambda: self.find(service, text), what, timeout, interval
        )


LOG_NAMES = ("cleaner", "monitor", "exporter", "trainer", "supervisor")


def _stamp(line: str) -> float:
    """The time of a log line (``2026-01-01T00:00:00Z …``), Unix s."""
    return calendar.timegm(time.strptime(line[:20], "%Y-%m-%dT%H:%M:%SZ"))


def start_up(pipe: Pipeline, service: str) -> float:
    """Seconds ``service`` took to start with the pipeline: from the
    supervisor's first start of it to its own first log line (1-s time
    stamps). Most of it is importing torch and SciPy, this machine's price
    of any restart of it."""
    begun = next(
        line
        for line in pipe.log_lines("supervisor")
        if f" {service}: starting:" in line
    )
    return _stamp(pipe.log_lines(service)[0]) - _stamp(begun)


def restart_bound(pipe: Pipeline, service: str) -> float:
    """From a kill to normal output again: :data:`RESTART_GOAL`, or, on a
    machine where the service takes longer to start, the supervisor's
    back-off plus 1.5 times the start-up it took there (:func:`start_up`),
    at most :data:`MAX_RESTART_BOUND`."""
    started = RESTART_DELAY + START_UP_FACTOR * start_up(pipe, service)
    return min(MAX_RESTART_BOUND, max(RESTART_GOAL, started))


def short(line: str | None, width: int = 70) -> str:
    """The message of a log line (no time stamp, service, level, logger;
    paths shortened to file names, GPS seconds to G), cut to ``width``."""
    if not line:
        return "-"
    match = re.match(r"\S+ \S+ [A-Z]+ [\w.]+: (.*)", line)
    text = re.sub(r"/\S*/", "", match[1] if match else line)
    text = re.sub(r"\b\d{9,10}\b", "G", text)  # GPS seconds
    return text if len(text) <= width else text[: width - 1] + "…"


class Chaos:
    """Faults over a pipeline whose frame source was taken over.

    Args:
        pipe: the running pipeline.
        source: the frame source writing its raw frames.
        watcher: the reader of its carousel.
    """

    def __init__(
        self, pipe: Pipeline, source: FrameSource, watcher: CarouselWatcher
    ) -> None:
        self.pipe = pipe
        self.source = source
        self.watcher = watcher
        self.bounds = Bounds.of(pipe)
        self.expected_off: set[int] = set()  # INPUT_OK off on purpose
        self.restarts: Counter[str] = Counter()  # kills on purpose
        self.start_gps = watcher.newest()
        self.mark = LogMark(pipe)  # logs from the start of the chaos
        self.versions = pipe.versions()
        self.worst_ratio: float | None = None  # set by the invariants
        # first GPS of 8 s stretches over a gate transition -> (ASD ratio,
        # power ratio, seam); see faults_checks.asd_problems
        self.transitions: dict[int, tuple[float, float, bool]] = {}

    # -- input faults ---------------------------------------------------
    def input_fault(
        self, kind: str, count: int = 1, delay: float = 0.0
    ) -> Outcome:
        """Break ``count`` raw seconds in one way; see FrameSource."""
        b = self.bounds
        dropped = kind in DROPPING or (
            kind == "late" and delay > b.frame_timeout
        )
        label = {
            "late": f"late frame ({delay:g} s, frame_timeout "
            f"{b.frame_timeout:g} s)"
        }.get(kind, kind)
        out = Outcome(f"{label} x{count}" if count > 1 else label)
        mark = LogMark(self.pipe)
        seconds = self.source.inject(kind, count, delay)
        if dropped:
            self.expected_off.update(seconds)
        after = seconds[-1] + 1
        fault_end = self.source.wait_written(after, count + delay + 30)
        try:
            first = self.watcher.wait_for(after, HANG_TIMEOUT)
        except TimeoutError as exc:
            out.problems.append(f"hang: {exc}")
            return out
        out.recovery_s, out.bound = first.seen_at - fault_end, b.input_recovery
        if out.recovery_s > b.input_recovery:
            out.problems.append(
                f"recovery {out.recovery_s:.1f} s > {b.input_recovery:.1f} s"
            )
        self._check_marks(out, seconds, dropped, kind)
        self._detect_input(out, mark, seconds, dropped, kind)
        return out

    def _check_marks(
        self, out: Outcome, seconds: list[int], dropped: bool, kind: str
    ) -> None:
        span = range(seconds[0] - 1, seconds[-1] + 2)
        frames = self.watcher.frames(span, out.problems)
        if frames is None:
            return
        off = [g for g in seconds if not frames[g].has(State.INPUT_OK)]
        tapered = [g for g in span if frames[g].has(State.INPUT_TAPERED)]
        if dropped and off != seconds:
            out.problems.append(f"INPUT_OK off for {off}, not {seconds}")
        if not dropped and off:
            out.problems.append(f"INPUT_OK off for {off} (data were good)")
        for g in seconds:
            if dropped and frames[g].production_version:
                out.problems.append(f"GPS {g}: dropped but tagged")
        if kind == "not_ready":
            ready = [g for g in seconds if frames[g].has(State.ANALYSIS_READY)]
            if ready:
                out.problems.append(f"ANALYSIS_READY on for {ready}")
        edges = [seconds[0] - 1, seconds[-1] + 1]
        if dropped and [g for g in tapered if g in edges] != edges:
            out.problems.append(f"neighbours not tapered: {tapered}")
        out.affected = (
            f"{len(off)} s zero-filled (INPUT_OK off), {len(tapered)} s "
            f"tapered"
            if dropped
            else f"0 s ({len(seconds)} s marked not analysis-ready)"
            if kind == "not_ready"
            else "0 s"
        )

    def _detect_input(
        self,
        out: Outcome,
        mark: LogMark,
        seconds: list[int],
        dropped: bool,
        kind: str,
    ) -> None:
        if dropped:
            line = mark.find("cleaner", f"GPS {seconds[0]} dropped")
            if line is None:
                out.problems.append("no 'dropped' WARNING in cleaner.log")
            reason = short(line, 300).split("dropped: ", 1)[-1]
            out.detection = (
                f"cleaner.log WARNING 'GPS … dropped: "
                f"{reason[:70]}'; INPUT_OK off"
            )
            out.outcome = "zero-filled, Hann-tapered neighbours"
        elif kind == "not_ready":
            out.detection = "raw state vector; ANALYSIS_READY off"
            out.outcome = "cleaned, marked not analysis-ready"
        else:
            line = mark.find("cleaner", f"GPS {seconds[0]} dropped")
            if line is not None:
                out.problems.append(f"dropped: {short(line)}")
            out.detection = "follower retried until readable"
            out.outcome = "read within frame_timeout, cleaned normally"
        if len(seconds) >= self.bounds.max_drops:
            down = mark.find("cleaner", "stream down")
            back = mark.find("cleaner", "stream back")
            if down is None or back is None:
                out.problems.append("no 'stream down'/'stream back' log")
            out.detection = "cleaner.log ERROR 'stream down: …'; INPUT_OK off"
            out.outcome = (
                "zero-filled; 'stream back' INFO; trainer drops "
                "its training set"
            )

    # -- helpers for process faults ---------------------------------------
    def caught_up_after(self, when: float) -> Seen:
        """The first frame whose raw second was written after ``when``
        and that appeared in real time (bounded wait)."""
        written = self.source.written

        def ok(seen: Seen) -> bool:
            w = written.get(seen.gps)
            return (
                w is not None
                and w > when
                and seen.seen_at - w <= self.bounds.realtime
            )

        return wait_until(
            lambda: self.watcher.first_after(when, ok),
            "the carousel to be in real time again",
            HANG_TIMEOUT,
            0.1,
        )

    def restart(self, service: str, sig: int = signal.SIGKILL):
        """Kill ``service`` and wait for its supervisor to start a new one.

        Returns:
            (kill time, restart time), wall clock.
        """
        old = self.pipe.service_pid(service)
        t_kill = time.time()
        os.kill(old, sig)
        self.restarts[service] += 1

        def new_pid() -> int | None:
            try:
                pid = self.pipe.service_pid(service)
            except (ProcessLookupError, OSError):
                return None
            return pid if pid != old else None

        wait_until(new_pid, f"{service} to be restarted", HANG_TIMEOUT, 0.05)
        return t_kill, time.time()
