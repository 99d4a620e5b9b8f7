"""Prometheus metrics of the trainer, served on ``metrics_port``.

Names follow ``deepclean_trainer_<what>``; counters end in ``_total``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge

from utils.metrics import MetricsServer


class TrainerMetrics:
    """The trainer's metrics, in their own registry (tests make several).

    Args:
        registry: where to register; a new one when None.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "deepclean_trainer_runs_total",
            "Training runs by outcome",
            ["outcome"],
            registry=r,
        )
        self.last_valid_loss = Gauge(
            "deepclean_trainer_last_valid_loss",
            "Best validation loss of the last finished run",
            registry=r,
        )
        self.seconds_collected = Gauge(
            "deepclean_trainer_seconds_collected",
            "Analysis-ready seconds in the current training set",
            registry=r,
        )
        self.drops = Counter(
            "deepclean_trainer_dropped_seconds_total",
            "Input seconds dropped (missing, late, corrupt)",
            registry=r,
        )
        self.sets_dropped = Counter(
            "deepclean_trainer_sets_dropped_total",
            "Training sets dropped (not ready, too many drops)",
            registry=r,
        )
        self.training = Gauge(
            "deepclean_trainer_training", "1 while a run trains", registry=r
        )
        self.requests = Counter(
            "deepclean_trainer_train_requests_total",
            "Train-now requests of the monitor taken",
            registry=r,
        )
        self.exports = Counter(
            "deepclean_trainer_export_requests_total",
            "Requests to the exporter by outcome",
            ["outcome"],
            registry=r,
        )

    def serve(self, port: int, addr: str = "127.0.0.1") -> MetricsServer:
        """Expose the metrics over HTTP on ``port`` (0: not at all)."""
        return MetricsServer(port, self.registry, addr)
