"""Telling the exporter about finished runs, in a background thread.

``POST {url}/versions`` with ``{"run": "<gpsstart>-<gpsstop>"}`` and
``Authorization: Bearer <token>``. A 200/202 writes ``exported.json`` in
the run folder. A connection error, timeout, 5xx, 409 (the exporter's "not
now") or 429 (its queue is full) is retried with exponential back-off
(``backoff``, doubled each time, at most ``max_backoff``:
:class:`utils.retry.RetrySchedule`); any other 4xx is
a refusal, logged as an error and not retried until the trainer restarts. Every
``rescan_interval`` seconds (and at start) every finished run without
``exported.json`` is queued again, so runs finished while the exporter was
down are exported once it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from trainer.metrics import TrainerMetrics
from trainer.runs import EXPORTED_FILE
from trainer.runs import mark_exported
from trainer.runs import unexported_runs
from utils.contracts import bearer
from utils.contracts import check_api_token
from utils.errors import ConfigError
from utils.retry import Backoff
from utils.retry import RetrySchedule
from utils.settings import require_positive
from utils.worker import Worker

logger = logging.getLogger(__name__)

ACCEPTED = (200, 201, 202)
RETRIED = (409, 429)  # the exporter's "not now" and "queue full"
IDLE_WAIT = 5.0  # s, longest sleep of the loop between looks


@dataclass(frozen=True)
class ExportConfig:
    """Where the exporter is and how hard to try.

    Attributes:
        url: base URL, e.g. ``http://127.0.0.1:5000``.
        token: bearer token of state-changing requests.
        timeout: seconds per request.
        rescan_interval: seconds between looks for unexported runs.
        backoff: seconds before the first retry.
        max_backoff: longest wait between retries.
    """

    url: str
    token: str
    timeout: float
    rescan_interval: float
    backoff: float = 1.0
    max_backoff: float = 300.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"exporter url {self.url!r} is not http(s)")
        check_api_token(self.token)
        require_positive(self, "timeout", "backoff", "rescan_interval")
        if self.max_backoff < self.backoff:
            raise ConfigError(
                f"max_backoff {self.max_backoff} < backoff {self.backoff}"
            )


class ExportNotifier:
    """Queue of runs to announce, drained by one daemon thread.

    Args:
        config: the exporter and retry policy.
        train_dir: ``$PROJECT_DIR/train``.
        metrics: request outcomes are counted here.
    """

    def __init__(
        self,
        config: ExportConfig,
        train_dir: Path,
        metrics: TrainerMetrics | None = None,
    ) -> None:
        self.config = config
        self.train_dir = Path(train_dir)
        self.metrics = metrics or TrainerMetrics()
        self._backoff = Backoff(
            initial=config.backoff, maximum=config.max_backoff
        )
        self._pending: dict[str, RetrySchedule] = {}
        self._refused: set[str] = set()
        self._lock = threading.Lock()
        self._next_rescan = 0.0
        self._worker = Worker("export-notifier", self._step, IDLE_WAIT)
        self._session = requests.Session()

    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to end and wait at most ``timeout`` seconds."""
        self._worker.stop(timeout)
        self._session.close()

    def notify(self, run: str) -> None:
        """Queue ``run`` (a folder name under ``train_dir``) now."""
        with self._lock:
            self._refused.discard(run)
            self._pending[run] = RetrySchedule(self._backoff)
        self._worker.wake()

    @property
    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._pending)

    def rescan(self) -> None:
        """Queue every finished run without ``exported.json``, but those
        refused (a refused run stays unexported; one deleted since is
        forgotten, so that the refused stay as many as the runs kept)."""
        names = [path.name for path in unexported_runs(self.train_dir)]
        with self._lock:
            self._refused &= set(names)
            for name in names:
                if name in self._pending or name in self._refused:
                    continue
                logger.info("run %s not exported yet: queued", name)
                self._pending[name] = RetrySchedule(self._backoff)

    def _step(self) -> float:
        """One pass of the thread: rescan when due, try every run that is
        due; returns the seconds until the next is due."""
        now = time.monotonic()
        if now >= self._next_rescan:
            self.rescan()
            self._next_rescan = now + self.config.rescan_interval
        with self._lock:
            due = [r for r, s in self._pending.items() if s.due(now)]
        for run in sorted(due):
            if self._worker.stopping:
                return IDLE_WAIT
            self._attempt(run)
        with self._lock:
            times = [s.next_time for s in self._pending.values()]
        wait = min([self._next_rescan, *times]) - time.monotonic()
        return min(max(wait, 0.01), IDLE_WAIT)

    def _attempt(self, run: str) -> None:
        with self._lock:
            schedule = self._pending.get(run) or RetrySchedule(self._backoff)
            if (self.train_dir / run / EXPORTED_FILE).exists():
                self._pending.pop(run, None)  # sent by an earlier attempt
                return
        outcome = self._post(run)
        self.metrics.exports.labels(outcome).inc()
        with self._lock:
            if outcome in ("accepted", "refused"):
                self._pending.pop(run, None)
                if outcome == "refused":
                    self._refused.add(run)
                return
            delay = schedule.failed(time.monotonic())
            self._pending[run] = schedule
        logger.warning(
            "run %s: exporter not reached (attempt %d); retry in %.0f s",
            run,
            schedule.failures,
            delay,
        )

    def _post(self, run: str) -> str:
        """One request: ``accepted``, ``refused`` or ``retry``."""
        url = f"{self.config.url.rstrip('/')}/versions"
        try:
            response = self._session.post(
                url,
                json={"run": run},
                timeout=self.config.timeout,
                headers=bearer(self.config.token),
            )
        except requests.RequestException as exc:
            logger.debug("POST %s for run %s failed: %s", url, run, exc)
            return "retry"
        try:
            body = response.json()
        except ValueError:
            body = response.text[:500]
        status = response.status_code
        if status in ACCEPTED:
            run_dir = self.train_dir / run
            if run_dir.is_dir():
                mark_exported(run_dir, status, body)
            logger.info("run %s exported (HTTP %d): %s", run, status, body)
            return "accepted"
        if status >= 500 or status in RETRIED:
            logger.warning(
                "exporter answered HTTP %d for run %s: %s", status, run, body
            )
            return "retry"
        logger.error(
            "exporter refused run %s (HTTP %d): %s; not retried until restart",
            run,
            status,
            body,
        )
        return "refused"
