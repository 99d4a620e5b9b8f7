"""Threaded HTTP servers that silent or hostile clients cannot hold.

The standard library's ``http.server`` and ``wsgiref`` servers start one
thread per connection, which waits forever on a client that sends nothing,
and print requests and errors to stderr. Mixed in before them,
:class:`BoundedServerMixin` and :class:`BoundedHandlerMixin` give every
connection a socket timeout (a silent client is dropped after
``request_timeout`` seconds and its thread ends) and send what those
servers would print to the log (requests at DEBUG), where
:func:`utils.logging.configure_logging` escapes the client's text::

    class Server(BoundedServerMixin, ThreadingHTTPServer): ...
    class Handler(BoundedHandlerMixin, SimpleHTTPRequestHandler): ...

:class:`ServingThread` serves one in a daemon thread until it is closed
(the metrics endpoints and the monitor's status page).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)
# s a client may stay silent (request line, headers, each read or write)
REQUEST_TIMEOUT = 10.0
# connections the kernel queues before accept (socketserver's default, 5,
# makes a burst of clients wait for SYN retransmits, 1 s and more)
LISTEN_BACKLOG = 128
POLL_INTERVAL = 0.5  # s between the serving thread's shutdown checks


class BoundedServerMixin:
    """Daemon threads, a per-connection timeout, a listen backlog that
    a burst of clients fits in, errors logged; binds IPv6 for an address
    with a colon.

    Args:
        server_address: ``(address, port)``; port 0: an ephemeral one.
        handler: the request handler class (or a partial of one).
        request_timeout: s a connection may stay silent before it is
            dropped (its thread then ends).
    """

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        server_address: tuple[str, int],
        handler: Callable[..., socketserver.BaseRequestHandler],
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        if ":" in server_address[0]:
            self.address_family = socket.AF_INET6
        self.request_timeout = request_timeout
        super().__init__(server_address, handler)

    def handle_error(self, request: object, client_address: tuple) -> None:
        """Log a failed connection instead of printing it: a timeout or
        reset in one line at DEBUG, anything else (a bug) as a WARNING
        with its traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            logger.debug(
                "connection from %s dropped: %r", client_address[0], exc
            )
        else:
            logger.warning(
                "request from %s failed", client_address[0], exc_info=True
            )


class BoundedHandlerMixin:
    """Takes its timeout from the server; logs through ``logging``."""

    def setup(self) -> None:
        self.timeout = self.server.request_timeout
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        """Every request and error message, at DEBUG (never stderr)."""
        logging.getLogger(type(self).__module__).debug(
            "%s %s", self.client_address[0], format % args
        )


class ServingThread:
    """``server`` serving in a daemon thread from construction until
    :meth:`close`.

    Args:
        server: a bound server (its socket is closed by :meth:`close`).
        name: the thread's name.
    """

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name=name,
            daemon=True,
        )
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket (idempotent; waits at most
        ``timeout`` s for the thread)."""
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout)
