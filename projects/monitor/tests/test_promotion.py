"""The promoter never sleeps in the loop: one request per due attempt, a
doubling back-off between failed ones, and a bounded history; against the
exporter's API served for real by a stand-in (FakeExporter)."""

from __future__ import annotations

import time

import pytest
from monitor_helpers import GPS0
from monitor_helpers import TOKEN
from monitor_helpers import FakeExporter
from monitor_helpers import load_settings

from monitor.promotion import KEPT_PROMOTIONS
from monitor.promotion import ExporterClient
from monitor.promotion import Promoter

# the root [monitor] values: 1 s before the first retry, at most 30 s
CONFIG = load_settings().promotion_config(TOKEN)


def promoter_for(exporter: FakeExporter) -> Promoter:
    config = load_settings(exporter_url=exporter.url).promotion_config(TOKEN)
    return Promoter(ExporterClient(config), config)


def test_tick_returns_at_once_while_the_exporter_is_down(exporter):
    exporter.stop()  # connections refused
    promoter = promoter_for(exporter)
    promoter.request(2)
    now = 1000.0
    waits = []
    for attempt in range(8):
        if attempt:  # not due yet: nothing is tried
            assert promoter.tick(now - 0.001, GPS0) is None
        start = time.monotonic()
        assert promoter.tick(now, GPS0) == "retry"
        # one refused connection, no sleep between attempts
        assert time.monotonic() - start < CONFIG.retry_min_interval / 2
        waits.append(promoter.schedule.next_time - now)
        now = promoter.schedule.next_time
    first, most = CONFIG.retry_min_interval, CONFIG.retry_max_interval
    assert waits == [min(first * 2**n, most) for n in range(8)]
    assert waits[-1] == most
    assert promoter.pending == 2
    # the exporter is back: the next due attempt promotes
    exporter.start()
    assert promoter.tick(now - 0.001, GPS0) is None
    assert promoter.tick(now, GPS0) == "promoted"
    assert exporter.promotions == [2]
    assert promoter.pending is None


def test_a_new_version_is_tried_at_once(exporter):
    exporter.stop()
    promoter = promoter_for(exporter)
    promoter.request(2)
    assert promoter.tick(0.0, GPS0) == "retry"
    exporter.start()
    promoter.request(3)  # supersedes 2: no back-off to wait
    assert promoter.tick(0.0, GPS0 + 100) == "promoted"
    assert exporter.promotions == [3]


@pytest.mark.parametrize("saved", [0, 3 * KEPT_PROMOTIONS])
def test_promotion_history_is_bounded(saved):
    versions = tuple(range(1, 2 * KEPT_PROMOTIONS + 1))
    exporter = FakeExporter(versions).start()
    try:
        config = load_settings(exporter_url=exporter.url).promotion_config(
            TOKEN
        )
        history = [{"version": 0, "gps": GPS0, "time": 0.0}] * saved
        promoter = Promoter(
            ExporterClient(config), config, {"history": history}
        )
        assert len(promoter.to_state()["history"]) <= KEPT_PROMOTIONS
        for version in versions:
            promoter.request(version)
            assert promoter.tick(0.0, GPS0 + version) == "promoted"
    finally:
        exporter.stop()
    kept = [p["version"] for p in promoter.to_state()["history"]]
    assert kept == list(versions[-KEPT_PROMOTIONS:])
