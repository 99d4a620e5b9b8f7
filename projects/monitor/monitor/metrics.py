"""Prometheus metrics of the monitor, served on 127.0.0.1:``metrics_port``.

Names are ``deepclean_monitor_...``; counters end in ``_total``. Each
:class:`MonitorMetrics` has its own registry, so several monitors can live
in one process (tests) without clashing.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram

from utils.metrics import MetricsServer

PREFIX = "deepclean_monitor_"
ARCHIVE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120)  # s


class MonitorMetrics:
    """Every metric the monitor exports.

    Args:
        port: HTTP port on 127.0.0.1; 0 serves nothing.
    """

    def __init__(self, port: int) -> None:
        self.registry = r = CollectorRegistry()

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(PREFIX + name, doc, labels, registry=r)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(PREFIX + name, doc, labels, registry=r)

        self.asd_ratio = gauge(
            "asd_ratio",
            "ASD ratio product/RAW over the band, newest contiguous data",
            "product",
        )
        self.validation_ratio = gauge(
            "canary_validation_ratio",
            "ASD ratio CANARY/RAW of the validation window so far",
        )
        self.validation_seconds = gauge(
            "canary_validation_seconds",
            "seconds in the current canary's validation window",
        )
        self.validation_version = gauge(
            "canary_validation_version",
            "canary version being validated (0: none)",
        )
        self.production_ratio = gauge(
            "production_ratio",
            "ASD ratio PRODUCTION/RAW (band mean) over the newest window "
            "of the live version (NaN until a segment)",
        )
        self.production_stale = gauge(
            "production_stale",
            "1 while production no longer matches the coupling (its ratio "
            "above stale_factor x its validated ratio)",
        )
        self.production_added_power = gauge(
            "production_added_power",
            "power PRODUCTION adds outside the band over the newest window, "
            "a fraction of RAW's (below 0: it removes), by region",
            "region",
        )
        self.health = gauge(
            "health",
            "the health verdict of nagios.json: 0 OK, 1 WARNING, "
            "2 CRITICAL, 3 UNKNOWN (none yet, or it failed)",
        )
        self.health.set(3)
        self.train_requests = counter(
            "train_requests_total",
            "train-now requests written for the trainer",
        )
        self.version = gauge(
            "version", "model version in the newest frame", "role"
        )
        self.gate = gauge(
            "out_dq_gate_open",
            "fraction of the newest second with the OUT_DQ gate open",
        )
        self.dropped = counter(
            "dropped_seconds_total",
            "processed seconds without INPUT_OK (dropped raw input)",
        )
        self.missing = counter(
            "missing_seconds_total",
            "seconds missing from the carousel (declared gaps)",
        )
        self.processed = counter(
            "frames_processed_total", "carousel frames processed"
        )
        self.last_gps = gauge(
            "last_processed_gps", "GPS of the newest processed second"
        )
        self.latency = gauge(
            "frame_latency_seconds",
            "carousel file mtime minus the end of "
            "its GPS second, newest frame",
        )
        self.carousel_frames = gauge(
            "carousel_frames", "frames in the carousel"
        )
        self.spool_frames = gauge(
            "spool_frames", "frames spooled, not yet archived"
        )
        self.lost = counter(
            "frames_lost_total", "frames deleted before they could be archived"
        )
        self.archive_write = Histogram(
            PREFIX + "archive_write_seconds",
            "time to read and write one archive stretch",
            buckets=ARCHIVE_BUCKETS,
            registry=r,
        )
        self.archived = counter(
            "archived_seconds_total", "seconds written to the archive"
        )
        self.archive_failures = counter(
            "archive_failures_total", "failed archive writes"
        )
        self.promotions = counter(
            "promotions_total", "promotion attempts by outcome", "outcome"
        )
        self.range = gauge(
            "inspiral_range_mpc", "BNS inspiral range", "series"
        )
        self._server = MetricsServer(port, r)

    def close(self) -> None:
        """Stop the HTTP server (if any)."""
        self._server.close()
