"""Entry point of the exporter: ``exporter --typeo pyproject.toml:exporter``.

parse (:class:`~exporter.config.ExporterSettings`, ``exporter --help``) ->
logging -> contract with the cleaner (its window fits the scheme; every
exported run must take its witnesses) -> wire (the API of
:func:`exporter.app.create_app`, its metrics, the waitress server) -> serve
until SIGTERM/SIGINT, which close the server and exit 0. The API token
comes from ``DEEPCLEAN_API_TOKEN``, read here once and never logged.

Exit status: 0 stopped by a signal; 1 the HTTP server failed; 2 cannot
start (bad settings, no token, a broken contract).
"""

import logging
import sys
import threading
from typing import List, Optional

from exporter.app import create_app
from exporter.app import service_of
from exporter.config import ExporterSettings
from exporter.config import cleaner_settings
from exporter.server import create_server
from exporter.server import serve_until
from utils.contracts import api_token
from utils.errors import ConfigError
from utils.metrics import MetricsServer
from utils.signals import stop_on_signals
from utils.startup import CANNOT_START
from utils.startup import configure_service

logger = logging.getLogger("exporter")
POLL_INTERVAL = 1.0  # s between checks that the HTTP server lives


def main(argv: Optional[List[str]] = None) -> int:
    """Console script ``exporter``: serve the API until SIGTERM/SIGINT
    (``argv``: the command line by default); the exit status is the
    module docstring's."""
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = configure_service(ExporterSettings, "exporter", argv)
    if settings is None:
        return CANNOT_START
    try:
        witnesses = check_contracts(settings, argv)
    except ConfigError:
        logger.exception("cannot start")
        return CANNOT_START
    try:
        config = settings.app_config(api_token(), witnesses)
    except ConfigError as exc:
        logger.error("cannot start: %s", exc)
        return CANNOT_START
    server_config = settings.server_config()
    logger.info("starting: %s %s", config, server_config)
    app = create_app(config)
    service = service_of(app)
    metrics = MetricsServer(settings.metrics_port, service.metrics.registry)
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        server = create_server(app, server_config)
        logger.info("serving on http://%s:%d", settings.address, settings.port)
        stopped = serve_until(server, stop, POLL_INTERVAL)
    finally:
        metrics.close()
        service.close()
        logger.info("stopped")
    return 0 if stopped else 1


def check_contracts(
    settings: ExporterSettings, argv: List[str]
) -> tuple[str, ...]:
    """The cleaner's window (same file, same profile) fits the scheme.

    Returns:
        The witnesses the cleaner sends, in order; empty without cleaner
        settings (exported runs' witnesses then not checked).

    Raises:
        ConfigError: it does not (:mod:`utils.contracts`).
    """
    found = cleaner_settings(argv)
    if found is None:
        logger.warning(
            "no cleaner settings next to the exporter's: window vs "
            "inference scheme and runs' witnesses not checked"
        )
        return ()
    section, values = found
    settings.check_window(values)
    logger.info(
        "the window of [%s] fits the %s scheme; exported runs must take "
        "its %d witnesses in its order",
        section,
        settings.scheme,
        len(values["witness_channels"]),
    )
    return tuple(values["witness_channels"])


if __name__ == "__main__":
    sys.exit(main())
