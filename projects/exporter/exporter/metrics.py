"""Prometheus metrics of the exporter, on one registry per service
instance (``main`` serves it with :class:`utils.metrics.MetricsServer`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram


class ExporterMetrics:
    """The exporter's metrics, ``deepclean_exporter_*``, on
    :attr:`registry`."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.export_seconds = Histogram(
            "deepclean_exporter_export_seconds",
            "Seconds from the start of an export to its version being loaded",
            buckets=(5, 10, 20, 30, 60, 120, 300, 600),
            registry=registry,
        )
        self.exports = Counter(
            "deepclean_exporter_exports_total",
            "Export jobs by outcome",
            ["result"],
            registry=registry,
        )
        self.promotions = Counter(
            "deepclean_exporter_promotions_total",
            "Versions promoted to production",
            registry=registry,
        )
        self.versions = Gauge(
            "deepclean_exporter_versions",
            "Versions in the model repository",
            registry=registry,
        )
        self.production = Gauge(
            "deepclean_exporter_production_version",
            "Production version (0: none)",
            registry=registry,
        )
        self.canary = Gauge(
            "deepclean_exporter_canary_version",
            "Canary version",
            registry=registry,
        )

    def observe_state(self, state: object, num_versions: int) -> None:
        """Set the gauges from a ``RepositoryState``."""
        self.versions.set(num_versions)
        self.production.set(state.production)
        self.canary.set(state.canary)
