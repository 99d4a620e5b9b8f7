"""A tiny read-only HTTP server for the status page (127.0.0.1:8010).

Silent clients are dropped after :data:`utils.httpd.REQUEST_TIMEOUT` s; a
path that cannot name a file of the page (a control character such as
NUL, CR or LF, a ``..`` segment, text that is not UTF-8, or more than
:data:`MAX_PATH_LENGTH` characters) is answered 400 without touching the
file system.
"""

from __future__ import annotations

import functools
import logging
import urllib.parse
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

from utils.httpd import REQUEST_TIMEOUT
from utils.httpd import BoundedHandlerMixin
from utils.httpd import BoundedServerMixin
from utils.httpd import ServingThread

logger = logging.getLogger(__name__)
MAX_PATH_LENGTH = 1024  # characters of a request path (the page's: < 40)


def path_problem(path: str) -> str | None:
    """Why a request path names no file of the page, or ``None``.

    Args:
        path: the request target as sent (percent-encoded, maybe a query).

    Returns:
        A short reason (no client text in it), or ``None`` if it is fine.
    """
    if len(path) > MAX_PATH_LENGTH:
        return "path too long"
    target = path.split("#", 1)[0]
    try:
        decoded = urllib.parse.unquote(target, errors="strict")
    except UnicodeDecodeError:
        return "path not UTF-8"
    if not decoded.isprintable():  # NUL, CR, LF, other controls
        return "control character in path"
    file_path = urllib.parse.unquote(target.split("?", 1)[0])
    if ".." in file_path.split("/"):
        return "'..' in path"
    return None


class _Handler(BoundedHandlerMixin, SimpleHTTPRequestHandler):
    """Serves the status folder; logs each request at DEBUG."""

    def send_head(self) -> BinaryIO | None:
        problem = path_problem(self.path)
        if problem is None:
            try:
                return super().send_head()
            except ValueError:  # what open() refuses, e.g. surrogates
                problem = "path not a file name"
        self.send_error(HTTPStatus.BAD_REQUEST, problem)
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class _Server(BoundedServerMixin, ThreadingHTTPServer):
    pass


class StatusServer:
    """Serves ``folder`` on ``host:port`` from a daemon thread.

    Args:
        folder: the status page folder.
        port: TCP port (0: an ephemeral one, see :attr:`port`).
        host: address to bind (127.0.0.1 by default).
        request_timeout: see :class:`utils.httpd.BoundedServerMixin`.
    """

    def __init__(
        self,
        folder: Path,
        port: int,
        host: str = "127.0.0.1",
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_Handler, directory=str(folder))
        httpd = _Server((host, port), handler, request_timeout)
        self.port = httpd.server_address[1]
        self._serving = ServingThread(httpd, "status-server")
        logger.info("status page on http://%s:%d/", host, self.port)

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving (bounded)."""
        self._serving.close(timeout)
