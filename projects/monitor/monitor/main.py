"""Entry point of the monitor: ``monitor --typeo pyproject.toml:monitor``.

parse (:class:`~monitor.config.MonitorSettings`, ``monitor --help``) ->
logging -> wire (:class:`~monitor.monitor.Monitor`) -> run the loop until
SIGTERM/SIGINT. The monitor validates the canary on the cleaned frames and
asks the exporter to promote it, keeps the carousel bounded, archives longer
stretches and serves a status page and Prometheus metrics. The exporter's
API token comes from ``DEEPCLEAN_API_TOKEN``, read here once, never logged.

Exit status: 0 stopped by a signal; 1 cannot start (a port in use, an
unwritable project folder); 2 bad settings or no API token.
"""

import logging
import sys
import threading
from typing import List, Optional

from monitor.config import MonitorSettings
from monitor.monitor import Monitor
from utils.contracts import api_token
from utils.errors import ConfigError
from utils.signals import stop_on_signals
from utils.startup import CANNOT_START
from utils.startup import configure_service

logger = logging.getLogger("monitor")


def main(argv: Optional[List[str]] = None) -> int:
    """Console script ``monitor`` (``argv``: ``sys.argv[1:]`` if None):
    validate, promote, archive until SIGTERM/SIGINT; exit status as in
    the module docstring."""
    settings = configure_service(MonitorSettings, "monitor", argv)
    if settings is None:
        return CANNOT_START
    try:
        config = settings.monitor_config(api_token())
    except ConfigError:
        logger.exception("bad configuration")
        return CANNOT_START
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        monitor = Monitor(config)
    except OSError:  # a port in use, an unwritable project folder
        logger.exception("cannot start the monitor")
        return 1
    with monitor:
        monitor.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
