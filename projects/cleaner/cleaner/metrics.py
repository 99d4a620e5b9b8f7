"""The cleaner's Prometheus metrics and its latency log.

Latency of a frame = wall time it is in the carousel (after the rename)
minus the wall time the raw strain frame of the same GPS second was seen
(docs/architecture.md, "Latency and compute"). :class:`LatencyLog` logs
it at DEBUG per frame and an INFO summary (count, median, 99th
percentile, max) every ``summary_length`` seconds, and feeds the
histogram ``deepclean_cleaner_latency_seconds``.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Callable

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram

from utils.metrics import EventCounter

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (
    1,
    1.5,
    2,
    2.25,
    2.5,
    3,
    3.5,
    4,
    4.25,
    4.5,
    5,
    6,
    8,
    10,
    20,
)  # s: around the default 4 s and low-latency 2 s


class CleanerMetrics:
    """The cleaner's metrics, in their own registry (tests make several).

    Args:
        input_events: counts of refused input files by reason (the
            follower's :attr:`~utils.follower.FrameFollower.events`).
        registry: where to register; a new one when None.
    """

    def __init__(
        self,
        input_events: collections.Counter[str] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.latency = Histogram(
            "deepclean_cleaner_latency_seconds",
            "Carousel time of a frame minus arrival time of its raw frame",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # outcomes: written, dropped_input, not_written (existed, failed)
        self.frames = Counter(
            "deepclean_cleaner_frames",
            "Output frames by outcome",
            ["outcome"],
            registry=r,
        )
        self.triton_up = Gauge(
            "deepclean_cleaner_triton_up",
            "1 while the Triton pipeline answers",
            registry=r,
        )
        self.gate_open = Gauge(
            "deepclean_cleaner_out_dq_open",
            "1 while the OUT_DQ gate is open",
            registry=r,
        )
        self.out_dq_closed = Counter(
            "deepclean_cleaner_out_dq_closed_seconds",
            "Written seconds whose OUT_DQ is not (fully) the production-"
            "cleaned strain, by the gate's reason (filling, no model, no "
            "input, opening, ratio <sub-band>)",
            ["reason"],
            registry=r,
        )
        self.version = Gauge(
            "deepclean_cleaner_model_version",
            "Model version in the newest frame (0: none)",
            ["model"],
            registry=r,
        )
        self.tracking_gain = Gauge(
            "deepclean_cleaner_tracking_gain",
            "Magnitude and phase (rad) of the gain the tracker gives "
            "PRODUCTION's prediction, by part (line, sidebands: 1 and 0 "
            "uncorrected; margins: 0, not subtracted)",
            ["part", "quantity"],
            registry=r,
        )
        self.last_gps = Gauge(
            "deepclean_cleaner_last_gps",
            "GPS second of the newest written frame",
            registry=r,
        )
        if input_events is not None:
            r.register(
                EventCounter(
                    "deepclean_cleaner_input_files_refused",
                    "Raw frame files not used for the second their name "
                    "claims "
                    "(future_file, mislabelled) and seconds that came after "
                    "they were dropped (late_after_drop)",
                    "reason",
                    input_events,
                )
            )


class LatencyLog:
    """Per-frame latency: DEBUG line, histogram, periodic INFO summary.

    Args:
        histogram: where each latency is observed.
        summary_length: seconds between INFO summaries.
        clock: monotonic clock; injectable for tests.
    """

    def __init__(
        self,
        histogram: Histogram,
        summary_length: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.histogram = histogram
        self.summary_length = summary_length
        self._clock = clock
        self._since = clock()
        self._values: list[float] = []

    def record(self, gps: int, latency: float) -> None:
        """Account one written frame of latency ``latency`` seconds."""
        self.histogram.observe(latency)
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
