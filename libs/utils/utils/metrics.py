"""The Prometheus endpoint every service exposes.

Each service defines its own metrics (in its ``metrics.py``) on a
``CollectorRegistry`` and serves them with :class:`MetricsServer`, bound to
127.0.0.1 unless configured otherwise; port 0 disables the endpoint.
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

logger = logging.getLogger(__name__)


class MetricsServer:
    """``/metrics`` of one registry on ``address:port`` (0: none).

    Args:
        port: TCP port; 0 disables the endpoint.
        registry: the metrics to serve.
        address: interface to bind; loopback by default.
    """

    def __init__(
        self,
        port: int,
        registry: CollectorRegistry = REGISTRY,
        address: str = "127.0.0.1",
    ) -> None:
        self._server = None
        if port:
            self._server, _ = start_http_server(
                port, addr=address, registry=registry
            )
            logger.info("metrics on http://%s:%d/metrics", address, port)

    def close(self) -> None:
        """Stop serving (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
