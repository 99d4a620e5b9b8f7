"""Entry point of the embedded frame source: ``replay --typeo
pyproject.toml:replay``.

parse (:class:`~replay.config.ReplaySettings`, ``replay --help``) ->
logging -> wire (metrics, the mode's source) -> run until SIGTERM/SIGINT
or ``duration``: ``simulate`` makes frames (:mod:`replay.simulate`),
``replay`` plays a recording (:mod:`replay.playback`). A profile section
the file lacks (run.sh asks for ``replay-production``) falls back to
``[replay]``.

Exit status: 0 done or stopped by a signal; 2 cannot start (bad settings,
an empty recording).
"""

import logging
import sys
import threading
from typing import List, Optional

from replay.config import ReplaySettings
from replay.config import SimulateConfig
from replay.metrics import SourceMetrics
from replay.playback import Playback
from replay.simulate import SimulationSource
from utils.errors import ConfigError
from utils.signals import stop_on_signals
from utils.startup import CANNOT_START
from utils.startup import configure_service

logger = logging.getLogger("replay")


def main(argv: Optional[List[str]] = None) -> int:
    """Console script ``replay``: write frames until stopped or done;
    ``argv`` replaces the command line. Exit status: module docstring."""
    settings = configure_service(ReplaySettings, "replay", argv)
    if settings is None:
        return CANNOT_START
    stop = threading.Event()
    stop_on_signals(stop)
    metrics = SourceMetrics(settings.metrics_port)
    try:
        config = settings.source_config()
        if isinstance(config, SimulateConfig):
            SimulationSource(config, stop, metrics).run()
        else:
            Playback(config, stop, metrics).run()
    except ConfigError:
        logger.exception("cannot start")
        return CANNOT_START
    finally:
        metrics.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
