"""The production watch: a production model that stops matching the
coupling is noticed (ratio over its newest window against its baseline),
shown in the metrics, and answered by one train-now request."""

from __future__ import annotations

from monitor_helpers import GOOD_STATE, GPS0, released

from monitor.validation import COLLECTING
from utils.channels import State
from utils.train_request import request_path, take_request

WINDOW = 10  # s (monitor_helpers.SMALL)
LIVE = int(GOOD_STATE | State.PRODUCTION_OK)  # cleaned by production too


def test_stale_production_asks_for_a_run_once(tmp_path, frames, open_monitor):
    """Production v2 removes 95 % of the coupled noise for 12 s (its
    baseline: no verdict of v2 is known), then 20 % (the coupling moved):
    stale within one window; one request, carrying the ratios; none again
    for the same production and canary."""
    staging = tmp_path / "staging"
    common = {
        "production_version": 2,
        "canary_version": 1,
        "state": LIVE,
        "folder": staging,
    }
    staged = frames.write(GPS0, 12, production=0.95, **common)
    staged += frames.write(GPS0 + 12, 2 * WINDOW, production=0.2, **common)
    monitor = open_monitor()
    stale_at = None
    for i, _ in enumerate(released(monitor, staged, frames.carousel)):
        if stale_at is None and monitor.watch.stale:
            stale_at = GPS0 + i
            assert request_path(tmp_path).exists()
    assert stale_at is not None and GPS0 + 12 <= stale_at <= GPS0 + 12 + WINDOW
    assert monitor.watch.baseline < 0.5 < monitor.watch.ratio
    assert monitor.metrics.production_stale._value.get() == 1
    assert monitor.metrics.train_requests._value.get() == 1
    request = take_request(tmp_path)
    assert request["production_version"] == 2
    assert request["ratio"] > 1.5 * request["baseline"]
    assert "production v2" in request["reason"]


def test_no_request_while_a_newer_canary_is_validated(
    tmp_path, frames, open_monitor
):
    """The same drift while canary v3 (newer than production v2) is
    still collecting its window (its seconds do not qualify yet): the fix
    is on its way, nothing is asked."""
    staging = tmp_path / "staging"
    common = {
        "production_version": 2,
        "canary_version": 3,
        "state": int(State.INPUT_OK | State.PRODUCTION_OK),
        "folder": staging,
    }
    staged = frames.write(GPS0, 12, production=0.95, canary="none", **common)
    staged += frames.write(
        GPS0 + 12, WINDOW - 3, production=0.2, canary="none", **common
    )
    monitor = open_monitor()
    for _ in released(monitor, staged, frames.carousel):
        pass
    assert monitor.validator.status == COLLECTING
    assert monitor.watch.stale
    assert not request_path(tmp_path).exists()
    assert monitor.metrics.train_requests._value.get() == 0
