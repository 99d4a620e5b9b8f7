"""Entry points: ``trainer`` (the service) and ``train-run`` (one run).

parse (:class:`~trainer.config.TrainerSettings`, ``trainer --help``) ->
logging -> wire -> run::

    trainer --typeo pyproject.toml:trainer[-production]
    train-run --gps-start G0 --gps-stop G1 [--from-scratch] \\
        --typeo pyproject.toml:trainer [--max-epochs 5 ...]

``main`` reads the API token (``DEEPCLEAN_API_TOKEN``) once. Exit status:
0 stopped by SIGTERM/SIGINT (``train-run``: the run is written); 1 stopped
by an error (``train-run``: unusable data); 2 cannot start (bad settings,
no API token).
"""

import logging
import os
import threading
from typing import List, Optional

import torch

from trainer.config import TrainerSettings
from trainer.metrics import TrainerMetrics
from trainer.notifier import ExportNotifier
from trainer.run_once import parse_span
from trainer.run_once import train_span
from trainer.runs import warm_start
from trainer.service import TrainerService
from trainer.worker import TrainingWorker
from utils.atomic import remove_stale_temporaries
from utils.contracts import api_token
from utils.errors import ConfigError
from utils.errors import DeepCleanError
from utils.signals import stop_on_signals
from utils.startup import CANNOT_START
from utils.startup import configure_service

logger = logging.getLogger("trainer")

SHUTDOWN_TIMEOUT = 30.0  # s given to the threads to finish at exit
STALE_RUN_LENGTH = 3600.0  # s after which an unfinished run folder is stale


def _start(
    settings: TrainerSettings, prog: str, metrics: TrainerMetrics
) -> tuple[TrainingWorker, Optional[int]]:
    """Priority, torch threads, and a worker holding the newest finished
    run for warm starts; also that run's end GPS (None: no run yet)."""
    os.nice(settings.niceness)
    torch.set_num_threads(settings.num_threads)
    # a run folder a killed trainer was writing (a run is written in
    # seconds, after its training): never published, removed
    remove_stale_temporaries(settings.train_dir, STALE_RUN_LENGTH)
    witnesses = tuple(settings.witness_channels)
    previous, last_stop = warm_start(
        settings.train_dir, witnesses, settings.sample_rate
    )
    logger.info(
        "%s: %d witnesses, %d s per run every %d s, warm start from %s",
        prog,
        len(witnesses),
        settings.train_duration,
        settings.retrain_cadence,
        previous[1] if previous else "nothing",
    )
    worker = TrainingWorker(settings.run_config(), previous, metrics=metrics)
    return worker, last_stop


def build_service(
    settings: TrainerSettings,
    worker: TrainingWorker,
    metrics: TrainerMetrics,
    last_stop: Optional[int],
) -> TrainerService:
    """The loop on the settings' sub-configs, feeding ``worker``
    (``last_stop``: the newest run's end GPS, :func:`_start`)."""
    return TrainerService(
        settings.service_config(),
        worker,
        metrics,
        last_stop,
        project_dir=settings.project_dir,
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Console script ``trainer``: run the service until SIGTERM/SIGINT."""
    stop = threading.Event()
    stop_on_signals(stop)
    metrics = TrainerMetrics()
    settings = configure_service(TrainerSettings, "trainer", argv)
    if settings is None:
        return CANNOT_START
    try:  # before the warm start loads a model
        export = settings.export_config(api_token())
    except ConfigError as exc:
        logger.error("cannot start: %s", exc)
        return CANNOT_START
    worker, last_stop = _start(settings, "trainer", metrics)
    notifier = ExportNotifier(export, settings.train_dir, metrics)
    worker.on_done = lambda folder: notifier.notify(folder.name)
    server = metrics.serve(settings.metrics_port)
    service = build_service(settings, worker, metrics, last_stop)
    notifier.start()
    worker.start()
    try:
        service.run(stop)
    except Exception:
        logger.exception("trainer stopped by an error")
        return 1
    finally:
        logger.info("trainer stopping")
        worker.stop(SHUTDOWN_TIMEOUT)
        notifier.stop(SHUTDOWN_TIMEOUT)
        server.close()
    return 0


def train_run(argv: Optional[List[str]] = None) -> int:
    """Console script ``train-run``: train once on a GPS span of DATA_DIR."""
    span, rest = parse_span(argv)
    settings = configure_service(TrainerSettings, "train-run", rest)
    if settings is None:
        return CANNOT_START
    worker, _ = _start(settings, "train-run", TrainerMetrics())
    if span.from_scratch:
        worker.previous = None
    try:
        train_span(  # stored data: no wait for a first frame
            settings.stream_config(start_timeout=settings.frame_timeout),
            settings.preprocess_config(),
            settings.collect_config(span.gps_stop - span.gps_start),
            worker,
            span.gps_start,
            span.gps_stop,
        )
    except (DeepCleanError, TimeoutError) as exc:
        logger.error("train-run failed: %s", exc)
        return 1
    return 0
