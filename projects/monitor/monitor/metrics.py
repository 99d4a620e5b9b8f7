"""Prometheus metrics of the monitor (``127.0.0.1:9104`` by default).

Each :class:`MonitorMetrics` has its own registry, so several monitors can
live in one process (tests) without clashing.
"""

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

ARCHIVE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120)  # s


class MonitorMetrics:
    """Every metric the monitor exports.

    Args:
        port: HTTP port on 127.0.0.1; 0 serves nothing.
    """

    def __init__(self, port: int = 0) -> None:
        self.registry = r = CollectorRegistry()
        self.asd_ratio = Gauge(
            "monitor_asd_ratio", "ASD ratio product/RAW over the band, "
            "newest contiguous data", ["product"], registry=r)  # fmt: skip
        self.validation_ratio = Gauge(
            "monitor_canary_validation_ratio", "ASD ratio CANARY/RAW of "
            "the validation window so far", registry=r)  # fmt: skip
        self.validation_seconds = Gauge(
            "monitor_canary_validation_seconds", "seconds in the current "
            "canary's validation window", registry=r)  # fmt: skip
        self.validation_version = Gauge(
            "monitor_canary_validation_version", "canary version being "
            "validated (0: none)", registry=r)  # fmt: skip
        self.version = Gauge(
            "monitor_version", "model version in the newest frame",
            ["role"], registry=r)  # fmt: skip
        self.gate = Gauge(
            "monitor_out_dq_gate_open", "fraction of the newest second with "
            "the OUT_DQ gate open", registry=r)  # fmt: skip
        self.dropped = Counter(
            "monitor_dropped_seconds", "processed seconds without INPUT_OK "
            "(dropped raw input)", registry=r)  # fmt: skip
        self.missing = Counter(
            "monitor_missing_seconds", "seconds missing from the carousel "
            "(declared gaps)", registry=r)  # fmt: skip
        self.processed = Counter(
            "monitor_frames_processed", "carousel frames processed",
            registry=r)  # fmt: skip
        self.last_gps = Gauge(
            "monitor_last_processed_gps", "GPS of the newest processed "
            "second", registry=r)  # fmt: skip
        self.latency = Gauge(
            "monitor_frame_latency_seconds", "carousel file mtime minus the "
            "end of its GPS second, newest frame", registry=r)  # fmt: skip
        self.carousel_frames = Gauge(
            "monitor_carousel_frames", "frames in the carousel", registry=r
        )
        self.spool_frames = Gauge(
            "monitor_spool_frames", "frames spooled, not yet archived",
            registry=r)  # fmt: skip
        self.lost = Counter(
            "monitor_frames_lost", "frames deleted before they could be "
            "archived", registry=r)  # fmt: skip
        self.archive_write = Histogram(
            "monitor_archive_write_seconds",
            "time to read and write one archive stretch",
            buckets=ARCHIVE_BUCKETS,
            registry=r,
        )
        self.archived = Counter(
            "monitor_archived_seconds", "seconds written to the archive",
            registry=r)  # fmt: skip
        self.archive_failures = Counter(
            "monitor_archive_failures", "failed archive writes", registry=r
        )
        self.promotions = Counter(
            "monitor_promotions", "promotion rounds by outcome",
            ["outcome"], registry=r)  # fmt: skip
        self.range = Gauge(
            "monitor_inspiral_range_mpc", "BNS inspiral range", ["series"],
            registry=r)  # fmt: skip
        self._server = MetricsServer(port, r)

    def close(self) -> None:
        """Stop the HTTP server (if any)."""
        self._server.close()
