"""The Dask engine: where the chunks run, and how their ends are collected.

- ``cluster = "local"`` (default): a :class:`distributed.LocalCluster` of
  ``workers`` processes, one thread each (0: one per CPU core);
- ``scheduler = ADDRESS``: join a running Dask scheduler;
- ``cluster = "htcondor" | "slurm"``: workers started as batch jobs
  through dask-jobqueue, with the resources of :class:`JobConfig`
  (:func:`job_cluster`; :meth:`job_script` shows what is submitted).

:func:`run_chunks` submits one task per chunk (Dask retries a failed one
``retries`` times, a lost worker's too; a try past ``chunk_timeout`` is
named in the log: :func:`watched_try`), shows a progress bar, and
returns the results and, by chunk name, the reason of every chunk that
still failed; the others complete regardless.
:func:`run_trained_chunks` does the same for train-as-you-go: a chain of
training tasks, each given the previous one's result by the command, and
one cleaning task per chunk behind its training. Every wait is bounded:
the workers must come up within ``start_timeout``, each training ends
within ``chunk_timeout``, and the cleanings within ``chunk_timeout`` per
chunk and try, spread over the workers; the chunks not finished by then
are failures ("not finished within ..."), those finished keep their
results. Task keys carry a token of the run, so two runs on one scheduler
(``--scheduler``) never share a task. The tasks' warnings on the workers
are forwarded into the command's log.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Literal

from distributed import Client
from distributed import LocalCluster
from distributed import as_completed

from utils.errors import DeepCleanError

logger = logging.getLogger(__name__)

ClusterKind = Literal["local", "htcondor", "slurm"]
BAR_WIDTH = 30  # characters of the progress bar
# imported by each local worker as it starts, while the command plans,
# rather than inside its first task (the libraries every task needs)
WORKER_PRELOAD = ["reprocess.task", "scipy.signal", "onnxruntime"]
# what the tasks log on the workers (gaps, unreadable files, failed
# trainings), WARNING and above, goes to the command's log, not only to
# each worker's stderr (a batch job's own file)
FORWARDED_LOGGERS = ("reprocess", "utils")


@dataclass(frozen=True)
class JobConfig:
    """One batch job = one Dask worker (HTCondor / Slurm).

    Attributes:
        cores: CPU cores per job (one single-threaded worker per core).
        memory: memory per job, e.g. ``"8GiB"``.
        disk: local disk per job (HTCondor), e.g. ``"4GiB"``.
        walltime: ``HH:MM:SS`` per job (Slurm).
        queue: partition (Slurm) or ``""``.
        account: accounting group (HTCondor ``accounting_group``, Slurm
            ``--account``) or ``""``.
        prologue: shell lines run before the worker starts (e.g.
            ``source /path/to/.venv/reprocess/bin/activate``).
        python: the interpreter of the worker command.
        log_directory: where the jobs' logs go.
    """

    cores: int
    memory: str
    disk: str
    walltime: str
    queue: str
    account: str
    prologue: tuple[str, ...]
    python: str
    log_directory: str


@dataclass(frozen=True)
class EngineConfig:
    """Where and how long.

    Attributes:
        cluster: ``local``, ``htcondor`` or ``slurm``.
        scheduler: address of a running scheduler (``""``: start one).
        workers: worker processes (local) or jobs; 0: one per core.
        worker_memory: memory limit per local worker, e.g. ``"4GiB"``.
        dashboard_address: where the dashboard listens (``":0"``: any
            free port).
        retries: tries after the first failure of a chunk.
        start_timeout: seconds for the first worker to come up.
        chunk_timeout: seconds expected at most for one try of one chunk
            (:func:`watched_try`), and in the run's bound (module
            docstring).
        job: the batch jobs' resources.
    """

    cluster: ClusterKind
    scheduler: str
    workers: int
    worker_memory: str
    dashboard_address: str
    retries: int
    start_timeout: float
    chunk_timeout: float
    job: JobConfig

    @property
    def num_workers(self) -> int:
        if self.workers:
            return self.workers
        return len(os.sched_getaffinity(0))


def job_cluster(config: EngineConfig):
    """The dask-jobqueue cluster of ``config.cluster`` (no job submitted
    until it is scaled)."""
    from dask_jobqueue import HTCondorCluster
    from dask_jobqueue import SLURMCluster

    job = config.job
    common = dict(
        cores=job.cores,
        processes=job.cores,
        memory=job.memory,
        python=job.python,
        job_script_prologue=list(job.prologue),
        log_directory=job.log_directory,
        scheduler_options={"dashboard_address": config.dashboard_address},
    )
    if config.cluster == "htcondor":
        directives = {}
        if job.account:
            directives["accounting_group"] = job.account
        return HTCondorCluster(
            disk=job.disk, job_extra_directives=directives, **common
        )
    if config.cluster == "slurm":
        return SLURMCluster(
            queue=job.queue or None,
            account=job.account or None,
            walltime=job.walltime,
            **common,
        )
    raise ValueError(f"no batch cluster of kind {config.cluster!r}")


class NoWorkers(DeepCleanError):
    """No Dask worker to run on: no scheduler at the address, local
    worker processes that could not start, or no worker within
    ``start_timeout``."""


def connect(config: EngineConfig) -> tuple[Client, object | None]:
    """A client and the cluster started for it (None when joining).

    Raises:
        NoWorkers: with the reason; whatever was started for it (local
            processes, batch jobs) is closed first.
    """
    client = cluster = None
    try:
        if config.scheduler:
            client = Client(config.scheduler, timeout=config.start_timeout)
        else:
            cluster = start_cluster(config)
        if client is None:
            client = Client(cluster, timeout=config.start_timeout)
        client.wait_for_workers(1, timeout=config.start_timeout)
    except (TimeoutError, OSError, RuntimeError) as exc:
        disconnect(client, cluster)
        raise NoWorkers(f"{type(exc).__name__}: {exc}") from exc
    for name in FORWARDED_LOGGERS:  # into the command's own log
        client.forward_logging(name, level=logging.WARNING)
    logger.info(
        "Dask: %d workers, dashboard %s",
        len(client.scheduler_info()["workers"]),
        client.dashboard_link,
    )
    return client, cluster


def start_cluster(config: EngineConfig) -> object:
    """A local cluster of single-threaded worker processes, each under a
    nanny, or batch jobs (:func:`job_cluster`)."""
    if config.cluster == "local":
        return LocalCluster(
            n_workers=config.num_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=config.worker_memory,
            dashboard_address=config.dashboard_address,
            preload=WORKER_PRELOAD,
        )
    cluster = job_cluster(config)
    cluster.scale(jobs=config.num_workers)
    return cluster


def disconnect(client: Client | None, cluster: object | None) -> None:
    """Close ``client`` and ``cluster`` (either may be None): the local
    worker processes stop, batch jobs are cancelled. A cluster that fails
    to close (dask-jobqueue asserts on jobs that never started, after
    stopping its scheduler) is logged, not raised: the reason the command
    stops is the one to report."""
    if client is not None:
        client.close()
    if cluster is not None:
        try:
            cluster.close()
        except Exception as exc:  # cleanup on the way out
            logger.warning("closing the Dask cluster: %r", exc)


class ProgressBar:
    """``[#####-----] done/total files, failed`` on stderr (a terminal),
    else one log line per finished chunk."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.began = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, name: str, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        elapsed = time.monotonic() - self.began
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        line = (
            f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] "
            f"{self.done}/{self.total} files, {self.failed} failed, "
            f"{elapsed:.0f} s"
        )
        if self.tty:
            end = "\n" if self.done == self.total else ""
            sys.stderr.write(f"\r{line}{end}")
            sys.stderr.flush()
        else:
            logger.info("%s (%s %s)", line, name, "ok" if ok else "FAILED")


def run_chunks(
    client: Client,
    task: Callable,
    chunks: list,
    task_config: object,
    config: EngineConfig,
) -> tuple[list[dict], dict[str, str]]:
    """Run ``task(chunk, task_config)`` for every chunk.

    Returns:
        ``(results, failures)``: the results of the chunks that succeeded
        and, by chunk name, why each other one failed (or did not finish
        within the run's bound, module doc).
    """
    if not chunks:
        return [], {}
    token = run_token()
    futures = [
        client.submit(
            watched_try,
            config.chunk_timeout,
            task,
            chunk,
            task_config,
            key=f"clean-{chunk.name}-{token}",
            retries=config.retries,
            pure=False,
        )
        for chunk in chunks
    ]
    return collect(client, futures, chunks, config)


def run_trained_chunks(
    client: Client,
    train: Callable,
    clean: Callable,
    chunks: list,
    task_config: object,
    config: EngineConfig,
) -> tuple[list[dict], dict[str, str]]:
    """Train-as-you-go: ``train(chunk, task_config, previous)`` for each
    chunk in order, ``previous`` the result of the one before (None for
    the first), and ``clean(chunk, task_config, training)`` behind each.

    The command passes each training on as a value, not as a Dask
    dependency: with a chain of dependencies, a worker lost late in the
    run made Dask train every chunk again from the first (the lineage of
    the lost result); now it costs that worker's own task. A training not
    done within ``chunk_timeout`` ends the chain: its chunk and the rest
    fail with that reason.

    Returns:
        :func:`run_chunks`' ``(results, failures)`` of the cleanings.
    """
    token = run_token()
    previous, futures, cut = None, [], {}
    for i, chunk in enumerate(chunks):
        training = client.submit(
            watched_try,
            config.chunk_timeout,
            train,
            chunk,
            task_config,
            previous,
            key=f"train-{chunk.name}-{token}",
            pure=False,
        )
        try:
            previous = training.result(timeout=config.chunk_timeout)
        except Exception as exc:  # a timeout, or a task Dask gave up on
            reason = (
                f"training of {chunk.name} not finished within "
                f"{config.chunk_timeout:g} s"
                if isinstance(exc, TimeoutError)
                else f"training of {chunk.name}: {type(exc).__name__}: {exc}"
            )
            logger.error("%s: the chain of trainings ends here", reason)
            client.cancel([training])
            cut = {c.name: reason for c in chunks[i:]}
            break
        logger.info("trained %d of %d: %s", i + 1, len(chunks), chunk.name)
        futures.append(
            client.submit(
                watched_try,
                config.chunk_timeout,
                clean,
                chunk,
                task_config,
                previous,
                key=f"clean-{chunk.name}-{token}",
                retries=config.retries,
                pure=False,
            )
        )
    results, failures = collect(
        client, futures, chunks[: len(futures)], config
    )
    return results, {**failures, **cut}


def watched_try(timeout: float, task: Callable, *args: object) -> object:
    """``task(*args)``, a warning logged if this try is still running
    after ``timeout`` seconds (forwarded to the command's log): a hung
    try (a read stuck on a network file system) is named when it
    happens, not only when the run's bound gives up on it
    (:func:`collect`; the try's thread runs on until its worker ends).

    It is not ended: a thread cannot be stopped from outside, and ending
    its worker process would charge every task queued on that worker
    with a failure (Dask counts them all as lost with it).
    """
    name = getattr(args[0], "name", task.__name__) if args else task.__name__
    finished = threading.Event()

    def warn() -> None:
        if not finished.is_set():
            logger.warning(
                "%s: this try is still running after chunk_timeout=%g s "
                "(a hung read?); the run's bound gives up on it",
                name,
                timeout,
            )

    watchdog = threading.Timer(timeout, warn)
    watchdog.daemon = True
    watchdog.start()
    try:
        return task(*args)
    finally:
        finished.set()
        watchdog.cancel()


def run_token() -> str:
    """What makes one run's task keys its own on a shared scheduler."""
    return uuid.uuid4().hex[:12]


def collect(
    client: Client,
    futures: list,
    chunks: list,
    config: EngineConfig,
) -> tuple[list[dict], dict[str, str]]:
    """The results of ``futures`` (one per chunk, in order) as they come,
    and the reasons of those that failed, by chunk name. The chunks not
    finished within the run's bound fail with that reason (their tasks are
    cancelled); the results of the others are kept."""
    pairs = zip(futures, chunks, strict=True)
    names = {future.key: chunk.name for future, chunk in pairs}
    workers = max(1, len(client.scheduler_info()["workers"]))
    rounds = math.ceil(len(chunks) / workers) * (config.retries + 1)
    timeout = config.chunk_timeout * rounds
    bar = ProgressBar(len(chunks))
    results, failures, ended = [], {}, set()
    try:
        for future in as_completed(futures, timeout=timeout):
            name = names[future.key]
            ended.add(name)
            if future.status == "finished":
                results.append(future.result())
                bar.update(name, True)
            else:
                error = future.exception()
                failures[name] = f"{type(error).__name__}: {error}"
                logger.error("%s failed: %s", name, failures[name])
                bar.update(name, False)
            # its result is here: a worker lost later must not make the
            # scheduler compute it again
            client.cancel([future])
    except TimeoutError:
        left = [f for f in futures if names[f.key] not in ended]
        reason = (
            f"not finished within the run's bound of {timeout:.0f} s "
            f"({config.chunk_timeout:g} s per chunk and try on {workers} "
            "workers)"
        )
        for future in left:
            failures[names[future.key]] = reason
        logger.error(
            "%d chunks %s: %s",
            len(left),
            reason,
            ", ".join(names[f.key] for f in left[:5]),
        )
        client.cancel(left)
    return results, failures
