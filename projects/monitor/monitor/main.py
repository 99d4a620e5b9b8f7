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
import os
import sys
import threading
from typing import List, Optional

from monitor.config import MonitorSettings
from monitor.monitor import Monitor
from utils.config import parse_settings
from utils.errors import ConfigError
from utils.logging import configure_logging
from utils.signals import stop_on_signals

logger = logging.getLogger("monitor")
TOKEN_VARIABLE = "DEEPCLEAN_API_TOKEN"


def main(argv: Optional[List[str]] = None) -> int:
    """Console script ``monitor``: run the service until SIGTERM/SIGINT.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status (see the module docstring).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        settings = parse_settings(MonitorSettings, "monitor", argv)
    except ConfigError as exc:  # before logging: nowhere else to say it
        sys.stderr.write(f"monitor: cannot start: {exc}\n")
        return 2
    configure_logging("monitor", settings.log_dir, settings.verbose)
    try:
        config = settings.monitor_config(os.environ.get(TOKEN_VARIABLE, ""))
    except ConfigError:
        logger.exception("bad configuration")
        return 2
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
