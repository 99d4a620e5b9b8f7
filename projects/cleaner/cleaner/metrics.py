"""The cleaner's Prometheus metrics and its latency log.

Latency of a frame = wall time it is in the carousel (after the rename)
minus the wall time the raw strain frame of the same GPS second was seen
(DESIGN.md §7). :class:`LatencyLog` logs it at DEBUG per frame and an INFO
summary (count, median, 99th percentile, max) every ``summary_length``
seconds, and feeds the histogram ``deepclean_cleaner_latency_seconds``.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
from prometheus_client import Counter, Gauge, Histogram
from utils.metrics import MetricsServer

logger = logging.getLogger(__name__)

LATENCY = Histogram(
    "deepclean_cleaner_latency_seconds",
    "Carousel time of a frame minus arrival time of its raw frame",
    buckets=(1, 1.5, 2, 2.25, 2.5, 3, 3.5, 4, 4.25, 4.5, 5, 6, 8, 10, 20),
)
FRAMES = Counter(
    "deepclean_cleaner_frames_total",
    "Output frames by outcome",
    ["outcome"],  # written, dropped_input, not_written (existed, failed)
)
TRITON_UP = Gauge(
    "deepclean_cleaner_triton_up", "1 while the Triton pipeline answers"
)
GATE_OPEN = Gauge(
    "deepclean_cleaner_out_dq_open", "1 while the OUT_DQ gate is open"
)
VERSION = Gauge(
    "deepclean_cleaner_model_version",
    "Model version in the newest frame (0: none)",
    ["model"],
)
LAST_GPS = Gauge(
    "deepclean_cleaner_last_gps", "GPS second of the newest written frame"
)


def serve_metrics(port: int) -> MetricsServer:
    """Expose the metrics on 127.0.0.1:``port`` (0: not at all)."""
    return MetricsServer(port)


class LatencyLog:
    """Per-frame latency: DEBUG line, histogram, periodic INFO summary.

    Args:
        summary_length: seconds between INFO summaries.
        clock: monotonic clock; injectable for tests.
    """

    def __init__(
        self,
        summary_length: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.summary_length = summary_length
        self._clock = clock
        self._since = clock()
        self._values: list[float] = []

    def record(self, gps: int, latency: float) -> None:
        """Account one written frame of latency ``latency`` seconds."""
        LATENCY.observe(latency)
        self._values.append(latency)
        logger.debug("GPS %d written, latency %.3f s", gps, latency)
        now = self._clock()
        if now - self._since >= self.summary_length:
            values = np.array(self._values)
            logger.info(
                "latency over the last %d frames (to GPS %d): median "
                "%.3f s, p99 %.3f s, max %.3f s",
                values.size,
                gps,
                np.median(values),
                np.percentile(values, 99),
                values.max(),
            )
            self._values = []
            self._since = now
