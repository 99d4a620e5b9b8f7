"""The Prometheus endpoint every service exposes.

Each service defines its own metrics (in its ``metrics.py``) on a
``CollectorRegistry`` and serves them with :class:`MetricsServer`, bound to
127.0.0.1 unless configured otherwise; port 0 disables the endpoint. The
server is ``prometheus_client``'s WSGI app on a threaded ``wsgiref``
server bounded by :mod:`utils.httpd`: no silent, dripping or flooding
client can hold its threads for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from collections.abc import Mapping
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry
from prometheus_client import make_wsgi_app
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from utils.httpd import REQUEST_TIMEOUT
from utils.httpd import BoundedHandlerMixin
from utils.httpd import BoundedServerMixin
from utils.httpd import ServingThread

logger = logging.getLogger(__name__)


class _LogStream:
    """``wsgi.errors`` and wsgiref's traceback stream: the log, at DEBUG."""

    def write(self, text: str) -> None:
        if text.strip():
            logger.debug("%s", text.rstrip())

    def flush(self) -> None:
        pass


class _Handler(BoundedHandlerMixin, WSGIRequestHandler):
    def get_stderr(self) -> _LogStream:
        return _LogStream()


class _Server(BoundedServerMixin, ThreadingMixIn, WSGIServer):
    pass


class MetricsServer:
    """``/metrics`` of one registry on ``address:port`` (0: none).

    Any path answers the metrics (as ``prometheus_client`` does).

    Args:
        port: TCP port; 0 disables the endpoint.
        registry: the metrics to serve.
        address: interface to bind; loopback by default.
        request_timeout: see :class:`utils.httpd.BoundedServerMixin`.
    """

    def __init__(
        self,
        port: int,
        registry: CollectorRegistry,
        address: str = "127.0.0.1",
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._serving: ServingThread | None = None
        if port:
            server = _Server((address, port), _Handler, request_timeout)
            server.set_app(make_wsgi_app(registry))
            self._serving = ServingThread(server, f"metrics-{port}")
            logger.info("metrics on http://%s:%d/metrics", address, port)

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving (idempotent; waits at most ``timeout`` s)."""
        if self._serving is not None:
            self._serving.close(timeout)


class EventCounter(Collector):
    """A live count of events by kind, exposed as one Prometheus counter
    (``<name>_total{<label>="<kind>"}``) read at each scrape.

    Args:
        name: metric name without ``_total``.
        documentation: its help text.
        label: the label naming the kind of event.
        counts: kind -> count, kept up to date by its owner.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        label: str,
        counts: Mapping[str, int],
    ) -> None:
        self.name, self.documentation = name, documentation
        self.label, self.counts = label, counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            self.name, self.documentation, labels=[self.label]
        )
        for kind, count in sorted(dict(self.counts).items()):
            family.add_metric([kind], count)
        yield family
