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


@pytest.mark.parametrize(
    "bad",
    [
        {"run_dir": None},
        {"version": "3"},
        {"status": "paused"},
        {"created_at": "yesterday"},
        {"note": "x"},
        {"run_dir": ""},
        {"id": None},
    ],
)
def test_a_bad_job_in_the_jobs_file_is_dropped_alone(tmp_path, caplog, bad):
    """A hand-edited jobs.json: a job with a field of the wrong type is
    dropped with an ERROR naming it, never stopping the start, and the
    other jobs of the file are run."""
    state = tmp_path / "jobs.json"
    good = {"id": "good", "run": "100-200", "status": "queued"}
    good["run_dir"] = str(tmp_path / "100-200")
    edited = {**good, "id": "edited", "run": "200-300", **bad}
    state.write_text(json.dumps({"jobs": [edited, good]}))
    work = Work()
    queue = JobQueue(work, 4, state)
    with caplog.at_level(logging.ERROR, logger="exporter.jobs"):
        queue.start()
    try:
        assert finished(queue, "good")
        assert queue.get("good").status == "done"
        assert queue.get("edited") is None
        assert work.calls == [("100-200", str(tmp_path / "100-200"))]
        assert "cannot read a job of" in caplog.text
        assert "200-300" in caplog.text  # the run that may need a POST
    finally:
        queue.stop()
    assert [j["id"] for j in json.loads(state.read_text())["jobs"]] == ["good"]


@pytest.mark.parametrize("live", [None, lambda: True])
@pytest.mark.parametrize("refusals, status", [(2, "done"), (3, "failed")])
def test_an_export_triton_refused_is_tried_again(
    tmp_path, caplog, refusals, status, live
):
    """Triton restarting, or refusing the model while live: the job is
    tried again after a back-off (the trainer will not ask again),
    ``attempts`` times in all, and only then fails, naming Triton's
    error."""
    work = Work(refusals=refusals)
    queue = JobQueue(
        work, 4, tmp_path / "jobs.json", None, Backoff(0.05), 3, live
    )
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


class Outage:
    """A Triton down until its liveness has been checked ``checks``
    times: every load meanwhile is refused."""

    def __init__(self, checks: int) -> None:
        self.left = checks
        self.loads = 0
        self.waiting = threading.Event()

    def live(self) -> bool:
        self.left -= 1
        self.waiting.set()
        return self.left < 0

    def work(self, run, run_dir) -> int:
        self.loads += 1
        if self.left >= 0:
            raise ServiceError("Triton could not load: Connection refused")
        return 7


def test_an_export_waits_out_a_triton_outage_without_spending_tries(
    tmp_path, caplog
):
    """Triton down for longer than the tries' back-off lasts (the job
    accepted, the run marked exported by the trainer): the job waits for
    Triton to be live again, then exports, instead of failing for good."""
    outage = Outage(checks=4)
    queue = JobQueue(outage.work, 4, None, None, Backoff(0.01), 1, outage.live)
    queue.start()
    try:
        with caplog.at_level(logging.INFO, logger="exporter.jobs"):
            job = queue.submit("100-200", tmp_path / "100-200")
            assert finished(queue, job.id)
        assert (queue.get(job.id).status, queue.get(job.id).version) == (
            "done",
            7,
        )
        assert outage.loads == 2  # refused once, then once Triton is back
        assert "Triton is not live" in caplog.text
        assert "Triton live again" in caplog.text
    finally:
        queue.stop()


def test_a_stop_while_waiting_for_triton_leaves_the_job(tmp_path):
    """The exporter stopped while a job waits for a Triton that is down:
    the job is not failed but stays in jobs.json for the next start."""
    state = tmp_path / "jobs.json"
    outage = Outage(checks=1_000_000)
    queue = JobQueue(
        outage.work, 4, state, None, Backoff(60.0), 1, outage.live
    )
    queue.start()
    job = queue.submit("100-200", tmp_path / "100-200")
    assert outage.waiting.wait(TIMEOUT)
    assert queue.stop(TIMEOUT)  # ended within the 60-s wait
    assert queue.get(job.id).status == "running"
    saved = json.loads(state.read_text())["jobs"]
    assert [j["status"] for j in saved] == ["running"]
