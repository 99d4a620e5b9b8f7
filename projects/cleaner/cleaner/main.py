"""Entry point of the cleaner: ``cleaner --typeo pyproject.toml:cleaner``.

parse (:class:`~cleaner.config.CleanerSettings`, ``cleaner --help``) ->
logging -> contracts with the exporter -> wire (:func:`cleaner.service.build`)
-> run the per-second loop (:mod:`cleaner.stream`) until SIGTERM/SIGINT,
which finish the current second and exit 0.

Exit status: 0 stopped by a signal; 1 no raw frame within
``start_timeout``, or the raw frames stopped for longer than the follower
waits (an outage: the supervisor starts it again); 2 cannot start (bad
settings, a broken contract: final, not restarted).
"""

import logging
import sys
import threading
from typing import List, Optional

from cleaner.config import CleanerSettings
from cleaner.config import exporter_scheme
from cleaner.service import build
from utils.errors import ConfigError
from utils.metrics import MetricsServer
from utils.signals import stop_on_signals
from utils.startup import CANNOT_START
from utils.startup import configure_service

logger = logging.getLogger("cleaner")


def main(argv: Optional[List[str]] = None) -> int:
    """Console script ``cleaner``: clean every second of the raw frames
    until SIGTERM/SIGINT; ``argv`` defaults to ``sys.argv[1:]``. Returns
    the exit status (module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = configure_service(CleanerSettings, "cleaner", argv)
    if settings is None:
        return CANNOT_START
    try:
        scheme = exporter_scheme(argv)
        if scheme is None:
            logger.warning(
                "no exporter settings next to the cleaner's: "
                "window vs inference scheme not checked"
            )
        else:
            settings.check_scheme(scheme)
        stream, client = build(settings.cleaner_config())
    except ConfigError:
        logger.exception("cannot start")
        return CANNOT_START
    except TimeoutError:  # an outage of the input: to be tried again
        logger.exception("no raw frames to start on")
        return 1
    server = MetricsServer(settings.metrics_port, stream.metrics.registry)
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        stream.run(stop)
    except TimeoutError:
        logger.exception("no raw frames")
        return 1
    finally:
        client.close()
        server.close()
    return 0
