"""The monitor's loop: one :meth:`Monitor.tick` per ``poll_interval``.

A tick, top to bottom:

1. spool new carousel frames and prune the carousel to its bound
   (:mod:`monitor.carousel`; a keeper thread also does this between
   ticks, so a slow tick never lets the carousel overflow);
2. process the frames present in GPS order, declaring a gap for a second
   missing longer than ``missing_timeout`` (:mod:`monitor.sequencer`):
   each second feeds the canary validation and the history;
   and the production watch (:mod:`monitor.watch`: a stale production
   asks the trainer for a run now);
3. promote a validated canary, or retry a failed promotion when due;
4. archive complete stretches from the spool;
5. save the state; when due, judge the pipeline's health
   (:mod:`monitor.health`: ``nagios.json`` for LIGO's dashboard) and
   render the status page.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

from monitor.archive import Archiver
from monitor.archived import ArchivedIndex
from monitor.carousel import Carousel
from monitor.carousel import Listing
from monitor.config import MonitorConfig
from monitor.frames import SecondData
from monitor.frames import read_second
from monitor.health import FILE as HEALTH_FILE
from monitor.health import Status
from monitor.health import Watched
from monitor.health import judge
from monitor.history import History
from monitor.metrics import MonitorMetrics
from monitor.promotion import ExporterClient
from monitor.promotion import Promoter
from monitor.sequencer import Sequencer
from monitor.sequencer import Step
from monitor.server import StatusServer
from monitor.state import StateStore
from monitor.status import Snapshot
from monitor.status import StatusPage
from monitor.validation import COLLECTING
from monitor.validation import CanaryValidator
from monitor.watch import ProductionWatch
from utils.atomic import write_text
from utils.channels import OutputChannels
from utils.errors import FrameError
from utils.errors import ServiceError
from utils.gpstime import unix_to_gps
from utils.logging import Outage
from utils.names import cleaned_description
from utils.names import cleaned_name
from utils.train_request import write_request
from utils.worker import Worker

logger = logging.getLogger(__name__)
# how a change of the health verdict is logged
LOG_LEVELS = {
    Status.OK: logging.INFO,
    Status.WARNING: logging.WARNING,
    Status.CRITICAL: logging.ERROR,
}


T = TypeVar("T")


def resumed(part: str, saved: object, build: Callable[[object], T]) -> T:
    """``build(saved)``: a component resumed from state.json's ``part``.
    A part it cannot use (a value missing or of the wrong type: a file
    edited by hand) is logged and the component starts afresh
    (``build(None)``), rather than stopping the monitor at every start.
    """
    if saved is None:
        return build(None)
    try:
        return build(saved)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        logger.warning("saved %s unusable (%r): starts afresh", part, exc)
        return build(None)


class Monitor:
    """Validates canaries, keeps the carousel, archives, reports.

    Args:
        config: every component's sub-config.
        clock: monotonic clock (s) used for timeouts and intervals.
        wall_clock: Unix time now (the health verdict: frames' mtimes).
    """

    def __init__(
        self,
        config: MonitorConfig,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = c = config
        self.clock = clock
        self.wall_clock = wall_clock
        self.health: Status | None = None  # the last verdict's status
        self._started = clock()
        # the exporter's production and the cursor when it was first seen
        self._production: tuple[int, int | None] | None = None
        # failing writes of the verdict and of train-now requests: said once
        self._health_writes = Outage(logger)
        self._requests = Outage(logger)
        self.channels = OutputChannels(c.loop.ifo)
        self.store = StateStore(c.loop.state_path)
        state = self.store.load()
        archived = ArchivedIndex(cleaned_description(c.loop.ifo))
        archived.scan(c.archive.archive_dir)
        self.carousel = Carousel(c.carousel, archived)
        self.sequencer = resumed(
            "cursor",
            state.get("cursor"),
            lambda cursor: Sequencer(
                missing_timeout=c.loop.missing_timeout,
                max_steps=c.loop.max_frames_per_tick,
                # twice what the carousel holds: older is another stream
                rewind_length=2 * c.carousel.max_frames,
                cursor=cursor,
            ),
        )
        self.validator = resumed(
            "canary validation",
            state.get("validator"),
            lambda saved: CanaryValidator(
                c.validation, self.channels, saved, self._reread
            ),
        )
        self.watch = ProductionWatch(
            c.watch,
            c.validation,
            self.channels.production,
            self.channels.raw,
        )
        self.client = ExporterClient(c.promotion)
        self.promoter = resumed(
            "promotions",
            state.get("promoter"),
            lambda saved: Promoter(self.client, c.promotion, saved),
        )
        self.archiver = Archiver(c.archive, self.carousel, self.channels)
        self.history = History(c.status.history_length, c.status.psd_length)
        self.page = StatusPage(c.status, c.validation, self.channels)
        self.metrics = MonitorMetrics(c.loop.metrics_port)
        self.server = None
        if c.status.port:
            self.server = StatusServer(c.status.status_dir, c.status.port)
        self.last_gps: int | None = None
        self._next_status = clock() + c.status.interval
        self._warm_history()

    def tick(self) -> None:
        """One pass of the loop (see the module docstring); it never
        sleeps, and waits only on bounded exporter requests."""
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
        # saved before archiving: archived seconds leave the spool, and a
        # kill between the two must not resume from a cursor below them
        # (those seconds would be gone: a false gap)
        self._save()
        self._archive(now, listing.spooled)
        if now >= self._next_status:
            self.render_status()
            self._next_status = now + self.config.status.interval

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set.

        Raises:
            RuntimeError: the carousel keeper thread died.
        """
        interval = self.config.loop.poll_interval
        keeper = Worker(
            "carousel-keeper", self._keep, interval, wait_first=True
        )
        keeper.start()
        logger.info("monitor running (cursor %s)", self.sequencer.cursor)
        try:
            while not stop.is_set():
                if not keeper.alive:
                    raise RuntimeError(
                        "carousel keeper thread died"
                    ) from keeper.error
                self.tick()
                stop.wait(interval)
        finally:
            stop.set()
            keeper.stop(timeout=10 * interval)

    def _keep(self) -> None:
        """Keeper thread step: the carousel bound, whatever the loop does
        (any other error ends the thread, and then :meth:`run`)."""
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
        name = cleaned_name(self.config.loop.ifo, gps)
        spooled = self.config.carousel.spool_dir / name
        return (
            spooled
            if spooled.exists()
            else (self.config.carousel.carousel_dir / name)
        )

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
            self.promoter.request(verdict.version, verdict.describe())
        self._watch(second)
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

    def _watch(self, second: SecondData) -> None:
        """Production still matching? Ask for a run now if not."""
        verdict = self.validator.verdicts.get(second.production_version)
        self.watch.add(second, verdict["ratio"] if verdict else None)
        canary = self.validator.version or 0
        judged = self.validator.status != COLLECTING
        if self.watch.should_ask(canary, judged):
            try:
                write_request(
                    self.config.loop.project_dir,
                    second.gps,
                    self.watch.version,
                    self.watch.ratio,
                    self.watch.baseline,
                    self.watch.reason,
                )
            except OSError as exc:  # a full or read-only disk: next second
                self.watch.ask_again()
                self._requests.failed(
                    "GPS %d: cannot ask the trainer for a run now (%s): %s; "
                    "trying again each second",
                    second.gps,
                    self.watch.reason,
                    exc,
                )
            else:
                self._requests.ended()
                self.metrics.train_requests.inc()
                logger.warning(
                    "GPS %d: asked the trainer for a run now: %s",
                    second.gps,
                    self.watch.reason,
                )
        self.metrics.production_ratio.set(self.watch.ratio)
        self.metrics.production_stale.set(1 if self.watch.stale else 0)
        for region, added in self.watch.added.items():
            self.metrics.production_added_power.labels(region).set(added)

    def _gap(self, step: Step) -> None:
        self.validator.gap()
        self.history.add_gap(step.start, step.stop)
        self.metrics.missing.inc(step.stop - step.start)

    def _reread(self, seconds: list[int]) -> list[SecondData] | None:
        """The frames of ``seconds``, or ``None`` if one is unreadable."""
        try:
            return [
                read_second(self._path(g), g, self.channels) for g in seconds
            ]
        except FrameError:
            return None

    def _warm_history(self) -> None:
        """After a restart, fill the plots' history from the frames that
        are already processed (read only; the validation has its state).
        The sequencer is aligned first: after GPS went back, or on a first
        start, no frame present is done, and none is read twice."""
        if self.sequencer.cursor is None:
            return
        length = self.config.status.history_length
        available = self.carousel.maintain().listing.available()
        present = self.sequencer.align(available)
        done = [g for g in present if g < self.sequencer.cursor]
        for gps in done[-length:]:
            try:
                self.history.add(
                    read_second(self._path(gps), gps, self.channels)
                )
            except FrameError:
                continue

    def _maintain(self) -> Listing:
        report = self.carousel.maintain()
        self.metrics.carousel_frames.set(report.carousel_frames)
        self.metrics.spool_frames.set(report.spool_frames)
        if report.lost:
            self.metrics.lost.inc(report.lost)
        return report.listing

    def _archive(self, now: float, spooled: dict[int, str]) -> None:
        """Archive what is complete in ``spooled`` (the spool as this tick
        found it: frames spooled later wait for the next tick)."""
        failures = self.archiver.failures
        written = self.archiver.archive(self.sequencer.cursor, now, spooled)
        for stretch, seconds in written:
            self.metrics.archive_write.observe(seconds)
            self.metrics.archived.inc(stretch.duration)
        self.metrics.archive_failures.inc(self.archiver.failures - failures)
        dropped = self.carousel.bound_spool(self.sequencer.cursor, spooled)
        if dropped:
            self.metrics.lost.inc(dropped)

    def _save(self) -> None:
        self.store.save(
            {
                "cursor": self.sequencer.cursor,
                "validator": self.validator.to_state(),
                "promoter": self.promoter.to_state(),
            }
        )

    def _newest_written(self, listing: Listing) -> tuple[int, float] | None:
        """The newest carousel frame that still exists, and its mtime."""
        for gps in sorted(listing.frames, reverse=True):
            try:
                return gps, os.stat(listing.frames[gps]).st_mtime
            except OSError:  # pruned or replaced meanwhile
                continue
        return None

    def _watched(self, snap: Snapshot, listing: Listing) -> Watched:
        """What the health verdict needs besides the history."""
        newest = self._newest_written(listing)
        production = None
        if snap.exporter is not None:
            production = int(snap.exporter.get("production") or 0)
            if self._production is None or self._production[0] != production:
                self._production = (production, self.sequencer.cursor)
        return Watched(
            newest_frame=None if newest is None else newest[0],
            newest_written=None if newest is None else newest[1],
            cursor=self.sequencer.cursor,
            since=self.history.since,
            uptime=self.clock() - self._started,
            production=production,
            production_from=None
            if self._production is None
            else self._production[1],
            exporter_error=snap.exporter_error,
            stale=self.watch.stale,
            harmful=self.watch.harmful,
        )

    def _judge_health(self, snap: Snapshot, listing: Listing) -> str:
        """Judge the pipeline's health, set its metric, log when its
        status changes and write ``nagios.json`` (atomically) beside the
        page. Returns its text (errors are logged, never raised)."""
        config = self.config.health
        try:
            watched = self._watched(snap, listing)
            now = self.wall_clock()
            health = judge(config, now, self.history.records, watched)
            packet = json.dumps(health.packet(unix_to_gps(now), config))
        except Exception:  # the verdict must never stop the monitor
            logger.exception("health verdict failed")
            self.metrics.health.set(int(Status.UNKNOWN))
            self.health = None
            return "unknown (the verdict failed; see the log)"
        self.metrics.health.set(int(health.status))
        if health.status != self.health:
            logger.log(LOG_LEVELS[health.status], "health: %s", health.text)
            self.health = health.status
        path = self.config.status.status_dir / HEALTH_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, packet)
        except OSError as exc:
            self._health_writes.failed("cannot write %s: %s", path, exc)
        else:
            self._health_writes.ended()
        return health.text

    def render_status(self) -> None:
        """Render the status page now (errors are logged, never raised)."""
        snap = Snapshot(
            validation={
                **self.validator.to_state(),
                "ratio": self.validator.ratio,
                "vs_production": self.validator.vs_production()[0],
                "added_outside": self.validator.added_outside()[0],
                "watch": {
                    "version": self.watch.version,
                    "ratio": self.watch.ratio,
                    "baseline": self.watch.baseline,
                    "stale": self.watch.stale,
                    "full": self.watch.full,
                    "added": self.watch.added,
                    "harmful": self.watch.harmful,
                },
            },
            pending=self.promoter.pending,
            promotions=list(self.promoter.history),
        )
        try:
            snap.exporter = self.client.versions()
        except ServiceError as exc:
            snap.exporter_error = str(exc)
        listing = self.carousel.maintain().listing
        snap.facts = {
            "health (nagios.json)": self._judge_health(snap, listing),
            "carousel frames": len(listing.frames),
            "spooled frames": len(listing.spooled),
            "archived stretches (this run)": self.archiver.written_total,
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
