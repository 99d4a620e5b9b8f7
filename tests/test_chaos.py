"""Chaos over the session's running pipeline (after the end-to-end and
security tests, see conftest): faults injected one at a time, then
combined, each followed by its checks (``faults.py``), and at the end the
promises over the whole period (``faults_checks.invariants``):

- no hang: every wait is bounded; a service that does not recover fails;
- recovery within bounds derived from the configuration (input faults:
  data latency + frame_timeout + compute margin; process faults: the
  issue's 10 s goal), measured and printed;
- exactly one carousel frame per input second (contiguous GPS, none
  rewritten), missing data marked (INPUT_OK off exactly for the dropped,
  corrupt and NaN seconds, Hann-tapered neighbours);
- no partial or unreadable file ever visible to a reader of the carousel;
- no model version lost, no promotion without a full validation window;
- OUT_DQ never worse than raw: ASD ratio (mean Welch) <= gate threshold
  over every gate_length (8 s) stretch of data (no dropped second in it);
  over a gate transition the in-band power ratio instead
  (faults_checks.asd_problems).

The frame source is taken over from the replay service (same simulation,
same seed: the data continue seamlessly), so that faults land on chosen
GPS seconds. ``bench/chaos.py`` runs the same faults on its own pipeline
and prints the table for the README.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from chaos_io import CarouselWatcher
from chaos_io import FrameSource
from faults import INPUT_FAULTS
from faults import KILLED_SERVICES
from faults import OUTCOMES
from faults import Chaos
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
from pipeline import ROOT

pytestmark = pytest.mark.timeout(900)

HOLD = 5.0  # s a full disk or a read-only archive lasts
EXPORTER_HOLD = 10.0  # s the exporter hangs: > the trainer's first retries
VALIDATION_DROPS = 2  # s dropped while a new canary is validated


def record(outcome):
    OUTCOMES.append(outcome)
    print("\n" + outcome.row())
    return outcome


@pytest.fixture(scope="module")
def chaos(pipeline):
    watcher = CarouselWatcher(pipeline)
    watcher.start()
    source = FrameSource(pipeline)
    try:
        source.take_over()
        yield Chaos(pipeline, source, watcher)
    finally:
        source.stop()
        watcher.stop()


@pytest.mark.parametrize(
    "kind,count,delay",
    INPUT_FAULTS,
    ids=[f"{k}-{n}-{d:g}" for k, n, d in INPUT_FAULTS],
)
def test_input_fault(chaos, kind, count, delay):
    outcome = record(chaos.input_fault(kind, count, delay))
    assert not outcome.problems


@pytest.mark.parametrize("name", list(STRAY_FAULTS))
def test_stray_and_mislabelled_files(chaos, name):
    """Files under the names of other seconds: early copies, near- and
    far-future strays, a mislabelled frame (faults_strays)."""
    outcome = record(stray_fault(chaos, name))
    assert not outcome.problems


def test_drops_beyond_the_stream_down_limit(chaos):
    """max_consecutive_drops + 2 seconds dropped: 'stream down', then
    'stream back', every second still written (zeros, marked)."""
    outcome = chaos.input_fault("drop", chaos.bounds.max_drops + 2)
    assert not record(outcome).problems


@pytest.mark.parametrize("service", KILLED_SERVICES)
def test_service_killed_and_restarted(chaos, service):
    outcome = record(kill_service(chaos, service))
    assert not outcome.problems


def test_full_carousel_disk(chaos):
    outcome = record(disk_full(chaos, HOLD))
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert not outcome.problems


def test_read_only_archive(chaos):
    outcome = record(archive_readonly(chaos, HOLD))
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert not outcome.problems


def test_exporter_hung_while_a_run_finishes(chaos):
    """Also: the new canary is judged on a full window although seconds
    are dropped during it, then promoted if it is no worse than the
    (gain-tracked) production."""
    outcome = exporter_down_new_run(chaos, EXPORTER_HOLD, VALIDATION_DROPS)
    assert not record(outcome).problems


def test_exporter_killed_while_it_exports(chaos):
    outcome = exporter_killed_mid_export(chaos)
    assert not record(outcome).problems


def test_combined_faults(chaos):
    outcome = record(combined(chaos, HOLD))
    assert not outcome.problems


def test_promises_over_the_whole_run(chaos):
    time.sleep(chaos.bounds.realtime)  # the last frames reach the carousel
    problems = invariants(chaos)
    seconds = chaos.watcher.newest() - chaos.start_gps + 1
    print(
        f"\n{seconds} s of chaos: worst ASD(OUT_DQ)/ASD(RAW) over "
        f"{chaos.bounds.gate_length} s {chaos.worst_ratio:.4f} (bound "
        f"{chaos.bounds.gate}); {transition_summary(chaos)}; problems: "
        f"{problems}"
    )
    assert not problems


def test_supervisor_backoff_restarts_after_a_stable_run(tmp_path):
    """scripts/supervise.sh: the back-off doubles over quick crashes and
    starts again from 1 s after a run of SUPERVISE_STABLE s (it never
    reset, so a service killed now and then came back ever more slowly:
    8 s after its 4th kill in the chaos runs)."""
    script = tmp_path / "service.sh"
    script.write_text(
        "n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count\n"
        "case $n in 0|1) exit 3;; 2) sleep 1.5; exit 3;; *) exit 0;; esac\n"
    )
    env = dict(os.environ, PROJECT_DIR=str(tmp_path), SUPERVISE_STABLE="1")
    subprocess.run(
        [str(ROOT / "scripts" / "supervise.sh"), "svc", "bash", str(script)],
        cwd=tmp_path,
        env=env,
        timeout=30,
        check=True,
        capture_output=True,
    )
    log = (tmp_path / "logs" / "supervisor.log").read_text()
    waits = [
        line.rsplit(" ", 1)[-1]
        for line in log.splitlines()
        if "restarting in" in line
    ]
    assert waits == ["1s", "2s", "1s"], log
