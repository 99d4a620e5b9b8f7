"""Export jobs: queued by ``POST /versions``, run by one worker thread.

A job is ``queued``, then ``running``, then ``done`` (with its version) or
``failed`` (with the error). A run that already has a version, or a job
queued or running, is never exported twice: :meth:`JobQueue.submit` returns
the existing job or a job that is ``done`` at once. Each export is bounded
by its own timeouts (conversion subprocess, Triton load, lock).

Jobs are kept in ``jobs.json`` (written atomically at every change), so a
restarted exporter still answers ``GET /jobs/<id>`` and finishes what it
had accepted: a job queued or running when the exporter died is queued
again (the trainer marks a run exported once its POST is accepted, so a
job lost here would be a model version lost). Exporting is idempotent per
run, so a job interrupted after its version was recorded just finds it (one
committed but not yet recorded is removed at the start, see
:meth:`exporter.repository.ModelRepository.ensure`).

An export that Triton could not load (a ``ServiceError``; the repository
is left as it was) is tried again, since the run would be lost otherwise:

- Triton not live (down, restarting): the job waits until it answers its
  liveness check again, however long that takes (each wait bounded and
  stopped by the queue's stop), and tries again without spending a try;
- Triton live and refusing: a try is spent; after a back-off it is tried
  again, ``attempts`` times in all, before the job fails (a bad model or
  a failed conversion, a ``ModelError``, fails at once).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from pathlib import Path
from typing import Callable

from exporter.errors import TooManyJobs
from exporter.metrics import ExporterMetrics
from utils.atomic import write_text
from utils.errors import DeepCleanError
from utils.errors import ServiceError
from utils.retry import Backoff
from utils.retry import retry
from utils.worker import JobWorker

logger = logging.getLogger(__name__)
MAX_JOBS_KEPT = 1000  # finished jobs remembered for GET /jobs/<id>
POLL_INTERVAL = 0.2  # s, idle wait of the worker (a job or stop wakes it)
# tries of an export a live Triton refused (the service waits 1, 2, 4
# reconcile intervals in between: 35 s by default, seconds being what a
# Triton restart takes); a Triton that is not live spends no try
EXPORT_ATTEMPTS = 4
MAX_OUTAGE_CHECK = 30.0  # s at most between checks that Triton is back
Work = Callable[[str, Path], int]
Probe = Callable[[], bool]
STATUSES = ("queued", "running", "done", "failed")
NONE = type(None)
# the types of a job's fields in jobs.json (None: not yet, or none)
RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "run": (str,),
    "status": (str,),
    "version": (int, NONE),
    "error": (str, NONE),
    "detail": (str, NONE),
    "created_at": (int, float),
    "started_at": (int, float, NONE),
    "finished_at": (int, float, NONE),
    "run_dir": (str,),
}


@dataclass
class Job:
    """One export request and its outcome."""

    id: str
    run: str
    status: str = "queued"
    version: int | None = None
    error: str | None = None
    detail: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    run_dir: str = ""  # kept for a restart, not shown by the API

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["run_dir"]
        return out

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @classmethod
    def parse(cls, record: object) -> "Job":
        """A job of ``jobs.json``, every field checked: a hand edit must
        not stop the start (``run_dir: null``) or leave a job that never
        ends (an unknown status).

        Raises:
            ValueError: not an object, a key unknown or (``id``, ``run``)
                missing, a value of the wrong type.
        """
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        unknown = set(record) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        try:
            job = cls(**record)
        except TypeError as exc:  # id or run missing
            raise ValueError(str(exc)) from exc
        for name, kinds in RECORD_TYPES.items():
            value = getattr(job, name)
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"{name}={value!r}: of the wrong type")
        if job.status not in STATUSES:
            raise ValueError(f"status={job.status!r}: not one of {STATUSES}")
        if job.active and not job.run_dir:
            raise ValueError(f"no run_dir for a job {job.status}")
        return job


class JobQueue:
    """Queue of export jobs with one worker.

    Args:
        work: ``(run, run_dir) -> version``; raises a DeepCleanError.
        max_active: jobs queued or running at most.
        state_path: ``jobs.json``; None: jobs live in memory only.
        metrics: where outcomes are counted; None: not counted.
        backoff: the waits between the tries of an export that Triton
            could not load, and between the checks that a Triton that is
            not live is back (at most :data:`MAX_OUTAGE_CHECK` s); None:
            one try.
        attempts: those tries in all.
        triton_live: whether Triton answers its liveness check (the
            reconciler's test); None: every refusal spends a try.
    """

    def __init__(
        self,
        work: Work,
        max_active: int,
        state_path: Path | None = None,
        metrics: ExporterMetrics | None = None,
        backoff: Backoff | None = None,
        attempts: int = EXPORT_ATTEMPTS,
        triton_live: Probe | None = None,
    ) -> None:
        self.work = work
        self.max_active = max_active
        self.state_path = state_path
        self.metrics = metrics
        self.attempts = attempts if backoff is not None else 1
        self.backoff = backoff or Backoff(initial=0.0)
        self.triton_live = triton_live
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._worker: JobWorker[tuple[Job, Path]] = JobWorker(
            "export-worker",
            lambda item: self._run(*item),
            interval=POLL_INTERVAL,
        )

    def start(self) -> None:
        """Restore the jobs of ``jobs.json``, then start the worker."""
        self._restore()
        self._worker.start()

    def _restore(self) -> None:
        path = self.state_path
        if path is None or not path.exists():
            return
        try:
            records = json.loads(path.read_text())["jobs"]
            if not isinstance(records, list):
                raise ValueError("jobs: not a list")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.error(
                "cannot read %s (%s): starting without the jobs "
                "of the previous run",
                path,
                exc,
            )
            return
        jobs = [job for job in map(self._parse, records) if job is not None]
        with self._lock:
            for job in jobs:
                self._jobs[job.id] = job
                if job.active:
                    job.status, job.started_at = "queued", None
                    self._worker.submit((job, Path(job.run_dir)))
                    logger.warning(
                        "export job %s of %s was interrupted "
                        "by the exporter's stop: queued again",
                        job.id,
                        job.run,
                    )
            self._save()
        logger.info("restored %d export jobs from %s", len(jobs), path)

    def _parse(self, record: object) -> Job | None:
        """The job of one record of ``jobs.json``; None (an ERROR that
        names the record: its run may need a new POST) if it is bad."""
        try:
            return Job.parse(record)
        except ValueError as exc:
            logger.error(
                "cannot read a job of %s (%s): dropped %.300r",
                self.state_path,
                exc,
                record,
            )
            return None

    def _save(self) -> None:
        """Write ``jobs.json`` (the caller holds the lock)."""
        if self.state_path is None:
            return
        text = json.dumps({"jobs": [asdict(j) for j in self._jobs.values()]})
        try:
            write_text(self.state_path, text + "\n", fsync=True)
        except OSError as exc:  # the export itself is not at stake
            logger.error("cannot write %s: %s", self.state_path, exc)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the worker after its current job (bounded wait); whether
        it has ended."""
        return self._worker.stop(timeout)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def submit(
        self, run: str, run_dir: Path, existing: int | None = None
    ) -> Job:
        """Queue an export of ``run`` (or return the job that covers it).

        Args:
            run: ``<start>-<stop>``.
            run_dir: its folder.
            existing: the version already exported from it, if any.

        Raises:
            TooManyJobs: ``max_active`` jobs are queued or running.
        """
        with self._lock:
            for job in self._jobs.values():
                if job.run == run and job.active:
                    return job
            job = Job(id=uuid.uuid4().hex, run=run, run_dir=str(run_dir))
            if existing is not None:
                job.status, job.version = "done", existing
                job.started_at = job.finished_at = job.created_at
            elif sum(j.active for j in self._jobs.values()) >= self.max_active:
                raise TooManyJobs(
                    f"{self.max_active} exports are queued or "
                    "running; retry later"
                )
            self._jobs[job.id] = job
            self._forget_old()
            self._save()
        if existing is None:
            self._worker.submit((job, run_dir))
            logger.info("export of %s queued as job %s", run, job.id)
        return job

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if not j.active]
        for job in finished[: max(0, len(self._jobs) - MAX_JOBS_KEPT)]:
            del self._jobs[job.id]

    def _run(self, job: Job, run_dir: Path) -> None:
        with self._lock:
            job.status, job.started_at = "running", time.time()
            self._save()
        logger.info("export job %s of %s running", job.id, job.run)
        try:
            version = retry(
                lambda: self._attempt(job, run_dir),
                f"export job {job.id} of {job.run}",
                self.backoff,
                attempts=self.attempts,
                retry_on=(ServiceError,),
                stop=self._worker.stop_event,
            )
        except TimeoutError as exc:
            if self._worker.stopping:  # still active in jobs.json
                logger.warning(
                    "export job %s of %s stopped between attempts: it is "
                    "queued again at the next start",
                    job.id,
                    job.run,
                )
                return
            cause = exc.__cause__ or exc  # the last try's error
            self._finish(
                job, "failed", error=type(cause).__name__, detail=str(exc)
            )
            logger.error(
                "export job %s of %s failed: %s", job.id, job.run, exc
            )
        except DeepCleanError as exc:
            self._finish(
                job, "failed", error=type(exc).__name__, detail=str(exc)
            )
            logger.error(
                "export job %s of %s failed: %s", job.id, job.run, exc
            )
        except Exception as exc:  # a bug must not kill the worker
            self._finish(
                job,
                "failed",
                error="InternalError",
                detail=f"{type(exc).__name__}: {exc}",
            )
            logger.exception("export job %s of %s crashed", job.id, job.run)
        else:
            self._finish(job, "done", version=version)
            logger.info(
                "export job %s of %s done: version %d",
                job.id,
                job.run,
                version,
            )

    def _attempt(self, job: Job, run_dir: Path) -> int:
        """One try of the export. Refused while Triton is not live, it
        waits for Triton and runs again without spending the try: an
        outage of any length loses no run (the trainer does not ask
        twice). A refusal by a live Triton is raised: a try spent."""
        while True:
            try:
                return self.work(job.run, run_dir)
            except ServiceError as exc:
                if self.triton_live is None or self.triton_live():
                    raise
                if not self._wait_for_triton(job, exc):
                    raise  # stopping: the job stays for the next start

    def _wait_for_triton(self, job: Job, error: ServiceError) -> bool:
        """Wait until Triton is live, checking at the back-off's pace (at
        most :data:`MAX_OUTAGE_CHECK` s apart); False if the queue stops
        first."""
        logger.warning(
            "export job %s of %s: Triton is not live (%s); waiting for it "
            "(no try spent)",
            job.id,
            job.run,
            error,
        )
        start = time.monotonic()
        checks = 0
        while True:
            checks += 1
            delay = self.backoff.delay(checks)
            delay = min(max(delay, POLL_INTERVAL), MAX_OUTAGE_CHECK)
            if self._worker.stop_event.wait(delay):
                return False
            if self.triton_live():
                logger.info(
                    "export job %s of %s: Triton live again after %.0f s; "
                    "exporting again",
                    job.id,
                    job.run,
                    time.monotonic() - start,
                )
                return True

    def _finish(self, job: Job, status: str, **fields: object) -> None:
        with self._lock:
            job.status, job.finished_at = status, time.time()
            for key, value in fields.items():
                setattr(job, key, value)
            self._save()
        if self.metrics is not None:
            self.metrics.exports.labels(status).inc()
