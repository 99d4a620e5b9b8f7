"""The exporter's components and background threads.

:class:`ExporterService` wires, from an :class:`AppConfig` (built by
:meth:`exporter.config.ExporterSettings.app_config`), the repository, the
Triton control, the version manager, the export job queue, the metrics and
the reconciler (a thread that, every ``reconcile_interval`` seconds, makes
Triton serve what the repository says: after a Triton restart it re-loads
the pipeline).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Callable

from exporter.export_process import ExportConfig
from exporter.jobs import JobQueue
from exporter.layout import PIPELINE_NAME
from exporter.layout import ServingConfig
from exporter.manager import VersionManager
from exporter.metrics import ExporterMetrics
from exporter.repository import JOBS_FILE
from exporter.repository import ModelRepository
from exporter.repository import RepositoryConfig
from exporter.repository import RepositoryState
from exporter.triton import TritonConfig
from exporter.triton import TritonControl
from utils.contracts import check_api_token
from utils.errors import DeepCleanError
from utils.retry import Backoff
from utils.runs import train_dir
from utils.settings import require_counts
from utils.worker import Worker

logger = logging.getLogger(__name__)
OPENAPI_PATH = Path(__file__).resolve().parents[1] / "openapi.yaml"


@dataclass(frozen=True)
class AppConfig:
    """Everything ``create_app`` needs.

    Attributes:
        project_dir: ``$PROJECT_DIR``; runs are named relative to its
            ``train`` folder (:mod:`utils.runs`).
        api_token: the bearer token POSTs must carry (never logged).
        repository: see :class:`RepositoryConfig`.
        export: see :class:`ExportConfig`.
        serving: see :class:`ServingConfig`.
        triton: see :class:`TritonConfig`.
        max_content_length: largest request body in bytes.
        max_queued_jobs: exports waiting or running at most.
        openapi_path: the API description served at ``/openapi.yaml``.
    """

    project_dir: Path
    api_token: str = field(repr=False)  # never shown in logs
    repository: RepositoryConfig
    export: ExportConfig
    serving: ServingConfig
    triton: TritonConfig
    max_content_length: int
    max_queued_jobs: int = 8
    openapi_path: Path = OPENAPI_PATH

    def __post_init__(self) -> None:
        check_api_token(self.api_token)
        require_counts(self, "max_content_length", "max_queued_jobs")

    @property
    def train_dir(self) -> Path:
        return train_dir(self.project_dir)


class Reconciler:
    """Calls ``reconcile`` every ``interval`` seconds until stopped.

    Args:
        reconcile: returns whether the pipeline is ready.
        interval: seconds between calls.
    """

    def __init__(self, reconcile: Callable[..., bool], interval: float):
        self.reconcile = reconcile
        self.interval = interval
        self._worker = Worker(
            "reconciler", self._step, interval, wait_first=True
        )

    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._worker.stop(timeout)

    def run_once(self, force: bool = False) -> bool:
        """One reconciliation; errors are logged, never raised."""
        try:
            return self.reconcile(force)
        except DeepCleanError as exc:
            logger.warning("could not bring Triton in step: %s", exc)
        except Exception:  # a bug must not stop the reconciler
            logger.exception("reconciliation crashed")
        return False

    def _step(self) -> None:
        self.run_once()


class ExporterService:
    """Everything behind the HTTP API; its metrics are on
    ``metrics.registry``.

    Args:
        config: the exporter's configuration.
    """

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.metrics = ExporterMetrics()
        self.repository = ModelRepository(
            config.repository, config.serving, config.export.backend
        )
        self.triton = TritonControl(config.triton)
        self.manager = VersionManager(
            self.repository, self.triton, config.export, self.metrics
        )
        self.jobs = JobQueue(
            self.manager.export,
            config.max_queued_jobs,
            self.repository.root / JOBS_FILE,
            self.metrics,
            # an export Triton refused is tried again at the pace at which
            # the reconciler finds a restarted Triton; while Triton is not
            # live (the reconciler's test) it waits without spending a try
            Backoff(initial=config.triton.reconcile_interval),
            triton_live=self.triton.is_live,
        )
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
            "pipeline_ready": live
            and bool(state.canary)
            and self.triton.is_model_ready(PIPELINE_NAME),
            "production": state.production,
            "canary": state.canary,
        }

    def describe_versions(self) -> dict:
        """``GET /versions``: every recorded version and its role."""
        state = self.repository.read_state()
        ready = self.triton.ready_versions(self.repository.model_dir.name)
        versions = []
        for version in self.repository.recorded_versions():
            info = self.repository.version_info(version)
            if info is None:  # removed meanwhile
                continue
            versions.append(
                {
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
                }
            )
        return {
            "production": state.production,
            "canary": state.canary,
            "production_since": production_since(state),
            "versions": versions,
        }


def production_since(state: RepositoryState) -> dict | None:
    """The promotion that made production what it is: ``{"version",
    "time", "previous", "reason"}`` (None: never promoted, version 0)."""
    for event in reversed(state.history):
        if event.get("event") == "promote":
            if event.get("version") != state.production:
                return None
            return {
                key: event.get(key)
                for key in ("version", "time", "previous", "reason")
            }
    return None
