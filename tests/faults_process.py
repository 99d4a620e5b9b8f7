"""Process and environment faults (see ``faults.py``): SIGKILL of a
service (its supervisor restarts it), a full carousel disk, a read-only
archive, the exporter down while a training run finishes."""

from __future__ import annotations

import errno
import subprocess
import time
from pathlib import Path

import requests

from faults import COMPUTE_MARGIN
from faults import HANG_TIMEOUT
from faults import Chaos
from faults import LogMark
from faults import Outcome
from faults import restart_bound
from faults import short
from pipeline import wait_until
from utils.channels import State
from utils.names import FrameName

PRODUCTION = State.PRODUCTION_OK


def version_numbers(versions: dict) -> set[int]:
    return {v["version"] for v in versions["versions"]}


def _versions_kept(chaos: Chaos, before: dict, out: Outcome) -> None:
    after = wait_until(chaos.pipe.versions, "GET /versions", HANG_TIMEOUT)
    lost = version_numbers(before) - version_numbers(after)
    if lost:
        out.problems.append(f"versions lost: {sorted(lost)}")
    for role in ("production", "canary"):
        if after[role] != before[role]:
            out.problems.append(f"{role} {before[role]} -> {after[role]}")


def _health(chaos: Chaos) -> bool:
    url = f"{chaos.pipe.exporter_url}/health"
    return requests.get(url, timeout=2).status_code == 200


def _cleaner(
    chaos: Chaos, t_kill: float, out: Outcome, mark: LogMark
) -> float:
    back = chaos.caught_up_after(t_kill)
    late = [
        s
        for s in chaos.watcher.seen.values()
        if s.gps < back.gps and s.seen_at > t_kill
    ]
    out.detection = "supervisor.log 'exited with status 137'; carousel stalls"
    out.affected = f"0 s lost, {len(late)} frames delayed"
    out.outcome = (
        "resumed after the carousel's newest frame: no gap, nothing rewritten"
    )
    return back.seen_at


def _triton(chaos: Chaos, t_kill: float, out: Outcome, mark: LogMark) -> float:
    """Bound: Triton ready again + the cleaner's longest retry back-off
    (``retry_max_length``: its tries after a failure are 1, 2, 4, 8 s
    apart) + the time a frame takes to come out; the 10 s goal is met
    only when Triton is back before the cleaner's try at 7 s."""
    w, pipe = chaos.watcher, chaos.pipe
    ready = f"http://127.0.0.1:{pipe.ports['triton_http']}/v2/health/ready"
    wait_until(
        lambda: requests.get(ready, timeout=1).ok,
        "Triton ready",
        HANG_TIMEOUT,
        0.1,
    )
    t_ready = time.time() - t_kill
    out.bound = (
        t_ready
        + pipe.setting("cleaner", "retry_max_length")
        + chaos.bounds.realtime
    )
    first = wait_until(
        lambda: w.first_after(t_kill, lambda s: not s.has(PRODUCTION)),
        "a frame cleaned without a model",
        60,
        0.1,
    )
    back = wait_until(
        lambda: w.first_after(
            t_kill, lambda s: s.gps > first.gps and s.has(PRODUCTION)
        ),
        "frames cleaned by the model again",
        HANG_TIMEOUT,
        0.1,
    )
    gate = wait_until(
        lambda: w.first_after(
            t_kill, lambda s: s.gps > first.gps and s.has(State.OUT_DQ_ON)
        ),
        "the OUT_DQ gate to open again",
        HANG_TIMEOUT,
        0.1,
    )
    span = range(first.gps - 1, gate.gps)
    ramps = [g for g in span if w.seen[g].has(State.OUT_DQ_TAPER)]
    closed = [
        g
        for g in span
        if not w.seen[g].has(State.OUT_DQ_ON) and g not in ramps
    ]
    without = [g for g in span if not w.seen[g].has(PRODUCTION)]
    out.detection = (
        "cleaner.log WARNING 'Triton pipeline … unavailable'; "
        "PRODUCTION_OK off, version tags 0"
    )
    out.affected = (
        f"{len(without)} s without model, {len(closed)} s OUT_DQ = raw "
        f"strain, {len(ramps)} s of the gate's transitions"
    )
    out.outcome = (
        f"Triton ready after {t_ready:.1f} s, model back after "
        f"{back.seen_at - t_kill:.1f} s, gate open again after "
        f"{gate.seen_at - t_kill:.1f}"
        " s; one frame per second throughout"
    )
    return back.seen_at


def _exporter(
    chaos: Chaos, t_kill: float, out: Outcome, mark: LogMark
) -> float:
    wait_until(lambda: _health(chaos), "exporter /health", HANG_TIMEOUT, 0.1)
    out.detection = "supervisor.log 'exited with status 137'; /health down"
    out.affected = "0 s (cleaning does not use it)"
    out.outcome = "restarted from model_repo/repository.json"
    return time.time()


def _monitor(
    chaos: Chaos, t_kill: float, out: Outcome, mark: LogMark
) -> float:
    newest = chaos.watcher.newest()
    status = chaos.pipe.status_url + "/"

    def caught_up() -> bool:
        cursor = chaos.pipe.state().get("cursor") or 0
        return cursor > newest and requests.get(status, timeout=2).ok

    wait_until(caught_up, "the monitor to catch up", HANG_TIMEOUT, 0.1)
    out.detection = "supervisor.log 'exited with status 137'; status page down"
    out.affected = "0 s (validation resumes from state.json)"
    out.outcome = "caught up with the carousel"
    return time.time()


def _trainer(
    chaos: Chaos, t_kill: float, out: Outcome, mark: LogMark
) -> float:
    mark.wait(
        "trainer",
        "following",
        "the trainer to follow frames again",
        HANG_TIMEOUT,
        0.1,
    )
    out.detection = "supervisor.log 'exited with status 137'"
    out.affected = "0 s of output (training set rebuilt from frames)"
    out.outcome = "following frames again"
    return time.time()


RECOVER = {
    "cleaner": _cleaner,
    "triton": _triton,
    "exporter": _exporter,
    "monitor": _monitor,
    "trainer": _trainer,
}


def kill_service(chaos: Chaos, service: str) -> Outcome:
    """SIGKILL ``service``; its supervisor restarts it. Recovery: from the
    kill to normal output again, within :func:`faults.restart_bound`
    (Triton: a bound derived from the cleaner's retry back-off, see
    ``_triton``)."""
    out = Outcome(f"SIGKILL {service}")
    before = chaos.pipe.versions()
    mark = LogMark(chaos.pipe)
    newest = chaos.watcher.newest()
    try:
        t_kill, _ = chaos.restart(service)
        recovered = RECOVER[service](chaos, t_kill, out, mark)
    except TimeoutError as exc:
        out.problems.append(f"hang: {exc}")
        return out
    holes = [
        g
        for g in range(newest, chaos.watcher.newest())
        if g not in chaos.watcher.seen
    ]
    if holes:
        out.problems.append(f"no carousel frame for GPS {holes}")
    out.recovery_s = recovered - t_kill
    out.bound = out.bound or restart_bound(chaos.pipe, service)
    if out.recovery_s > out.bound:
        out.problems.append(
            f"recovery {out.recovery_s:.1f} s > {out.bound:.1f} s"
        )
    if mark.find("supervisor", f"{service}: WARNING: exited") is None:
        out.problems.append("no restart in supervisor.log")
    _versions_kept(chaos, before, out)
    return out


def _top_up(handle) -> None:
    """Append to the open (unbuffered) ``handle`` until its filesystem is
    full, to the last page."""
    for chunk in (1 << 20, 1 << 12):
        block = bytes(chunk)
        while True:
            try:
                if not handle.write(block):
                    break
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break


def disk_full(chaos: Chaos, hold: float) -> Outcome:
    """Keep the carousel's filesystem (a tmpfs mounted for the purpose)
    full for ``hold`` s, however much the monitor prunes (it frees a frame
    for each new one). Recovery: from freeing the space to real time."""
    pipe = chaos.pipe
    out = Outcome("full disk under carousel/")
    if not pipe.carousel_mounted:
        out.skipped = f"skipped: {pipe.mount_error}"
        return out
    mark = LogMark(pipe)
    filler = pipe.carousel / ".chaos-fill"
    t_full = time.time()
    line = None
    try:
        with open(filler, "wb", buffering=0) as handle:
            deadline = t_full + chaos.bounds.realtime + HANG_TIMEOUT / 4
            while time.time() < max(
                t_full + hold, deadline if line is None else 0
            ):
                _top_up(handle)
                line = line or mark.find("cleaner", "cannot write")
                time.sleep(0.02)
    finally:
        filler.unlink(missing_ok=True)
    t_free = time.time()
    if line is None:
        out.problems.append("the cleaner never failed to write")
    try:
        back = chaos.caught_up_after(t_free)
    except TimeoutError as exc:
        out.problems.append(f"hang: {exc}")
        return out
    # the held frames are written with the next one, in real time
    out.recovery_s = back.seen_at - t_free
    out.bound = 1.0 + chaos.bounds.realtime
    if out.recovery_s > out.bound:
        out.problems.append(
            f"recovery {out.recovery_s:.1f} s > {out.bound:.1f} s"
        )
    held = [
        s
        for s in chaos.watcher.seen.values()
        if t_full < s.seen_at
        and s.gps < back.gps
        and s.seen_at - chaos.source.written.get(s.gps, s.seen_at)
        > chaos.bounds.realtime
    ]
    out.detection = f"cleaner.log ERROR '{short(line, 60)}'"
    out.affected = f"0 s lost, {len(held)} frames delayed"
    out.outcome = "frames held in memory, written in order once space freed"
    if mark.find("cleaner", "held-back frames written") is None:
        out.problems.append("no 'held-back frames written' WARNING")
    return out


def _mount_readonly(folder: Path) -> str | None:
    """Bind-mount ``folder`` read-only on itself (root ignores chmod);
    returns why not, or None."""
    for args in (
        ["--bind", folder, folder],
        ["-o", "remount,bind,ro", folder],
    ):
        done = subprocess.run(
            ["mount", *map(str, args)], capture_output=True, text=True
        )
        if done.returncode:
            subprocess.run(["umount", str(folder)], capture_output=True)
            return f"mount {' '.join(map(str, args))}: {done.stderr.strip()}"
    return None


def archived_seconds(archive: Path, ifo: str) -> set[int]:
    """GPS seconds held by the archive files (not the spool)."""
    out: set[int] = set()
    for path in archive.glob(f"*-{ifo}_DEEPCLEAN-*.gwf"):
        name = FrameName.parse(path)
        out.update(range(name.gps, name.gps + name.duration))
    return out


def archive_readonly(chaos: Chaos, hold: float) -> Outcome:
    """Make ``$PROJECT_DIR/archive`` (archive and spool) read-only for
    ``hold`` s. Recovery: from the end until every frame of the period is
    spooled or archived again."""
    pipe = chaos.pipe
    out = Outcome("read-only archive folder")
    archive = pipe.project_dir / "archive"
    mark = LogMark(pipe)
    why = _mount_readonly(archive)
    if why is not None:
        out.skipped = f"skipped: {why}"
        return out
    t0 = time.time()
    try:
        # its own error (another ERROR, a health verdict, is not it)
        line = mark.wait(
            "monitor", "cannot spool", "the monitor to notice", 15, 0.1
        )
        time.sleep(max(0.0, t0 + hold - time.time()))
    except TimeoutError as exc:
        out.problems.append(str(exc))
        line = None
    finally:
        subprocess.run(["umount", str(archive)], capture_output=True)
    t1 = time.time()
    period = [g for g, s in chaos.watcher.seen.items() if t0 <= s.seen_at]
    spool = archive / ".spool"

    def kept() -> bool:
        done = archived_seconds(archive, pipe.ifo)
        names = {p.name for p in spool.iterdir()}
        return all(
            g in done or f"L-{pipe.ifo}_DEEPCLEAN-{g}-1.gwf" in names
            for g in period
        )

    try:
        wait_until(
            kept, "the period's frames to be spooled", HANG_TIMEOUT, 0.2
        )
    except TimeoutError as exc:
        out.problems.append(f"hang: {exc}")
        return out
    out.recovery_s = time.time() - t1
    # spooled by the monitor's next look at the carousel (keeper thread)
    out.bound = 2 * pipe.setting("monitor", "poll_interval") + COMPUTE_MARGIN
    if out.recovery_s > out.bound:
        out.problems.append(
            f"recovery {out.recovery_s:.1f} s > {out.bound:.1f} s"
        )
    out.detection = f"monitor.log ERROR '{short(line, 60)}'"
    out.affected = "0 s (carousel unaffected; frames spooled late)"
    out.outcome = "frames kept in the carousel, spooled and archived after"
    return out
