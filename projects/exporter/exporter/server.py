"""The HTTP server in front of the API: waitress, bounded against idle
clients.

Waitress serves every connection from one ``poll()`` loop and gives a
worker thread only to a complete request, so idle connections cost a file
descriptor and a few kB each, not a thread. It holds at most
``connection_limit`` of them (beyond that, new ones wait in the listen
backlog) and closes one that stayed idle ``channel_timeout`` s. ``poll()``
rather than ``select()``, which fails on descriptors >= 1024; the process's
soft open-file limit is raised to fit the connections.
"""

from __future__ import annotations

import logging

import waitress
from flask import Flask
from utils.limits import raise_open_file_limit
from waitress.server import BaseWSGIServer

from exporter.config import ServerConfig

logger = logging.getLogger(__name__)
# descriptors besides the clients' connections: log files, the listening
# socket, Triton clients, repository files, export subprocess pipes
FD_RESERVE = 256


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
        logger.warning("holding %d connections at most, not %d: the "
                       "open-file limit is %d", connection_limit,
                       config.connection_limit, allowed)
    return waitress.create_server(
        app, host=config.address, port=config.port, threads=config.threads,
        connection_limit=connection_limit,
        channel_timeout=config.channel_timeout,
        cleanup_interval=config.cleanup_interval, asyncore_use_poll=True)
