"""One training run, start to finish, and the thread that runs them.

:meth:`TrainingWorker.run` is the single code path of the service and of
``train-run``: check the data (refuse with :class:`DataCheckError`), train
(warm-started from the previous run when there is one), and publish the run
folder (:func:`trainer.runs.publish_run`). In the service it runs in a
background thread (:meth:`submit`) so data collection never waits for it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from trainer.metrics import TrainerMetrics
from trainer.plots import plot_asd
from trainer.plots import plot_loss
from trainer.runs import CHECKS_FILE
from trainer.runs import FAILED_FILE
from trainer.runs import HISTORY_FILE
from trainer.runs import publish_run
from utils.atomic import write_json
from utils.errors import DataCheckError
from utils.errors import DeepCleanError
from utils.nn.architecture import DeepClean
from utils.nn.checkpoint import ModelMeta
from utils.nn.checkpoint import save_model
from utils.nn.data import Stretch
from utils.nn.datacheck import CheckConfig
from utils.nn.datacheck import CheckReport
from utils.nn.datacheck import check_training_data
from utils.nn.evaluate import clean
from utils.nn.train import TrainConfig
from utils.nn.train import TrainResult
from utils.nn.train import train
from utils.runs import VERIFY_FILE
from utils.runs import run_name
from utils.signal import asd_ratio
from utils.worker import JobWorker

logger = logging.getLogger(__name__)

JOB_POLL = 0.5  # s, idle wait of the training thread (a job wakes it)


@dataclass(frozen=True)
class RunConfig:
    """What a run needs besides its data.

    Attributes:
        train_dir: ``$PROJECT_DIR/train``.
        strain_channel: the target channel.
        witness_channels: the inputs, in order.
        train: hyper-parameters.
        checks: data-check thresholds.
        verify_length: seconds of validation witnesses in ``verify.npz``.
    """

    train_dir: Path
    strain_channel: str
    witness_channels: tuple[str, ...]
    train: TrainConfig
    checks: CheckConfig
    verify_length: int = 4


class TrainingWorker:
    """Runs training jobs, remembering the last network for warm starts.

    Args:
        config: the run settings.
        previous: ``(network, run name)`` to warm-start the next run from.
        on_done: called with each published run folder.
        metrics: run outcomes are counted here.
    """

    def __init__(
        self,
        config: RunConfig,
        previous: tuple[DeepClean, str] | None = None,
        on_done: Callable[[Path], None] | None = None,
        metrics: TrainerMetrics | None = None,
    ) -> None:
        self.config = config
        self.previous = previous
        self.on_done = on_done
        self.metrics = metrics or TrainerMetrics()
        self._busy = threading.Event()
        self._worker: JobWorker[Stretch] = JobWorker(
            "training", self._job, max_queued=1, interval=JOB_POLL
        )

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Interrupt training (between batches) and wait for the thread."""
        self._worker.stop(timeout)

    def submit(self, stretch: Stretch) -> bool:
        """Queue a run on ``stretch``; False (nothing queued) when busy."""
        if self._busy.is_set():
            return False
        self._busy.set()
        self._worker.submit(stretch)
        return True

    def _job(self, stretch: Stretch) -> None:
        """One run in the training thread; its errors are logged here."""
        try:
            self.run(stretch)
        except DeepCleanError as exc:  # refused or diverged: logged
            logger.error(
                "training on GPS %d-%d failed: %s",
                stretch.gps_start,
                stretch.gps_stop,
                exc,
            )
            if not isinstance(exc, DataCheckError):
                self.metrics.runs.labels("failed").inc()
        except Exception:
            logger.exception(
                "training on GPS %d-%d crashed",
                stretch.gps_start,
                stretch.gps_stop,
            )
            self.metrics.runs.labels("crashed").inc()
        finally:
            self._busy.clear()

    def run(self, stretch: Stretch) -> Path | None:
        """Check, train and publish one run (blocking).

        Returns:
            The run folder, or None if training was interrupted.

        Raises:
            DataCheckError: the data failed a check (``checks.json`` and
                ``FAILED`` are written in the run folder).
            ModelError: training diverged.
        """
        config = self.config
        name = run_name(stretch.gps_start, stretch.gps_stop)
        report = check_training_data(
            stretch.witness,
            stretch.strain,
            config.witness_channels,
            config.checks,
        )
        if not report.passed:
            self._refuse(name, report)
        if report.flat_witnesses:
            logger.warning(
                "run %s: flat witnesses keep their previous scaler: %s",
                name,
                report.flat_witnesses,
            )
        init, parent = self.previous or (None, None)
        self.metrics.training.set(1)
        try:
            result = train(
                stretch,
                config.train,
                init=init,
                stop=lambda: self._worker.stopping,
                label=f"run {name}",
            )
        finally:
            self.metrics.training.set(0)
        if result.interrupted:
            self.metrics.runs.labels("interrupted").inc()
            return None
        folder = publish_run(
            config.train_dir,
            name,
            lambda tmp: self._write(
                tmp, name, stretch, result, report, parent
            ),
            done=True,
        )
        self.previous = (result.model, name)
        self.metrics.runs.labels("finished").inc()
        self.metrics.last_valid_loss.set(result.best_valid_loss)
        logger.info(
            "run %s finished: valid loss %.4f (epoch %d of %d), %s",
            name,
            result.best_valid_loss,
            result.best_epoch,
            len(result.history),
            folder,
        )
        if self.on_done is not None:
            self.on_done(folder)
        return folder

    def _refuse(self, name: str, report: CheckReport) -> None:
        """Keep the reasons in ``<run>/checks.json`` and ``FAILED`` (no
        ``DONE``), then raise."""
        self.metrics.runs.labels("refused").inc()

        def write(folder: Path) -> None:
            write_json(folder / CHECKS_FILE, report.to_json())
            (folder / FAILED_FILE).write_text(
                "\n".join(report.failures) + "\n"
            )

        publish_run(self.config.train_dir, name, write, done=False)
        report.raise_for_failure(f"GPS {name}")

    def _write(
        self,
        folder: Path,
        name: str,
        stretch: Stretch,
        result: TrainResult,
        report: CheckReport,
        parent: str | None,
    ) -> None:
        """Fill the temporary run folder (``DONE`` is added after)."""
        config = self.config
        rate, band = (
            config.train.sample_rate,
            (config.train.freq_low, config.train.freq_high),
        )
        valid = result.valid
        cleaned = clean(
            result.model,
            valid.witness,
            valid.strain,
            rate,
            *band,
            config.train.filter_order,
        )
        # on the loss's Welch segments: the figure the run was fitted to
        segments = (config.train.fftlength, config.train.overlap)
        ratio = asd_ratio(cleaned, valid.strain, rate, *band, *segments)
        meta = ModelMeta(
            strain_channel=config.strain_channel,
            witness_channels=config.witness_channels,
            sample_rate=rate,
            gps_start=stretch.gps_start,
            gps_stop=stretch.gps_stop,
            channels=config.train.channels,
            extra={
                "lr": result.lr,
                "epochs": len(result.history),
                "best_epoch": result.best_epoch,
                "best_valid_loss": result.best_valid_loss,
                "initial_valid_loss": result.initial_valid_loss,
                "valid_asd_ratio": ratio,
                "parent": parent,
                "warm_start": result.warm_start,
                "flat_witnesses": list(report.flat_witnesses),
                "train_seconds": round(
                    sum(h["seconds"] for h in result.history), 1
                ),
                "train_config": asdict(config.train),
            },
        )
        save_model(result.model, meta, folder)
        write_json(folder / HISTORY_FILE, result.history)
        write_json(folder / CHECKS_FILE, report.to_json())
        verify = valid.witness[:, : config.verify_length * rate]
        np.savez(folder / VERIFY_FILE, witness=verify.astype(np.float32))
        title = f"run {name}"
        plot_loss(result.history, folder / "loss.png", title)
        plot_asd(
            valid.strain,
            cleaned,
            rate,
            band,
            folder / "asd.png",
            f"{title}: validation, ASD ratio {ratio:.3f}",
        )
        logger.info("%s: validation in-band ASD ratio %.3f", title, ratio)
