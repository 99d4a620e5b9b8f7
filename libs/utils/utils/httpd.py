"""Threaded HTTP servers that silent or hostile clients cannot hold.

The standard library's ``http.server`` and ``wsgiref`` servers start one
thread per connection, which waits forever on a client that sends nothing,
and print requests and errors to stderr. Mixed in before them,
:class:`BoundedServerMixin` and :class:`BoundedHandlerMixin` bound what a
client can hold and send what those servers would print to the log
(requests at DEBUG), where :func:`utils.logging.configure_logging` escapes
the client's text:

- a silent client is dropped after ``request_timeout`` s (a socket
  timeout) and its thread ends;
- a client that sends a byte now and then, never finishing its request,
  is cut when its connection has lasted ``connection_length`` s;
- at most ``max_connections`` are served at once (one thread each): a
  connection beyond them is closed at once, so that a flood of clients
  cannot spend the threads or memory of the process serving them (a
  service's metrics endpoint runs inside the service)::

    class Server(BoundedServerMixin, ThreadingHTTPServer): ...
    class Handler(BoundedHandlerMixin, SimpleHTTPRequestHandler): ...

:class:`ServingThread` serves one in a daemon thread until it is closed
(the metrics endpoints and the monitor's status page).
"""

from __future__ import annotations

import logging
import math
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)
# s a client may stay silent (request line, headers, each read or write)
REQUEST_TIMEOUT = 10.0
# connections the kernel queues before accept (socketserver's default, 5,
# makes a burst of clients wait for SYN retransmits, 1 s and more)
LISTEN_BACKLOG = 128
POLL_INTERVAL = 0.5  # s between the serving thread's shutdown checks
# s a connection may last in all, however steadily its client drips bytes
CONNECTION_LENGTH = 30.0
MAX_CONNECTIONS = 64  # connections served at once (a thread each)


class BoundedServerMixin:
    """Daemon threads, a per-connection timeout, a bound on each
    connection's length and on the connections served at once, a listen
    backlog that a burst of clients fits in, errors logged; binds IPv6 for
    an address with a colon.

    Args:
        server_address: ``(address, port)``; port 0: an ephemeral one.
        handler: the request handler class (or a partial of one).
        request_timeout: s a connection may stay silent before it is
            dropped (its thread then ends).
        connection_length: s a connection may last in all; the serving
            thread cuts a longer one (checked every ``POLL_INTERVAL``).
        max_connections: connections served at once; one more is closed
            unanswered (WARNING once, until there is room again).
    """

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        server_address: tuple[str, int],
        handler: Callable[..., socketserver.BaseRequestHandler],
        request_timeout: float = REQUEST_TIMEOUT,
        connection_length: float = CONNECTION_LENGTH,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if ":" in server_address[0]:
            self.address_family = socket.AF_INET6
        self.request_timeout = request_timeout
        self.connection_length = connection_length
        self.max_connections = max_connections
        # connection -> monotonic time by which it must have ended
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._full = False
        super().__init__(server_address, handler)

    def process_request(
        self, request: socket.socket, client_address: tuple
    ) -> None:
        """Serve ``request`` in a thread of its own if there is room,
        else close it unanswered."""
        with self._lock:
            room = len(self._deadlines) < self.max_connections
            if room:
                deadline = time.monotonic() + self.connection_length
                self._deadlines[request] = deadline
            warn = not room and not self._full  # once a spell of full
            self._full = not room
        if not room:
            if warn:
                logger.warning(
                    "%d connections served at once: closing new ones "
                    "unanswered until one ends (from %s)",
                    self.max_connections,
                    client_address[0],
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(
        self, request: socket.socket, client_address: tuple
    ) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(request, None)

    def service_actions(self) -> None:
        """Cut the connections that outlived ``connection_length`` (their
        threads' reads and writes then fail, and the threads end)."""
        super().service_actions()
        now = time.monotonic()
        with self._lock:
            late = [r for r, end in self._deadlines.items() if end < now]
            for request in late:  # cut once
                self._deadlines[request] = math.inf
        for request in late:
            try:
                peer = request.getpeername()[0]
                request.shutdown(socket.SHUT_RDWR)
            except OSError:  # it ended meanwhile
                continue
            logger.info(
                "connection from %s cut after %.0f s",
                peer,
                self.connection_length,
            )

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
