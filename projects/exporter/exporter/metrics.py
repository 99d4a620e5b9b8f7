"""Prometheus metrics of the exporter (served by ``main`` on port 9102)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EXPORT_SECONDS = Histogram(
    "deepclean_exporter_export_seconds",
    "Seconds from the start of an export to its version being loaded",
    buckets=(5, 10, 20, 30, 60, 120, 300, 600),
)
EXPORTS = Counter(
    "deepclean_exporter_exports_total", "Export jobs by outcome", ["result"]
)
PROMOTIONS = Counter(
    "deepclean_exporter_promotions_total", "Versions promoted to production"
)
VERSIONS = Gauge(
    "deepclean_exporter_versions", "Versions in the model repository"
)
PRODUCTION = Gauge(
    "deepclean_exporter_production_version", "Production version (0: none)"
)
CANARY = Gauge("deepclean_exporter_canary_version", "Canary version")


def observe_state(state: object, num_versions: int) -> None:
    """Set the gauges from a ``RepositoryState``."""
    VERSIONS.set(num_versions)
    PRODUCTION.set(state.production)
    CANARY.set(state.canary)
