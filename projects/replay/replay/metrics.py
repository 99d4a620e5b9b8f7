"""Prometheus metrics of the frame source (one registry per instance)."""

from __future__ import annotations

import logging

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from utils.metrics import MetricsServer

logger = logging.getLogger(__name__)


class SourceMetrics:
    """Counters of what was written, served on ``port`` (0: not served).

    Args:
        port: HTTP port on 127.0.0.1; 0 disables the server.
    """

    def __init__(self, port: int = 0) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.frames = Counter(
            "replay_frames_written", "frame files written", ["kind"],
            registry=registry,
        )  # fmt: skip
        self.faults = Counter(
            "replay_faults_injected", "seconds broken on purpose", ["fault"],
            registry=registry,
        )  # fmt: skip
        self.pruned = Counter(
            "replay_frames_pruned", "old frame files deleted",
            registry=registry,
        )  # fmt: skip
        self.last_gps = Gauge(
            "replay_last_gps", "GPS second last written", registry=registry
        )
        self.lag = Gauge(
            "replay_lag_seconds", "seconds behind schedule", registry=registry
        )
        self.write_time = Histogram(
            "replay_write_seconds", "wall seconds to write one second",
            registry=registry,
        )  # fmt: skip
        self._server = MetricsServer(port, registry)

    def close(self) -> None:
        """Stop the HTTP server (if any)."""
        self._server.close()
