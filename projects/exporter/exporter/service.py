"""The exporter's components and background threads.

:class:`ExporterService` wires the repository, the Triton control, the
version manager, the export job queue and the reconciler (a thread that,
every ``reconcile_interval`` seconds, makes Triton serve what the
repository says: after a Triton restart it re-loads the pipeline).
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from utils.errors import DeepCleanError

from exporter.config import PIPELINE_NAME, AppConfig
from exporter.jobs import JobQueue
from exporter.manager import VersionManager
from exporter.repository import JOBS_FILE, ModelRepository
from exporter.triton import TritonControl

logger = logging.getLogger(__name__)


class Reconciler:
    """Calls ``reconcile`` every ``interval`` seconds until stopped.

    Args:
        reconcile: returns whether the pipeline is ready.
        interval: seconds between calls.
    """

    def __init__(self, reconcile: Callable[..., bool], interval: float):
        self.reconcile = reconcile
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reconciler",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self, force: bool = False) -> bool:
        """One reconciliation; errors are logged, never raised."""
        try:
            return self.reconcile(force)
        except DeepCleanError as exc:
            logger.warning("could not bring Triton in step: %s", exc)
        except Exception:  # a bug must not stop the reconciler
            logger.exception("reconciliation crashed")
        return False

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()


class ExporterService:
    """Everything behind the HTTP API.

    Args:
        config: the exporter's configuration.
    """

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.repository = ModelRepository(
            config.repository, config.serving, config.export.backend
        )
        self.triton = TritonControl(config.triton)
        self.manager = VersionManager(
            self.repository, self.triton, config.export
        )
        self.jobs = JobQueue(self.manager.export, config.max_queued_jobs,
                             self.repository.root / JOBS_FILE)
        self.reconciler = Reconciler(
            self.manager.reconcile, config.triton.reconcile_interval
        )

    def start(self) -> None:
        """Prepare the repository, load what exists, start the threads."""
        self.manager.prepare()
        self.reconciler.run_once(force=True)
        self.jobs.start()
        self.reconciler.start()

    def close(self) -> None:
        """Stop the threads (bounded waits)."""
        self.jobs.stop()
        self.reconciler.stop()

    def health(self) -> dict:
        """``GET /health``."""
        live = self.triton.is_live()
        state = self.repository.read_state()
        return {
            "alive": True,
            "triton_live": live,
            "triton_ready": live and self.triton.is_ready(),
            "pipeline_ready": live and bool(state.canary)
            and self.triton.is_model_ready(PIPELINE_NAME),
            "production": state.production,
            "canary": state.canary,
        }

    def describe_versions(self) -> dict:
        """``GET /versions``: every version on disk and its role."""
        state = self.repository.read_state()
        ready = self.triton.ready_versions(self.repository.model_dir.name)
        versions = []
        for version in self.repository.versions():
            info = self.repository.version_info(version)
            if info is None:  # removed meanwhile
                continue
            versions.append({
                "version": version,
                "run": info.get("run"),
                "gps_start": info.get("gps_start"),
                "gps_stop": info.get("gps_stop"),
                "exported_at": info.get("exported_at"),
                "backend": info.get("backend"),
                "verification_error": info.get("verification_error"),
                "loaded": version in (ready or set()),
                "production": version == state.production,
                "canary": version == state.canary,
            })
        return {
            "production": state.production,
            "canary": state.canary,
            "versions": versions,
        }
