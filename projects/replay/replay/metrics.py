"""Prometheus metrics of the frame source, ``deepclean_replay_*`` (one
registry per instance; counters are exposed with ``_total``)."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram

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
            "deepclean_replay_frames_written",
            "frame files written",
            ["kind"],
            registry=registry,
        )
        self.faults = Counter(
            "deepclean_replay_faults_injected",
            "seconds broken on purpose",
            ["fault"],
            registry=registry,
        )
        self.pruned = Counter(
            "deepclean_replay_frames_pruned",
            "old frame files deleted",
            registry=registry,
        )
        self.last_gps = Gauge(
            "deepclean_replay_last_gps",
            "GPS second last written",
            registry=registry,
        )
        self.lag = Gauge(
            "deepclean_replay_lag_seconds",
            "seconds behind schedule",
            registry=registry,
        )
        self.write_time = Histogram(
            "deepclean_replay_write_seconds",
            "wall seconds to write one second",
            registry=registry,
        )
        self._server = MetricsServer(port, registry)

    def close(self) -> None:
        """Stop the HTTP server (if any)."""
        self._server.close()
