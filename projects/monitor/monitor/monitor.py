"""The monitor's loop: one :meth:`Monitor.tick` per ``poll_interval``.

A tick, top to bottom:

1. spool new carousel frames and prune the carousel to its bound
   (:mod:`monitor.carousel`; a keeper thread also does this between
   ticks, so a slow tick never lets the carousel overflow);
2. process the frames present in GPS order, declaring a gap for a second
   missing longer than ``missing_timeout`` (:mod:`monitor.sequencer`):
   each second feeds the canary validation and the history;
3. promote a validated canary, or retry a failed promotion when due;
4. archive complete stretches from the spool;
5. save the state; render the status page when due.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from utils.channels import OutputChannels
from utils.errors import FrameError, ServiceError
from utils.names import cleaned_name

from monitor.archive import Archiver
from monitor.archived import ArchivedIndex
from monitor.carousel import Carousel, Listing
from monitor.config import Settings
from monitor.frames import SecondData, read_second
from monitor.history import History
from monitor.metrics import MonitorMetrics
from monitor.promotion import ExporterClient, Promoter
from monitor.sequencer import Sequencer, Step
from monitor.server import StatusServer
from monitor.state import StateStore
from monitor.status import Snapshot, StatusPage
from monitor.validation import CanaryValidator

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickReport:
    """What one tick did (for logs and tests)."""

    processed: int
    gaps: int
    promotion: str | None
    archived: int


class Monitor:
    """Validates canaries, keeps the carousel, archives, reports.

    Args:
        settings: every component's configuration.
        clock: monotonic clock (s) used for timeouts and intervals.
    """

    def __init__(
        self, settings: Settings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = s = settings
        self.clock = clock
        self.channels = OutputChannels(s.monitor.ifo)
        self.store = StateStore(s.monitor.state_path)
        state = self.store.load()
        archived = ArchivedIndex(f"{s.monitor.ifo}_DEEPCLEAN")
        archived.scan(s.archive.archive_dir)
        self.carousel = Carousel(s.carousel, archived)
        self.sequencer = Sequencer(
            s.monitor.missing_timeout, s.monitor.max_frames_per_tick,
            state.get("cursor"), rewind_length=2 * s.carousel.max_frames,
        )  # fmt: skip
        self.validator = CanaryValidator(
            s.validation, self.channels, state.get("validator"), self._reread
        )
        self.client = ExporterClient(s.promotion)
        promo = state.get("promoter", {})
        self.promoter = Promoter(self.client, s.promotion,
                                 promo.get("pending"),
                                 list(promo.get("history", [])))  # fmt: skip
        self.archiver = Archiver(s.archive, self.carousel, self.channels)
        self.history = History(s.status.history_length, s.status.psd_length)
        self.page = StatusPage(s.status, s.validation, self.channels)
        self.metrics = MonitorMetrics(s.monitor.metrics_port)
        self.server = None
        if s.status.port:
            self.server = StatusServer(s.status.status_dir, s.status.port)
        self.last_gps: int | None = None
        self._next_status = clock() + s.status.interval
        self._warm_history()

    def tick(self) -> TickReport:
        """One pass of the loop (see the module docstring)."""
        now = self.clock()
        listing = self._maintain()
        steps = self.sequencer.plan(listing.available(), now)
        for step in steps:
            if step.kind == "frame":
                self._process(step.start)
            else:
                self._gap(step)
        outcome = self.promoter.tick(now, self.last_gps)
        if outcome:
            self.metrics.promotions.labels(outcome).inc()
        archived = self._archive(now, listing.spooled)
        self._save()
        if now >= self._next_status:
            self.render_status()
            self._next_status = now + self.settings.status.interval
        return TickReport(
            sum(s.kind == "frame" for s in steps),
            sum(s.kind == "gap" for s in steps), outcome, archived,
        )  # fmt: skip

    def run(self, stop: threading.Event, run_length: float = 0.0) -> None:
        """Tick until ``stop`` is set (or ``run_length`` s, if > 0).

        Raises:
            RuntimeError: the carousel keeper thread died.
        """
        interval = self.settings.monitor.poll_interval
        keeper = threading.Thread(
            target=self._keep,
            args=(stop, interval),
            name="carousel-keeper",
            daemon=True,
        )
        keeper.start()
        deadline = self.clock() + run_length if run_length > 0 else None
        logger.info("monitor running (cursor %s)", self.sequencer.cursor)
        try:
            while not stop.is_set():
                if deadline is not None and self.clock() >= deadline:
                    logger.info("run_length %.0f s reached", run_length)
                    break
                if not keeper.is_alive():
                    raise RuntimeError("carousel keeper thread died")
                self.tick()
                stop.wait(interval)
        finally:
            stop.set()
            keeper.join(timeout=10 * interval)

    def _keep(self, stop: threading.Event, interval: float) -> None:
        """Keeper thread: the carousel bound, whatever the loop does."""
        while not stop.wait(interval):
            try:
                self._maintain()
            except OSError:
                logger.exception("carousel maintenance failed; retrying")

    def close(self) -> None:
        """Stop the servers and save the state."""
        self._save()
        if self.server is not None:
            self.server.close()
            self.server = None
        self.metrics.close()
        self.client.close()

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, gps: int) -> Path:
        name = cleaned_name(self.settings.monitor.ifo, gps)
        spooled = self.settings.carousel.spool_dir / name
        return spooled if spooled.exists() else (
            self.settings.carousel.carousel_dir / name)  # fmt: skip

    def _process(self, gps: int) -> None:
        try:
            second = read_second(self._path(gps), gps, self.channels)
        except FrameError as exc:
            logger.warning("GPS %d unusable, treated as a gap: %s", gps, exc)
            self.carousel.quarantine(gps, str(exc))
            self._gap(Step("gap", gps, gps + 1))
            return
        logger.debug(
            "GPS %d: production %d canary %d",
            gps,
            second.production_version,
            second.canary_version,
        )
        self.promoter.observe_production(second.production_version)
        verdict = self.validator.add(second)
        if verdict is not None and verdict.validated:
            self.promoter.request(verdict.version, verdict.gps)
        record = self.history.add(second)
        self.last_gps = gps
        m = self.metrics
        m.processed.inc()
        m.last_gps.set(gps)
        m.latency.set(second.latency)
        m.gate.set(record.out_dq_on)
        m.version.labels("production").set(second.production_version)
        m.version.labels("canary").set(second.canary_version)
        if not record.input_ok:
            m.dropped.inc()
        m.validation_version.set(self.validator.version or 0)
        m.validation_seconds.set(self.validator.seconds)
        m.validation_ratio.set(self.validator.ratio)

    def _gap(self, step: Step) -> None:
        self.validator.gap()
        self.history.add_gap(step.start, step.stop)
        self.metrics.missing.inc(step.stop - step.start)

    def _reread(self, seconds: list[int]) -> list[SecondData] | None:
        """The frames of ``seconds``, or ``None`` if one is unreadable."""
        try:
            return [read_second(self._path(g), g, self.channels)
                    for g in seconds]  # fmt: skip
        except FrameError:
            return None

    def _warm_history(self) -> None:
        """After a restart, fill the plots' history from the frames that
        are already processed (read only; the validation has its state)."""
        cursor = self.sequencer.cursor
        if cursor is None:
            return
        length = self.settings.status.history_length
        available = self.carousel.maintain().listing.available()
        done = [g for g in sorted(available) if g < cursor]
        for gps in done[-length:]:
            try:
                self.history.add(read_second(self._path(gps), gps,
                                             self.channels))  # fmt: skip
            except FrameError:
                continue

    def _maintain(self) -> Listing:
        report = self.carousel.maintain()
        self.metrics.carousel_frames.set(report.carousel_frames)
        self.metrics.spool_frames.set(report.spool_frames)
        if report.lost:
            self.metrics.lost.inc(report.lost)
        return report.listing

    def _archive(self, now: float, spooled: dict[int, str]) -> int:
        """Archive what is complete in ``spooled`` (the spool as this tick
        found it: frames spooled later wait for the next tick)."""
        failures = self.archiver.failures
        written = self.archiver.archive(self.sequencer.cursor, now, spooled)
        for stretch, seconds in written:
            self.metrics.archive_write.observe(seconds)
            self.metrics.archived.inc(stretch.duration)
        self.metrics.archive_failures.inc(self.archiver.failures - failures)
        dropped = self.archiver.bound_spool(self.sequencer.cursor, spooled)
        if dropped:
            self.metrics.lost.inc(dropped)
        return len(written)

    def _save(self) -> None:
        self.store.save({
            "cursor": self.sequencer.cursor,
            "validator": self.validator.to_state(),
            "promoter": self.promoter.to_state(),
        })  # fmt: skip

    def render_status(self) -> None:
        """Render the status page now (errors are logged, never raised)."""
        snap = Snapshot(validation={**self.validator.to_state(),
                                    "ratio": self.validator.ratio},
                        pending=self.promoter.pending,
                        promotions=self.promoter.history)  # fmt: skip
        try:
            snap.exporter = self.client.versions()
        except ServiceError as exc:
            snap.exporter_error = str(exc)
        listing = self.carousel.maintain().listing
        snap.facts = {
            "carousel frames": len(listing.frames),
            "spooled frames": len(listing.spooled),
            "archived stretches (this run)": len(self.archiver.written),
            "archive failures": self.archiver.failures,
            "frames lost to the archive": self.carousel.lost_total,
            "missing seconds": self.history.missing_total,
            "dropped inputs": self.history.dropped_total,
        }
        try:
            result = self.page.render(self.history, snap)
        except Exception:  # the page must never stop the monitor
            logger.exception("status page rendering failed")
            return
        for label, value in result["asd_ratio"].items():
            self.metrics.asd_ratio.labels(label).set(value)
        for label, value in result["range"].items():
            self.metrics.range.labels(label).set(value)
