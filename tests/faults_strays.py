"""Stray and mislabelled raw frame files: a file's name is a claim, not a
proof. Each fault puts files under the names of other GPS seconds while
the frame source writes the real ones; the promises are that they cost no
good second, never shift the readers' schedule, and are never published
as data of the second their name claims.

Used by ``tests/test_chaos.py`` and ``bench/chaos.py`` like the faults of
``faults.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chaos_io import Injection
from faults import HANG_TIMEOUT
from faults import Chaos
from faults import LogMark
from faults import Outcome
from faults import short
from utils.channels import State

STRAY = "stray"  # an Injection kind the source writes normally
# the cross-correlation bound: a second's resampled raw strain and
# another second's are independent noise (|r| ~ 1/sqrt(4096) ~ 0.02); a
# published copy would correlate ~1 away from the resampling edges
COPY_CORRELATION = 0.5


@dataclass(frozen=True)
class StrayFault:
    """The plan of one stray-file fault.

    Attributes:
        label: the row's name in the fault table.
        plan: one entry per second from the first planned one (``None``:
            written normally); the strays are put when that second is.
        detection: text of the cleaner.log WARNING that reports them.
    """

    label: str
    plan: tuple[Injection | None, ...]
    detection: str


STRAY_FAULTS = {
    "early": StrayFault(
        "early copy (G's frames as G+3, replaced on time)",
        (Injection(STRAY, copies=(3,)), None, None, None, None),
        "cannot have ended yet",
    ),
    "near": StrayFault(
        "stray strain file 6 s ahead (junk, replaced on time)",
        (Injection(STRAY, junk=(6,)),) + (None,) * 7,
        "cannot have ended yet",
    ),
    "far": StrayFault(
        "stray frames 1 h and 1 day ahead (never replaced)",
        (Injection(STRAY, copies=(3600,), junk=(86400,)),) + (None,) * 4,
        "cannot have ended yet",
    ),
    "mislabelled": StrayFault(
        "mislabelled frame (G's frames as G+4, never replaced)",
        (
            Injection(STRAY, copies=(4,)),
            None,
            None,
            None,
            Injection("drop"),
            None,
        ),
        "its name claims",
    ),
}


def stray_fault(chaos: Chaos, name: str) -> Outcome:
    """Run the stray-file fault ``name`` of :data:`STRAY_FAULTS`."""
    fault = STRAY_FAULTS[name]
    out = Outcome(fault.label)
    mark = LogMark(chaos.pipe)
    seconds = chaos.source.plan_seconds(list(fault.plan))
    dropped = [
        g
        for g, i in zip(seconds, fault.plan, strict=True)
        if i is not None and i.kind == "drop"
    ]
    chaos.expected_off.update(dropped)
    after = seconds[-1] + 1
    try:
        fault_end = chaos.source.wait_written(after, len(seconds) + 30)
        seen = chaos.watcher.wait_for(after, HANG_TIMEOUT)
    except TimeoutError as exc:
        out.problems.append(f"hang: {exc}")
        return out
    finally:
        chaos.source.remove_strays()
    out.recovery_s = seen.seen_at - fault_end
    out.bound = chaos.bounds.input_recovery
    if out.recovery_s > out.bound:
        out.problems.append(
            f"recovery {out.recovery_s:.1f} s > {out.bound:.1f} s"
        )
    _check_frames(chaos, out, seconds, dropped, fault)
    _check_logs(out, mark, seconds, dropped, fault)
    return out


def _check_frames(
    chaos: Chaos,
    out: Outcome,
    seconds: list[int],
    dropped: list[int],
    fault: StrayFault,
) -> None:
    frames = chaos.watcher.frames(seconds, out.problems)
    if frames is None:
        return
    off = [g for g in seconds if not frames[g].has(State.INPUT_OK)]
    if off != dropped:
        out.problems.append(f"INPUT_OK off for {off}, not {dropped}")
    for g in dropped:
        if np.any(frames[g].raw != 0) or frames[g].production_version:
            out.problems.append(f"GPS {g}: a stray's data published")
    source = frames[seconds[0]].raw
    for ahead in fault.plan[0].copies:
        target = frames.get(seconds[0] + ahead)
        if target is None or not target.has(State.INPUT_OK):
            continue
        r = float(np.corrcoef(source, target.raw)[0, 1])
        if abs(r) > COPY_CORRELATION:
            out.problems.append(
                f"GPS {target.gps} holds the copy of "
                f"GPS {seconds[0]} (r = {r:.2f})"
            )
    good = len(seconds) - len(dropped)
    out.affected = (
        f"{len(off)} s zero-filled (the writer's own drop), "
        f"{good - len(set(off) - set(dropped))} of {good} "
        "good seconds kept"
    )


def _check_logs(
    out: Outcome,
    mark: LogMark,
    seconds: list[int],
    dropped: list[int],
    fault: StrayFault,
) -> None:
    for service in ("cleaner", "trainer"):
        for g in seconds:
            line = mark.find(service, f"GPS {g} dropped")
            if g in dropped:
                if service == "cleaner" and (
                    line is None or "its name claims" not in line
                ):
                    out.problems.append(
                        f"GPS {g}: no mislabelled drop "
                        f"in cleaner.log: {short(line)}"
                    )
            elif line is not None:
                out.problems.append(
                    f"{service} dropped good GPS {g}: {short(line)}"
                )
    line = mark.find("cleaner", fault.detection)
    if line is None:
        out.problems.append(f"no '{fault.detection}' WARNING in cleaner.log")
    out.detection = f"cleaner.log WARNING '{short(line, 60)}'"
    out.outcome = (
        "ignored: no earlier second dropped, schedule on the GPS clock"
        if not dropped
        else "never published: the second zero-filled, INPUT_OK off"
    )
