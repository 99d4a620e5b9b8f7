"""A tiny read-only HTTP server for the status page (127.0.0.1:8010)."""

from __future__ import annotations

import functools
import logging
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

logger = logging.getLogger(__name__)


class _Handler(SimpleHTTPRequestHandler):
    """Serves the status folder; logs each request at DEBUG."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("%s %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class StatusServer:
    """Serves ``folder`` on ``host:port`` from a daemon thread.

    Args:
        folder: the status page folder.
        port: TCP port (0: an ephemeral one, see :attr:`port`).
        host: address to bind (127.0.0.1 by default).
    """

    def __init__(self, folder: Path, port: int, host: str = "127.0.0.1"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_Handler, directory=str(folder))
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.5},
            name="status-server", daemon=True,
        )  # fmt: skip
        self.thread.start()
        logger.info("status page on http://%s:%d/", host, self.port)

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving (bounded)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout)
