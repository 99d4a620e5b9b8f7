"""Chaos benchmark: every fault of ``tests/test_chaos.py`` on a pipeline of
its own, one at a time, then combined; prints the fault table (Markdown)
of the README: fault, how it was detected, recovery time, seconds
affected, outcome, and whether every promise held.

    .venv/tests/bin/python bench/chaos.py [--hold S] [--rounds N]

It starts ``run.sh`` headless in a temporary folder (``tests/pipeline.py``,
the test session's scaled-down settings), waits for the first promoted
model (it trains one: ~5 min on 2 cores), takes over the frame source and
runs the faults (~6 min per round). The full disk (a tmpfs on the
carousel) and the read-only archive (a bind mount) need mount rights
(root); without them their rows say "skipped" and why.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from chaos_io import CarouselWatcher
from chaos_io import FrameSource
from conftest import CAROUSEL_TMPFS_SIZE
from conftest import OVERRIDES
from conftest import PROMOTE_TIMEOUT
from conftest import TRAIN_TIMEOUT
from faults import INPUT_FAULTS
from faults import KILLED_SERVICES
from faults import TABLE_HEADER
from faults import Chaos
from faults import Outcome
from faults_checks import combined
from faults_checks import exporter_down_new_run
from faults_checks import exporter_killed_mid_export
from faults_checks import invariants
from faults_checks import transition_summary
from faults_process import archive_readonly
from faults_process import disk_full
from faults_process import kill_service
from faults_strays import STRAY_FAULTS
from faults_strays import stray_fault
from pipeline import Pipeline
from pipeline import wait_until


def faults(chaos: Chaos, hold: float) -> list:
    """The faults, one at a time, in order: (name, thunk)."""
    inputs = [*INPUT_FAULTS, ("drop", chaos.bounds.max_drops + 2, 0.0)]
    out = [
        (f"{k} x{n}", lambda k=k, n=n, d=d: chaos.input_fault(k, n, d))
        for k, n, d in inputs
    ]
    out += [
        (f"stray {s}", lambda s=s: stray_fault(chaos, s)) for s in STRAY_FAULTS
    ]
    out += [
        (f"kill {s}", lambda s=s: kill_service(chaos, s))
        for s in KILLED_SERVICES
    ]
    out += [
        ("full disk", lambda: disk_full(chaos, hold)),
        ("read-only archive", lambda: archive_readonly(chaos, hold)),
        ("exporter hung", lambda: exporter_down_new_run(chaos, 2 * hold, 2)),
        (
            "exporter killed mid-export",
            lambda: exporter_killed_mid_export(chaos),
        ),
        ("combined", lambda: combined(chaos, hold)),
    ]
    return out


def run(pipe: Pipeline, hold: float, rounds: int) -> list[Outcome]:
    """Wait for a production model, then break the pipeline."""
    wait_until(
        lambda: pipe.versions()["production"],
        "the first promoted model",
        TRAIN_TIMEOUT + PROMOTE_TIMEOUT,
        5,
    )
    watcher = CarouselWatcher(pipe)
    watcher.start()
    source = FrameSource(pipe)
    outcomes = []
    try:
        source.take_over()
        chaos = Chaos(pipe, source, watcher)
        for _ in range(rounds):
            for name, thunk in faults(chaos, hold):
                print(
                    f"{time.strftime('%H:%M:%S')} {name} ...",
                    file=sys.stderr,
                    flush=True,
                )
                outcomes.append(thunk())
                print(outcomes[-1].row(), file=sys.stderr, flush=True)
        time.sleep(chaos.bounds.realtime)
        whole = Outcome("whole run: every promise over all of it")
        whole.problems = invariants(chaos)
        seconds = watcher.newest() - chaos.start_gps + 1
        whole.affected = f"{seconds} s of chaos"
        whole.outcome = (
            f"worst ASD(OUT_DQ)/ASD(RAW) over "
            f"{chaos.bounds.gate_length} s: "
            f"{chaos.worst_ratio:.4f} (bound "
            f"{chaos.bounds.gate}); "
            f"{transition_summary(chaos)}"
        )
        outcomes.append(whole)
        print(f"\nbounds: {chaos.bounds}", flush=True)
    finally:
        source.stop()
        watcher.stop()
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hold",
        type=float,
        default=5.0,
        help="s a full disk or read-only archive lasts "
        "(the exporter hangs twice as long)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="times the whole list is run"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deepclean-chaos-") as tmp:
        pipe = Pipeline(
            Path(tmp), OVERRIDES, carousel_tmpfs_size=CAROUSEL_TMPFS_SIZE
        )
        try:
            pipe.start()
            outcomes = run(pipe, args.hold, args.rounds)
        except BaseException:
            print(pipe.logs_tail(40), file=sys.stderr)
            raise
        finally:
            pipe.stop()
    print(TABLE_HEADER)
    for outcome in outcomes:
        print(outcome.row())
    return 0 if all(not o.problems for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
