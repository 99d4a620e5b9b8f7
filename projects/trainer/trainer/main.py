"""Entry points: ``trainer`` (the service) and ``train-run`` (one run).

Both read :class:`~trainer.config.TrainerSettings` with typeo::

    trainer --typeo pyproject.toml:trainer
    train-run --gps-start 1400000000 --gps-stop 1400000256 \\
        [--from-scratch] [--set max_epochs=5 ...] \\
        --typeo pyproject.toml:trainer

``main`` reads the API token (``DEEPCLEAN_API_TOKEN``) once, nices the
process, limits torch threads, configures logging and wires the components.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import torch
from hermes.typeo import typeo
from utils.errors import ConfigError, DeepCleanError
from utils.logging import configure_logging

from trainer.config import TrainerSettings
from trainer.metrics import TrainerMetrics
from trainer.notifier import ExportNotifier
from trainer.run_once import train_span
from trainer.runs import load_latest
from trainer.service import TrainerService
from trainer.worker import TrainingWorker

logger = logging.getLogger("trainer")

TOKEN_VARIABLE = "DEEPCLEAN_API_TOKEN"
SHUTDOWN_TIMEOUT = 30.0  # s given to the threads to finish at exit


def configure(prog: str) -> TrainerSettings:
    """TrainerSettings from argv or ``--typeo pyproject.toml:<section>``."""
    return typeo(prog=prog)(TrainerSettings)()


def _prepare(
    settings: TrainerSettings, service: str, metrics: TrainerMetrics
) -> tuple[TrainingWorker, int | None]:
    """Logging, priority, torch threads, and a worker holding the newest
    finished run for warm starts; also that run's end GPS (or None)."""
    configure_logging(service, settings.project_dir / "logs", settings.verbose)
    os.nice(settings.niceness)
    torch.set_num_threads(settings.num_threads)
    settings.train_dir.mkdir(parents=True, exist_ok=True)
    latest = load_latest(
        settings.train_dir,
        tuple(settings.witness_channels),
        settings.sample_rate,
    )
    previous, last_stop = None, None
    if latest is not None:
        previous, last_stop = (latest[0], latest[2]), latest[1].gps_stop
    logger.info(
        "%s: %d witnesses, %d s per run every %d s, warm start from %s",
        service,
        len(settings.witness_channels),
        settings.train_duration,
        settings.retrain_cadence,
        previous[1] if previous else "nothing",
    )
    worker = TrainingWorker(settings.run_config(), previous, metrics=metrics)
    return worker, last_stop


def _on_signal(signum: int, _frame: object) -> None:
    """SIGTERM/SIGINT: leave the main loop at once (it only reads frames);
    ``main``'s ``finally`` then stops the threads."""
    logger.info("signal %d received", signum)
    raise SystemExit(0)


def main() -> None:
    """Console script ``trainer``: run the service until SIGTERM/SIGINT."""
    settings = configure("trainer")
    token = os.environ.get(TOKEN_VARIABLE, "")
    metrics = TrainerMetrics()
    worker, last_stop = _prepare(settings, "trainer", metrics)
    try:
        export = settings.export_config(token)
    except ConfigError:
        logger.exception("trainer cannot start (is %s set?)", TOKEN_VARIABLE)
        sys.exit(1)
    notifier = ExportNotifier(export, settings.train_dir, metrics)
    worker.on_done = lambda folder: notifier.notify(folder.name)
    metrics.serve(settings.metrics_port)
    service = TrainerService(
        settings.stream_config(), settings.schedule_config(),
        settings.collect_config(), worker, metrics, last_stop,
    )  # fmt: skip
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    notifier.start()
    worker.start()
    try:
        service.run()
    except Exception:
        logger.exception("trainer stopped by an error")
        raise
    finally:
        logger.info("trainer stopping")
        worker.stop(SHUTDOWN_TIMEOUT)
        notifier.stop(SHUTDOWN_TIMEOUT)


def train_run() -> None:
    """Console script ``train-run``: train once on a GPS span of DATA_DIR."""
    parser = argparse.ArgumentParser(
        prog="train-run", add_help=False,
        description="Train once on frames in DATA_DIR; the other options "
        "are the trainer's (train-run --typeo pyproject.toml:trainer).",
    )  # fmt: skip
    parser.add_argument("--gps-start", type=int, required=True)
    parser.add_argument("--gps-stop", type=int, required=True)
    parser.add_argument(
        "--from-scratch",
        action="store_true",
        help="do not warm-start from the newest run",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override settings, e.g. max_epochs=5",
    )
    span, rest = parser.parse_known_args()  # fmt: skip
    if span.gps_stop <= span.gps_start:
        parser.error("--gps-stop must be after --gps-start")
    sys.argv = [sys.argv[0], *rest]
    settings = configure("train-run").overridden(span.set)
    worker, _ = _prepare(settings, "train-run", TrainerMetrics())
    if span.from_scratch:
        worker.previous = None
    try:
        train_span(
            settings.stream_config(start_timeout=settings.frame_timeout),
            settings.collect_config(span.gps_stop - span.gps_start),
            settings.ready_mask, worker, span.gps_start, span.gps_stop,
        )  # fmt: skip
    except (DeepCleanError, TimeoutError) as exc:
        logger.error("train-run failed: %s", exc)
        sys.exit(1)
