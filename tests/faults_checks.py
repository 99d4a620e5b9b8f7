"""The combined fault, the exporter down while a run finishes (and the new
canary validated under drops), and the invariants checked over the whole
chaos period (see ``faults.py``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections import Counter

import numpy as np

from faults import HANG_TIMEOUT
from faults import Chaos
from faults import LogMark
from faults import Outcome
from faults import restart_bound
from faults import short
from faults_process import _health
from faults_process import _versions_kept
from faults_process import archived_seconds
from faults_process import disk_full
from faults_process import version_numbers
from pipeline import wait_until
from utils.atomic import atomic_directory
from utils.channels import State
from utils.names import cleaned_description
from utils.names import list_frames
from utils.runs import DONE_FILE
from utils.runs import parse_run_name
from utils.runs import run_name
from utils.signal import asd_ratio
from utils.signal import band_power

QUALIFYING = State.INPUT_OK | State.CANARY_OK  # monitor.validation's rule
RAMP = State.INPUT_OK | State.OUT_DQ_TAPER  # a gate transition on data


def asd_problems(chaos: Chaos, start: int, stop: int) -> list:
    """ASD(OUT_DQ)/ASD(RAW) in the band over every ``gate_length`` s of
    contiguous data in ``[start, stop)`` (:func:`utils.signal.asd_ratio`,
    the gate's 2 s segments with 1 s overlap), averaged with the *mean*:
    the median of the 7 segments moves by a whole order statistic (~1.2 in
    ASD) when a single second changes, so it cannot bound a one-second
    event.

    Contiguous data: every second held input (INPUT_OK). A stretch holding
    a dropped second (zeros) is not judged: the seconds next to the drop
    are judged in the stretches that end or start with them, with all
    their segments. Over ``[D - 1, D + 7)`` from the second before a long
    drop only one segment holds data, the tapered end of that second, and
    each bin's ratio is that of two single periodograms, whose tail is
    heavy: ``bench/bench_drops.py`` measured 1.22-1.25 there (1 in 16
    drops, three runs) where the same cleaned tail held less power than
    the raw data usually hold in every bin (0.55 of it at most) and the
    8 s before the drop were at 0.67-0.68.

    Stretches holding a gate transition (OUT_DQ_TAPER) are bounded by
    their in-band *power* ratio instead: a ramp of the subtraction
    spreads the removed 60 Hz line around it (over +-1 Hz for a 1 s
    ramp), so the bin-averaged ASD ratio of the 8 s ending with an
    opening ramp is ~1 (measured 0.99-1.02 with 1 s openings) although
    the power is lower. A *seam* is a
    transition without a model to taper with (no PRODUCTION_OK: the
    cleaner restarted while Triton was down, so the frame after the old
    run's last cleaned one can only be raw), a step. Both are recorded in
    ``chaos.transitions``: first GPS -> (ASD ratio, power ratio, seam).

    Returns:
        [(first GPS, ratio) above the bound]; ``chaos.worst_ratio`` is
        the worst ASD ratio of the stretches without a transition.
    """
    b, pipe, seen = chaos.bounds, chaos.pipe, chaos.watcher.seen
    low, high = (pipe.setting("cleaner", k) for k in ("freq_low", "freq_high"))
    chaos.worst_ratio, bad = 0.0, []
    for first in range(start, stop - b.gate_length + 1):
        frames = [seen.get(g) for g in range(first, first + b.gate_length)]
        if any(f is None or not f.has(State.INPUT_OK) for f in frames):
            continue
        out_dq = np.concatenate([f.out_dq for f in frames])
        raw = np.concatenate([f.raw for f in frames])
        ratio = asd_ratio(out_dq, raw, 4096, low, high, 2.0, 1.0, "mean")
        ramps = [f for f in frames if f.has(RAMP)]
        if ramps:
            power = band_power(out_dq, 4096, low, high) / band_power(
                raw, 4096, low, high
            )
            seam = any(not f.has(State.PRODUCTION_OK) for f in ramps)
            chaos.transitions[first] = (round(ratio, 4), round(power, 4), seam)
            ratio = power
        else:
            chaos.worst_ratio = max(chaos.worst_ratio, ratio)
        if ratio > b.gate:
            bad.append((first, round(ratio, 4)))
    return bad


def transition_summary(chaos: Chaos) -> str:
    """The worst stretches over gate transitions, for the report."""
    if not chaos.transitions:
        return "no gate transition"
    values = chaos.transitions.values()
    seams = [v for v in values if v[2]]
    ramp = max((v for v in values if not v[2]), default=(0, 0))
    text = (
        f"{len(values)} stretches over gate ramps, worst ASD ratio "
        f"{ramp[0]:.3f} (power {ramp[1]:.3f})"
    )
    if seams:
        seam = max(seams)
        text += (
            f"; {len(seams)} over restart seams, worst ASD ratio "
            f"{seam[0]:.3f} (power {seam[1]:.3f})"
        )
    return text


def invariants(chaos: Chaos) -> list[str]:
    """Every promise over the chaos period; [] when all hold."""
    w, pipe = chaos.watcher, chaos.pipe
    problems = [f"reader saw: {v}" for v in w.violations]
    problems += [f"frame source: {e}" for e in chaos.source.errors]
    start, stop = chaos.start_gps, w.newest() + 1
    holes = [g for g in range(start, stop) if g not in w.seen]
    if holes:
        problems.append(f"no carousel frame for GPS {holes}")
    if w.rewritten():
        problems.append(f"frames rewritten: {w.rewritten()}")
    off = {
        g
        for g in range(start, stop)
        if g in w.seen and not w.seen[g].has(State.INPUT_OK)
    }
    expected = {g for g in chaos.expected_off if start <= g < stop}
    if off != expected:
        problems.append(
            f"INPUT_OK off for {sorted(off - expected)} "
            f"unexpectedly, on for {sorted(expected - off)}"
        )
    bad = asd_problems(chaos, start, stop)
    if bad:
        problems.append(
            f"OUT_DQ worse than raw (> {chaos.bounds.gate}): {bad[:5]}"
        )
    crashes = Counter(
        line.split(" supervisor ")[1].split(":")[0]
        for line in chaos.mark.new("supervisor")
        if "exited with" in line
    )
    if crashes != chaos.restarts:
        problems.append(
            f"restarts {dict(crashes)} != kills {dict(chaos.restarts)}"
        )
    if chaos.mark.find("supervisor", "giving up"):
        problems.append("a supervisor gave up")
    lost = version_numbers(chaos.versions) - version_numbers(pipe.versions())
    if lost:
        problems.append(f"versions lost: {sorted(lost)}")
    problems += promotion_problems(chaos)
    kept = kept_seconds(pipe)
    gone = [g for g in range(start, stop) if g not in kept]
    if gone:
        problems.append(
            f"frames neither in the carousel, the spool nor "
            f"the archive: {gone[:10]}"
        )
    return problems


def kept_seconds(pipe) -> set[int]:
    """GPS seconds in the carousel, the monitor's spool or the archive."""
    kept = archived_seconds(pipe.project_dir / "archive", pipe.ifo)
    description = cleaned_description(pipe.ifo)
    for folder in (pipe.carousel, pipe.project_dir / "archive" / ".spool"):
        kept.update(frame.gps for frame in list_frames(folder, description))
    return kept


def promotion_problems(chaos: Chaos) -> list[str]:
    """Every promotion the monitor made had a full validation window."""
    state = chaos.pipe.state()
    verdicts = state["validator"]["verdicts"]
    need = chaos.bounds.window_length
    out = []
    for promotion in state["promoter"]["history"]:
        verdict = verdicts.get(str(promotion["version"]))
        if (
            verdict is None
            or verdict["status"] != "validated"
            or verdict["seconds"] < need
        ):
            out.append(
                f"promotion {promotion} without a full "
                f"{need} s validation: {verdict}"
            )
    return out


def combined(chaos: Chaos, hold: float) -> Outcome:
    """Input faults over ~15 s while the cleaner, Triton and the monitor
    are killed and the carousel's disk is full. Recovery: from the end of
    the last fault to frames in real time, cleaned, with the gate open."""
    out = Outcome(
        "combined: drop x3, corrupt, NaN witness, missing "
        "channel, partial + SIGKILL cleaner, Triton, monitor "
        "+ full disk"
    )
    pipe, source, w = chaos.pipe, chaos.source, chaos.watcher
    before = pipe.versions()
    seconds = []
    for kind, count in (
        ("drop", 3),
        ("corrupt", 1),
        ("nan_witness", 1),
        ("missing_channel", 1),
        ("partial", 1),
    ):
        got = source.inject(kind, count, lead=4)
        seconds += got
        if kind != "partial":
            chaos.expected_off.update(got)
    try:
        for service in ("cleaner", "triton", "monitor"):
            chaos.restart(service)
            time.sleep(1.0)
        full = disk_full(chaos, hold)
        if full.problems:
            out.problems += [f"disk: {p}" for p in full.problems]
        end = source.wait_written(seconds[-1] + 1, HANG_TIMEOUT)
        end = max(end, time.time())
        normal = State.INPUT_OK | State.PRODUCTION_OK | State.OUT_DQ_ON
        back = wait_until(
            lambda: chaos.watcher.first_after(
                end,
                lambda s: (
                    s.gps > seconds[-1]
                    and s.has(normal)
                    and s.seen_at - source.written[s.gps]
                    <= chaos.bounds.realtime
                ),
            ),
            "normal output again",
            HANG_TIMEOUT,
            0.1,
        )
    except TimeoutError as exc:
        out.problems.append(f"hang: {exc}")
        return out
    out.recovery_s = back.seen_at - end
    # the gate reopens on a full buffer of good seconds, in real time
    out.bound = chaos.bounds.gate_length + 1 + chaos.bounds.realtime
    if out.recovery_s > out.bound:
        out.problems.append(
            f"recovery {out.recovery_s:.1f} s > {out.bound:.1f} s"
        )
    span = range(seconds[0] - 1, seconds[-1] + 2)
    missing = [g for g in span if g not in w.seen]
    off = [
        g for g in span if g in w.seen and not w.seen[g].has(State.INPUT_OK)
    ]
    wrong = sorted(set(off) ^ (chaos.expected_off & set(span)))
    if missing or wrong:
        out.problems.append(f"missing {missing}, INPUT_OK wrong for {wrong}")
    _versions_kept(chaos, before, out)
    out.detection = "all of the single faults' signals"
    out.affected = f"{len(off)} s zero-filled, 0 s lost"
    out.outcome = "one frame per second, marks as in the single faults"
    return out


def finish_a_run(pipe) -> str:
    """ "The trainer finishes a run": a copy of the newest finished run
    (the same weights: a valid canary) under the next span's name, made
    atomically; returns its name."""
    train = pipe.project_dir / "train"
    runs = {
        parse_run_name(p.name): p
        for p in train.iterdir()
        if (p / DONE_FILE).exists()
    }
    runs.pop(None, None)  # not a run's name
    start, stop = max(runs, key=lambda span: span[1])
    source_run = runs[start, stop]
    name = run_name(start + 1, stop + 1)
    with atomic_directory(train / name) as tmp:
        shutil.copytree(
            source_run,
            tmp,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("exported.json"),
        )
    return name


def exported_as(pipe, run: str) -> int | None:
    """The version exported from ``run``, if any."""
    for v in pipe.versions()["versions"]:
        if v["run"] == run:
            return v["version"]
    return None


def exported_once(pipe, before: dict, run: str) -> list[str]:
    """Problems: a version of ``before`` (``GET /versions``) is gone, or
    ``run`` is not exactly one version now."""
    problems, after = [], pipe.versions()
    lost = version_numbers(before) - version_numbers(after)
    if lost:
        problems.append(f"versions lost: {sorted(lost)}")
    twice = [v["version"] for v in after["versions"] if v["run"] == run]
    if len(twice) != 1:
        problems.append(f"run {run} exported as versions {twice}")
    return problems


def exporter_down_new_run(chaos: Chaos, hold: float, drops: int) -> Outcome:
    """The exporter hangs (SIGSTOP: connections accepted, never answered;
    a killed one would be restarted at once) for ``hold`` s while a new
    training run appears; once it is back the run is exported exactly once
    and the new canary validated while ``drops`` input seconds are
    dropped, which must not count towards its window."""
    pipe = chaos.pipe
    out = Outcome(
        "exporter hung (SIGSTOP) while a run finishes; new "
        f"canary validated with {drops} s dropped"
    )
    before, mark = pipe.versions(), LogMark(pipe)
    exporter = pipe.service_pid("exporter")
    os.kill(exporter, signal.SIGSTOP)
    try:
        t_down = time.time()
        name = finish_a_run(pipe)
        rescan = float(pipe.setting("trainer", "export_rescan_interval"))
        line = mark.wait(
            "trainer",
            "not reached",
            "the trainer to give up a request",
            rescan + 30,
            0.2,
        )
        time.sleep(max(0.0, t_down + hold - time.time()))
    except TimeoutError as exc:
        out.problems.append(str(exc))
        line = None
    finally:
        os.kill(exporter, signal.SIGCONT)
    t_up = time.time()
    out.detection = f"trainer.log WARNING '{short(line, 60)}'"
    try:
        wait_until(lambda: _health(chaos), "exporter /health", HANG_TIMEOUT)
        version = wait_until(
            lambda: exported_as(pipe, name),
            f"run {name} exported",
            HANG_TIMEOUT,
        )
        t_exported = time.time()
        out.recovery_s = t_exported - t_up
        wait_until(
            lambda: chaos.watcher.first_after(
                t_up, lambda s: s.canary_version == version
            ),
            f"frames of canary {version}",
            HANG_TIMEOUT,
            0.1,
        )
        # in its window, after it settled
        lead = chaos.bounds.settle_length + 2
        dropped = chaos.source.inject("drop", drops, lead=lead)
        chaos.expected_off.update(dropped)
        # validated and promoted, or rejected: no worse than the tracked
        # production by 1 % is a close call for two models of the same data
        verdict = wait_until(
            lambda: pipe.state()["validator"]["verdicts"].get(str(version)),
            f"a verdict on canary {version}",
            HANG_TIMEOUT,
            0.5,
        )
        # the monitor may have read the verdict's frame before the
        # watcher's next look at the carousel: count once it has too
        chaos.watcher.wait_for(verdict["gps"], HANG_TIMEOUT)
        if verdict["status"] == "validated":
            wait_until(
                lambda: pipe.versions()["production"] == version,
                f"canary {version} promoted",
                HANG_TIMEOUT,
                0.5,
            )
    except TimeoutError as exc:
        out.problems.append(f"hang: {exc}")
        return out
    counted = [
        g
        for g, s in chaos.watcher.seen.items()
        if s.canary_version == version
        and s.has(QUALIFYING)
        and s.production_version != version
        and g <= verdict["gps"]
    ]
    bounds = chaos.bounds
    if len(counted) < bounds.settle_length + bounds.window_length:
        out.problems.append(f"judged on {len(counted)} s < settle + window")
    if any(g in counted for g in dropped):
        out.problems.append("a dropped second counted in the validation")
    out.problems += exported_once(pipe, before, name)
    out.affected = f"0 s; export delayed {t_exported - t_down:.0f} s"
    end = (
        "promoted"
        if verdict["status"] == "validated"
        else f"rejected ({verdict['vs_production']:.3f} vs production)"
    )
    out.outcome = (
        f"v{version} exported {out.recovery_s:.0f} s after the "
        f"exporter came back; judged on {verdict['seconds']} "
        f"s (drops {dropped[0]}.. not counted), {end}"
    )
    return out


def longest_export(pipe) -> float:
    """Seconds the longest export so far took (``jobs.json``: from running
    to done), 0 if none."""
    path = pipe.project_dir / "model_repo" / "jobs.json"
    jobs = json.loads(path.read_text())["jobs"] if path.exists() else []
    return max(
        (
            j["finished_at"] - j["started_at"]
            for j in jobs
            if j["status"] == "done" and j["started_at"] is not None
        ),
        default=0.0,
    )


def exporter_killed_mid_export(chaos: Chaos) -> Outcome:
    """SIGKILL the exporter while it exports a run whose POST it accepted
    (the trainer has marked the run exported and will not ask again): the
    restarted exporter finds the job in ``jobs.json``, runs it again, and
    the run becomes exactly one version (recorded: loaded by Triton); no
    version is lost. Recovery: from the kill to the version, within the
    exporter's restart bound plus three times the longest export so far
    (one export again; a slower machine under the chaos's load took 25+ s
    for one that took 16 s before)."""
    pipe = chaos.pipe
    out = Outcome("SIGKILL exporter mid-export (job accepted, not finished)")
    bound = restart_bound(pipe, "exporter") + 3 * longest_export(pipe)
    before, mark = pipe.versions(), LogMark(pipe)
    name = finish_a_run(pipe)
    rescan = float(pipe.setting("trainer", "export_rescan_interval"))
    try:
        mark.wait(
            "exporter",
            f"of {name} running",
            f"the export of {name} to run",
            rescan + 30,
            0.05,
        )
        t_kill, _ = chaos.restart("exporter")
        version = wait_until(
            lambda: exported_as(pipe, name),
            f"run {name} exported",
            HANG_TIMEOUT,
            0.2,
        )
    except TimeoutError as exc:
        out.problems.append(f"hang: {exc}")
        return out
    out.recovery_s, out.bound = time.time() - t_kill, bound
    if out.recovery_s > bound:
        out.problems.append(f"recovery {out.recovery_s:.1f} s > {bound:.1f} s")
    line = mark.find("exporter", "queued again")
    if line is None:
        out.problems.append("the restarted exporter did not rerun the job")
    out.detection = f"exporter.log WARNING '{short(line, 60)}'"
    out.problems += exported_once(pipe, before, name)
    out.affected = "0 s of output"
    out.outcome = (
        f"v{version} exported {out.recovery_s:.0f} s after the "
        "kill from jobs.json, once"
    )
    return out
