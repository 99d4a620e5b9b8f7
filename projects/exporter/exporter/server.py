"""The HTTP server in front of the API: waitress, bounded against idle
clients.

Waitress serves every connection from one ``poll()`` loop and gives a
worker thread only to a complete request, so idle connections cost a file
descriptor and a few kB each, not a thread. It holds at most
``connection_limit`` of them (beyond that, new ones wait in the listen
backlog) and closes one that stayed idle ``channel_timeout`` s. ``poll()``
rather than ``select()``, which fails on descriptors >= 1024; the process's
soft open-file limit is raised to fit the connections. A body declared
longer than ``max_content_length`` is refused (413) from its headers,
before it is read: waitress would otherwise buffer up to 1 GiB of it to
a file before the API's token and size checks run.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

import waitress
from flask import Flask
from waitress import wasyncore
from waitress.server import BaseWSGIServer

from utils.limits import raise_open_file_limit
from utils.settings import require
from utils.settings import require_counts

logger = logging.getLogger(__name__)
# descriptors besides the clients' connections: log files, the listening
# socket, Triton clients, repository files, export subprocess pipes
FD_RESERVE = 256
CLOSE_TIMEOUT = 5.0  # s for the serving thread to end after close()
LOOP_TIMEOUT = 1.0  # s for the serving loop to run a step pulled into it


@dataclass(frozen=True)
class ServerConfig:
    """The HTTP server of the API (waitress), bounded against idle clients.

    Attributes:
        address: interface to bind.
        port: TCP port (0: an ephemeral one).
        threads: worker threads (requests handled at once).
        connection_limit: connections held at most, idle ones included
            (one file descriptor each; an idle one costs no thread).
        channel_timeout: s a connection may stay idle before it is closed.
        cleanup_interval: s between checks for idle connections.
        max_content_length: largest request body, bytes (the API's
            limit, :class:`exporter.service.AppConfig`).
    """

    address: str
    port: int
    threads: int
    connection_limit: int
    channel_timeout: int
    cleanup_interval: int
    max_content_length: int

    def __post_init__(self) -> None:
        require(
            isinstance(self.port, int) and 0 <= self.port < 65536,
            "port",
            self.port,
            "an integer 0..65535",
        )
        require_counts(
            self,
            "threads",
            "connection_limit",
            "channel_timeout",
            "cleanup_interval",
            "max_content_length",
        )


def create_server(app: Flask, config: ServerConfig) -> BaseWSGIServer:
    """The waitress server of ``app``; call ``run()`` to serve.

    Raises the soft open-file limit to fit ``config.connection_limit``
    connections; if the hard limit does not allow it, holds fewer (a
    WARNING says how many).

    Args:
        app: the API (:func:`exporter.app.create_app`).
        config: address, threads and the connection bounds.

    Returns:
        The bound server (``effective_port`` is its port).
    """
    wanted = config.connection_limit + FD_RESERVE
    allowed = raise_open_file_limit(wanted)
    connection_limit = config.connection_limit
    if allowed < wanted:
        connection_limit = max(allowed - FD_RESERVE, allowed // 2)
        logger.warning(
            "holding %d connections at most, not %d: the "
            "open-file limit is %d",
            connection_limit,
            config.connection_limit,
            allowed,
        )
    return waitress.create_server(
        app,
        host=config.address,
        port=config.port,
        threads=config.threads,
        connection_limit=connection_limit,
        channel_timeout=config.channel_timeout,
        cleanup_interval=config.cleanup_interval,
        # waitress refuses a body of this size or more
        max_request_body_size=config.max_content_length + 1,
        asyncore_use_poll=True,
    )


def serve_until(
    server: BaseWSGIServer, stop: threading.Event, poll_interval: float
) -> bool:
    """Serve from a thread until ``stop`` is set, then close the server.

    Closing: no new connections, requests in progress finish (at most
    :data:`CLOSE_TIMEOUT` s), then every connection is closed, which ends
    the serving loop.

    Args:
        server: from :func:`create_server`.
        stop: set by SIGTERM/SIGINT (:func:`utils.signals.stop_on_signals`).
        poll_interval: s between checks that the serving thread lives.

    Returns:
        True when stopped by ``stop``; False when the server ended by
        itself (the error is logged).
    """
    thread = threading.Thread(
        target=_run, args=(server,), name="http", daemon=True
    )
    thread.start()
    while not stop.wait(poll_interval) and thread.is_alive():
        pass
    close_server(server)
    thread.join(CLOSE_TIMEOUT)
    if thread.is_alive():
        logger.warning(
            "the HTTP server did not stop within %.0f s", CLOSE_TIMEOUT
        )
    return stop.is_set()


def close_server(server: BaseWSGIServer) -> None:
    """No new connections, the requests in progress finish (at most
    :data:`CLOSE_TIMEOUT` s), then every connection is closed, which ends
    the serving loop. In that order: waitress's own ``close()`` shuts the
    loop's trigger first, and a request still answering then fails with
    EBADF, a traceback in the log (seen in a test). The sockets are
    closed in the serving loop's own thread (:func:`_in_loop`)."""
    # the listening socket only
    _in_loop(server, lambda: wasyncore.dispatcher.close(server))
    server.task_dispatcher.shutdown(timeout=CLOSE_TIMEOUT)
    # every connection and the trigger: the loop ends
    _in_loop(server, lambda: wasyncore.close_all(server._map, ignore_all=True))


def _in_loop(server: BaseWSGIServer, step: Callable[[], None]) -> None:
    """Run ``step`` in the serving loop's thread, pulled through its
    trigger: a socket closed from another thread while the loop is about
    to select() on it fails the select with EBADF, and the loop dies with
    a traceback (seen in CI). When the loop does not run it within
    :data:`LOOP_TIMEOUT` s (it has ended, or never started), it runs
    here (closing twice is harmless)."""
    done = threading.Event()

    def thunk() -> None:
        try:
            step()
        finally:
            done.set()

    try:
        server.trigger.pull_trigger(thunk)
    except OSError:  # the trigger is closed: no loop to run it
        step()
        return
    if not done.wait(LOOP_TIMEOUT):
        step()


def _run(server: BaseWSGIServer) -> None:
    try:
        server.run()
    except Exception:  # logged here; serve_until sees the thread end
        logger.exception("the HTTP server failed")
