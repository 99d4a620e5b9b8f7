"""Telling the exporter about finished runs, in a background thread.

``POST {url}/versions`` with ``{"run": "<gpsstart>-<gpsstop>"}`` and
``Authorization: Bearer <token>``. A 200/202 writes ``exported.json`` in
the run folder. A connection error, timeout, 5xx, 409 (the exporter's "not
now") or 429 (its queue is full) is retried with exponential back-off
(``backoff``, doubled each time, at most ``max_backoff``); any other 4xx is
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
from utils.errors import ConfigError

from trainer.metrics import TrainerMetrics
from trainer.runs import EXPORTED_FILE, mark_exported, unexported_runs

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
        backoff: seconds before the first retry.
        max_backoff: longest wait between retries.
        rescan_interval: seconds between looks for unexported runs.
    """

    url: str
    token: str
    timeout: float = 5.0
    backoff: float = 1.0
    max_backoff: float = 300.0
    rescan_interval: float = 60.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"exporter url {self.url!r} is not http(s)")
        if not self.token:
            raise ConfigError("the exporter API token is empty")
        if min(self.timeout, self.backoff, self.rescan_interval) <= 0:
            raise ConfigError("export timeouts and intervals must be > 0")


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
        self._pending: dict[str, tuple[float, int]] = {}  # due, attempts
        self._refused: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="export-notifier", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to end and wait at most ``timeout`` seconds."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning(
                    "export notifier still busy after %.0f s", timeout
                )
        self._session.close()

    def notify(self, run: str) -> None:
        """Queue ``run`` (a folder name under ``train_dir``) now."""
        with self._lock:
            self._refused.discard(run)
            self._pending[run] = (0.0, 0)
        self._wake.set()

    @property
    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._pending)

    def rescan(self) -> None:
        """Queue every finished run without ``exported.json``."""
        for path in unexported_runs(self.train_dir):
            with self._lock:
                if path.name in self._pending or path.name in self._refused:
                    continue
                logger.info("run %s not exported yet: queued", path.name)
                self._pending[path.name] = (0.0, 0)

    def _loop(self) -> None:
        next_rescan = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_rescan:
                self.rescan()
                next_rescan = now + self.config.rescan_interval
            with self._lock:
                due = [r for r, (t, _) in self._pending.items() if t <= now]
            for run in sorted(due):
                if self._stopping.is_set():
                    return
                self._attempt(run)
            with self._lock:
                times = [t for t, _ in self._pending.values()]
            wait = min([next_rescan, *times]) - time.monotonic()
            self._wake.wait(min(max(wait, 0.01), IDLE_WAIT))
            self._wake.clear()

    def _attempt(self, run: str) -> None:
        with self._lock:
            _, attempts = self._pending.get(run, (0.0, 0))
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
            delay = min(
                self.config.backoff * 2**attempts, self.config.max_backoff
            )
            self._pending[run] = (time.monotonic() + delay, attempts + 1)
        logger.warning(
            "run %s: exporter not reached (attempt %d); retry in %.0f s",
            run,
            attempts + 1,
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
                headers={"Authorization": f"Bearer {self.config.token}"},
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
