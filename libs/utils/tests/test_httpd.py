"""The bounds of :mod:`utils.httpd` against clients that would hold its
threads (real sockets on 127.0.0.1): one that drips a byte now and then,
never finishing its request, and a flood of connections."""

from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from utils.httpd import BoundedHandlerMixin
from utils.httpd import BoundedServerMixin
from utils.httpd import ServingThread
from utils.testing import LOCALHOST
from utils.testing import idle_connections
from utils.testing import raw_get
from utils.testing import still_open
from utils.waiting import wait_for

REQUEST_TIMEOUT = 2.0  # s: longer than a drip's pauses
CONNECTION_LENGTH = 1.5  # s a connection may last: short, for the test
DRIP_INTERVAL = 0.2  # s between the dripping client's bytes
MAX_CONNECTIONS = 3


class _Server(BoundedServerMixin, ThreadingHTTPServer):
    pass


class _Handler(BoundedHandlerMixin, BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    """A bounded server on an ephemeral port, serving until the end."""
    httpd = _Server(
        (LOCALHOST, 0),
        _Handler,
        REQUEST_TIMEOUT,
        connection_length=CONNECTION_LENGTH,
        max_connections=MAX_CONNECTIONS,
    )
    serving = ServingThread(httpd, "test-httpd")
    yield httpd
    serving.close()


def served(port: int) -> bool:
    return raw_get(port, b"/", timeout=2.0).startswith(b"HTTP/1.0 200 ")


def test_a_dripping_client_is_cut_when_its_connection_is_too_long(
    server, caplog
):
    caplog.set_level(logging.INFO, logger="utils.httpd")
    port = server.server_address[1]
    baseline = threading.active_count()
    bound = CONNECTION_LENGTH + 3.0  # s: the poll interval and margin
    with socket.create_connection((LOCALHOST, port), 2.0) as sock:
        start = time.monotonic()
        for byte in b"GET /" + b"a" * int(bound / DRIP_INTERVAL):
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # reset: cut
                break
            time.sleep(DRIP_INTERVAL)
            if not still_open(sock):
                break
            sock.setblocking(True)
        lasted = time.monotonic() - start
    # every pause is shorter than the socket timeout: only the
    # connection's length bound can have ended it
    assert CONNECTION_LENGTH <= lasted < bound
    assert "cut after" in caplog.text
    wait_for(
        lambda: threading.active_count() <= baseline,
        "the dripping connection's thread to end",
        5.0,
        interval=0.05,
    )
    assert served(port)


def test_connections_beyond_the_limit_are_closed_then_served_again(
    server, caplog
):
    port = server.server_address[1]
    with idle_connections(port, MAX_CONNECTIONS):
        wait_for(
            lambda: len(server._deadlines) == MAX_CONNECTIONS,
            "the idle connections to be accepted",
            5.0,
            interval=0.02,
        )
        start = time.monotonic()
        for _ in range(3):  # closed unanswered, at once, each time
            assert raw_get(port, b"/", timeout=2.0) == b""
        assert time.monotonic() - start < REQUEST_TIMEOUT
        full = [r for r in caplog.records if "served at once" in r.message]
        assert len(full) == 1 and full[0].levelno == logging.WARNING
    # the idle clients closed: their threads end, and there is room again
    wait_for(lambda: served(port), "a request to be served", 5.0, 0.05)
