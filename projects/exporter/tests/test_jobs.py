"""Export jobs survive an exporter restart (``jobs.json``): finished jobs
are still answered, and a job accepted but not finished when the exporter
died is run again, so the run it was accepted for is not lost (the trainer
marks a run exported once its POST is accepted). The work here is a plain
function standing in for the export (the real export runs in
test_pipeline.py); what is tested is the queue's bookkeeping."""

import json
import logging
import threading

import pytest

from exporter.jobs import JobQueue
from utils.errors import ModelError
from utils.errors import ServiceError
from utils.retry import Backoff
from utils.waiting import wait_for

TIMEOUT = 10.0  # s


class Work:
    """Records its calls; blocks on ``release`` if given one; Triton
    refuses the first ``refusals`` loads."""

    def __init__(
        self, release: threading.Event | None = None, refusals: int = 0
    ) -> None:
        self.calls: list[tuple[str, str]] = []
        self.release = release
        self.refusals = refusals
        self.started = threading.Event()

    def __call__(self, run, run_dir):
        self.calls.append((run, str(run_dir)))
        self.started.set()
        if self.release is not None:
            assert self.release.wait(TIMEOUT)
        if run == "bad":
            raise ModelError("conversion failed")
        if len(self.calls) <= self.refusals:
            raise ServiceError("Triton could not load model 'deepclean'")
        return len(self.calls)


def finished(queue, job_id):
    return wait_for(
        lambda: not queue.get(job_id).active,
        f"job {job_id} to finish",
        TIMEOUT,
        0.02,
    )


def test_jobs_and_their_outcomes_survive_a_restart(tmp_path):
    state = tmp_path / "jobs.json"
    first = JobQueue(Work(), 4, state)
    first.start()
    good = first.submit("100-200", tmp_path / "100-200")
    bad = first.submit("bad", tmp_path / "bad")
    assert finished(first, good.id) and finished(first, bad.id)
    first.stop()
    again = JobQueue(Work(), 4, state)
    again.start()
    try:
        assert again.get(good.id).to_dict() == first.get(good.id).to_dict()
        assert again.get(good.id).status == "done"
        assert again.get(bad.id).status == "failed"
        assert again.get(bad.id).error == "ModelError"
        assert "run_dir" not in again.get(good.id).to_dict()  # API view
    finally:
        again.stop()


def test_a_job_interrupted_by_a_crash_is_run_again(tmp_path, caplog):
    state = tmp_path / "jobs.json"
    release = threading.Event()
    dying = JobQueue(Work(release), 4, state)
    dying.start()
    running = dying.submit("100-200", tmp_path / "100-200")
    queued = dying.submit("200-300", tmp_path / "200-300")
    try:
        assert dying.work.started.wait(TIMEOUT)
        # the exporter dies here (SIGKILL): jobs.json is all that is left
        saved = {
            j["id"]: j["status"] for j in json.loads(state.read_text())["jobs"]
        }
        assert saved == {running.id: "running", queued.id: "queued"}
        snapshot = state.read_text()
    finally:
        release.set()
        dying.stop()
    state.write_text(snapshot)
    work = Work()
    restarted = JobQueue(work, 4, state)
    with caplog.at_level(logging.WARNING, logger="exporter.jobs"):
        restarted.start()
    try:
        assert finished(restarted, running.id)
        assert finished(restarted, queued.id)
        assert restarted.get(running.id).status == "done"
        assert sorted(work.calls) == [
            ("100-200", str(tmp_path / "100-200")),
            ("200-300", str(tmp_path / "200-300")),
        ]
        assert caplog.text.count("queued again") == 2
    finally:
        restarted.stop()


@pytest.mark.parametrize("text", ["{not json", '{"jobs": [{"x": 1}]}', ""])
def test_an_unreadable_jobs_file_is_logged_and_left_behind(
    tmp_path, caplog, text
):
    state = tmp_path / "jobs.json"
    state.write_text(text)
    queue = JobQueue(Work(), 4, state)
    with caplog.at_level(logging.ERROR, logger="exporter.jobs"):
        queue.start()
    try:
        assert "cannot read" in caplog.text
        job = queue.submit("100-200", tmp_path / "100-200")
        assert finished(queue, job.id)
        assert queue.get(job.id).status == "done"
    finally:
        queue.stop()


@pytest.mark.parametrize("refusals, status", [(2, "done"), (3, "failed")])
def test_an_export_triton_refused_is_tried_again(
    tmp_path, caplog, refusals, status
):
    """Triton down or restarting while a job exports: the job is tried
    again after a back-off (the trainer will not ask again), ``attempts``
    times in all, and only then fails, naming Triton's error."""
    work = Work(refusals=refusals)
    queue = JobQueue(work, 4, tmp_path / "jobs.json", None, Backoff(0.05), 3)
    queue.start()
    try:
        with caplog.at_level(logging.WARNING, logger="utils.retry"):
            job = queue.submit("100-200", tmp_path / "100-200")
            assert finished(queue, job.id)
        assert len(work.calls) == 3
        assert queue.get(job.id).status == status
        tries = f"export job {job.id} of 100-200 failed (attempt"
        assert caplog.text.count(tries) == refusals
        if status == "failed":
            assert queue.get(job.id).error == "ServiceError"
            assert "could not load" in queue.get(job.id).detail
        else:
            assert queue.get(job.id).version == 3
    finally:
        queue.stop()


def test_a_stop_between_tries_leaves_the_job_for_the_next_start(tmp_path):
    """The exporter stopped while a refused export waits for its next
    try: the job is not failed but stays in jobs.json, and the next start
    runs it."""
    state = tmp_path / "jobs.json"
    work = Work(refusals=1)
    queue = JobQueue(work, 4, state, None, Backoff(60.0), 3)
    queue.start()
    job = queue.submit("100-200", tmp_path / "100-200")
    assert work.started.wait(TIMEOUT)
    assert queue.stop(TIMEOUT)  # ended within the 60-s back-off
    assert queue.get(job.id).status == "running"
    again = JobQueue(Work(), 4, state)
    again.start()
    try:
        assert finished(again, job.id)
        assert again.get(job.id).status == "done"
    finally:
        again.stop()
