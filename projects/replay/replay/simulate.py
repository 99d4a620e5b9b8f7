"""The ``simulate`` mode: simulated frames at the pace of the GPS clock.

Start-up writes ``prefill_length`` seconds at once (the past), then one
second per ``1 / speed`` wall seconds, each possibly broken by a scheduled or
random fault, pruning frames older than ``keep_length`` after each. Files that
already exist (a restart) are left alone.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from replay.config import SimulateConfig
from replay.metrics import SourceMetrics
from replay.pacing import PacedSource
from replay.pacing import Pacer
from replay.pacing import current_gps
from utils.names import data_folder
from utils.simulation import Fault
from utils.simulation import Simulator
from utils.simwriter import writes_bound
from utils.worker import join_all

logger = logging.getLogger(__name__)

RANDOM_FAULT_STREAM = 4  # seed stream of the random fault draws


class SimulationSource(PacedSource):
    """Write simulated frames until stopped or ``duration`` is reached.

    Args:
        config: the mode's configuration.
        stop: set (e.g. by SIGTERM) to stop after the current second.
        metrics: where to count what is written.
    """

    def __init__(
        self,
        config: SimulateConfig,
        stop: threading.Event,
        metrics: SourceMetrics,
    ) -> None:
        ifo = config.simulation.ifo
        kinds = ("strain", "witness", "truth")
        folders = [data_folder(config.data_dir, k, ifo) for k in kinds]
        super().__init__(config, stop, metrics, folders)
        self.simulator = Simulator(config.simulation)
        self._pending: list[threading.Thread] = []
        self.start_gps = config.pace.start_gps or current_gps()

    def fault_of(self, gps: int) -> Fault | None:
        """Scheduled fault of ``gps``, else a random one at ``fault_rate``."""
        config = self.config
        scheduled = config.faults.get(gps - self.start_gps)
        if scheduled is not None or config.fault_rate == 0:
            return scheduled
        seed = config.simulation.seed
        rng = np.random.default_rng([seed, gps, RANDOM_FAULT_STREAM])
        if rng.random() < config.fault_rate:
            return config.fault_kinds[rng.integers(len(config.fault_kinds))]
        return None

    def run(self) -> int:
        """Prefill, then write live seconds. Returns seconds written.

        The schedule is fixed before the prefill: the live seconds due
        while it was written are written at once after it, so the frames
        keep to the GPS clock (fixing it after left every frame late by
        the prefill's duration, ~10 s)."""
        config = self.config
        pacer = Pacer(self.start_gps, config.pace.speed, self.stop)
        written = self._prefill()
        behind = pacer.lag(self.start_gps)
        if self.config.prefill_length and behind > 0:
            logger.info(
                "writing the %d seconds due during the prefill at once",
                int(behind * config.pace.speed),
            )
            pacer.tolerate(behind)
        logger.info(
            "simulating %s from GPS %d at speed %g into %s",
            config.simulation.ifo,
            self.start_gps,
            config.pace.speed,
            config.data_dir,
        )
        total = config.pace.duration or None
        live, gps = self._paced(pacer, self.start_gps, total, self._write)
        written += live
        self._finish()
        logger.info(
            "stopped after GPS %d (%d seconds written)", gps - 1, written
        )
        return written

    def _prefill(self) -> int:
        length = self.config.prefill_length
        if not length:
            return 0
        first = self.start_gps - length
        logger.info("prefilling GPS %d-%d", first, self.start_gps - 1)
        tic = time.monotonic()
        written = 0
        for gps in range(first, self.start_gps):
            if self.stop.is_set():
                break
            written += self._write(gps)
        self._prune(self.start_gps - 1)
        logger.info(
            "prefilled %d seconds in %.1f s", written, time.monotonic() - tic
        )
        return written

    def _write(self, gps: int) -> int:
        fault = self.fault_of(gps)
        tic = time.monotonic()
        try:
            thread = self.simulator.write(
                gps, self.config.data_dir, fault, self.config.late_delay
            )
        except FileExistsError as exc:
            logger.debug("GPS %d left alone: %s", gps, exc)
            return 0
        except (OSError, RuntimeError):  # frameCPP raises RuntimeError
            logger.exception("could not write GPS %d", gps)
            return 0
        if thread is not None:
            self._pending.append(thread)
        self._pending = [t for t in self._pending if t.is_alive()]
        self.metrics.write_time.observe(time.monotonic() - tic)
        self.metrics.last_gps.set(gps)
        if fault is not None:
            logger.info("GPS %d: fault %s", gps, fault.value)
            self.metrics.faults.labels(fault.value).inc()
        kinds = (
            ["truth"]
            if fault is Fault.DROP
            else ["truth", "witness", "strain"]
        )
        for kind in kinds:
            self.metrics.frames.labels(kind).inc()
        logger.debug("GPS %d written", gps)
        return 1

    def _finish(self) -> None:
        """Wait (boundedly) for delayed writes still in flight."""
        simulation = self.config.simulation
        bound = writes_bound(self.config.late_delay, simulation.partial_pause)
        for thread in join_all(self._pending, bound):
            logger.error("delayed write %s still running", thread.name)
        self._pending = []
