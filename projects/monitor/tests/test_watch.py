"""The production watch: a production model that stops matching the
coupling is noticed (ratio over its newest window against its baseline),
shown in the metrics, and answered by one train-now request; a production
that adds power outside the band is noticed, logged and shown."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from monitor_helpers import GOOD_STATE
from monitor_helpers import GPS0
from monitor_helpers import make_config
from monitor_helpers import released

from monitor.frames import SecondData
from monitor.validation import COLLECTING
from monitor.watch import ProductionWatch
from utils.channels import State
from utils.signal import bandpass
from utils.testing import metric_value
from utils.train_request import request_path
from utils.train_request import take_request

WINDOW = 10  # s (monitor_helpers.SMALL)
LIVE = int(GOOD_STATE | State.PRODUCTION_OK)  # cleaned by production too


def drifting(tmp_path, frames) -> list:
    """Frames staged (not in the carousel yet) of production v2 removing
    95 % of the coupled noise for 12 s, then 20 % for two windows (the
    coupling moved); canary v1."""
    common = {
        "production_version": 2,
        "canary_version": 1,
        "state": LIVE,
        "folder": tmp_path / "staging",
    }
    staged = frames.write(GPS0, 12, production=0.95, **common)
    return staged + frames.write(
        GPS0 + 12, 2 * WINDOW, production=0.2, **common
    )


def test_stale_production_asks_for_a_run_once(tmp_path, frames, open_monitor):
    """Production v2 removes 95 % of the coupled noise for 12 s (its
    baseline: no verdict of v2 is known), then 20 % (the coupling moved):
    stale within one window; one request, carrying the ratios; none again
    for the same production and canary."""
    staged = drifting(tmp_path, frames)
    monitor = open_monitor()
    stale_at = None
    for i, _ in enumerate(released(monitor, staged, frames.carousel)):
        if stale_at is None and monitor.watch.stale:
            stale_at = GPS0 + i
            assert request_path(tmp_path).exists()
    assert stale_at is not None and GPS0 + 12 <= stale_at <= GPS0 + 12 + WINDOW
    assert monitor.watch.baseline < 0.5 < monitor.watch.ratio
    assert metric_value(monitor.metrics.production_stale) == 1
    assert metric_value(monitor.metrics.train_requests) == 1
    request = take_request(tmp_path)
    assert request["production_version"] == 2
    assert request["ratio"] > 1.5 * request["baseline"]
    assert "production v2" in request["reason"]


def test_a_request_that_cannot_be_written_is_made_once_it_can(
    tmp_path, frames, open_monitor, caplog
):
    """The same drift while the requests folder cannot be made (a file
    stands in its way, as a full disk would refuse it): one ERROR, and
    the request is made as soon as it can be (found by review: it was
    given up for that production and canary)."""
    staged = drifting(tmp_path, frames)
    blocker = request_path(tmp_path).parent
    blocker.write_text("in the way")
    monitor = open_monitor()
    stale = 0
    with caplog.at_level(logging.ERROR, logger="monitor.monitor"):
        for _ in released(monitor, staged, frames.carousel):
            stale += monitor.watch.stale
            if stale == 3:  # three seconds refused
                blocker.unlink()
    assert stale > 3
    errors = [r.getMessage() for r in caplog.records]
    assert len(errors) == 1 and "cannot ask the trainer" in errors[0]
    assert metric_value(monitor.metrics.train_requests) == 1
    assert take_request(tmp_path)["production_version"] == 2


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
    assert metric_value(monitor.metrics.train_requests) == 0


class ScriptedWatch(ProductionWatch):
    """The watch's decisions on a scripted window ratio (its Welch window
    is what the other tests exercise, on real frames)."""

    full = True
    ratio = 0.0

    def _append(self, second: SecondData) -> None:
        pass


def test_a_ratio_at_the_stale_limit_does_not_flip_the_watch():
    """Baseline 0.2, stale above 1.5 x 0.2 = 0.3: once stale, production
    matches again only below halfway back (0.25), so a ratio hovering at
    the limit keeps it stale instead of flipping every second."""
    config = make_config(Path("/nonexistent"), "http://127.0.0.1:1")
    watch = ScriptedWatch(config.watch, config.validation, "P", "R")
    live = SecondData(
        gps=GPS0,
        strains={},
        state=np.full(16, LIVE, dtype=np.int32),
        production_version=2,
        canary_version=0,
        latency=0.0,
    )
    states = []
    for ratio in (0.2, 0.29, 0.31, 0.29, 0.31, 0.28, 0.26, 0.24, 0.29):
        watch.ratio = ratio
        watch.add(live, baseline=0.2)
        states.append(watch.stale)
    assert watch.baseline == 0.2
    assert states == [False, False, True, True, True, True, True, False, False]


def test_power_added_outside_the_band_is_noticed(
    tmp_path, frames, open_monitor, caplog
):
    """Production removes 95 % in the band, then also adds a click each
    second (broadband) and then error near the band's edges: each is
    noticed within a window, logged once, in the metrics and on the
    status page; a production that only cleans the band adds nothing."""
    staging = tmp_path / "staging"
    frames.write(
        GPS0,
        3 * WINDOW,
        canary="none",
        folder=staging,
        production_version=2,
        production=0.95,
        state=LIVE,
    )
    staged = sorted(staging.iterdir())
    raw, truth = frames.stretch(GPS0, 3 * WINDOW)
    rate = raw.size // (3 * WINDOW)
    rng = np.random.default_rng(3)
    clicks = np.zeros(raw.size)
    clicks[::rate] = 4 * np.std(raw)  # a click at each second boundary
    edges = bandpass(rng.standard_normal(raw.size), 62.2, 63.8, rate)
    edges *= 0.5 * np.std(bandpass(raw, 62.2, 63.8, rate)) / np.std(edges)
    production = raw - 0.95 * truth
    production[WINDOW * rate : 2 * WINDOW * rate] += clicks[: WINDOW * rate]
    production[2 * WINDOW * rate :] += edges[2 * WINDOW * rate :]
    for i, path in enumerate(staged):
        part = slice(i * rate, (i + 1) * rate)
        path.unlink()
        frames.write_one(
            GPS0 + i,
            raw[part],
            raw[part],
            production[part],
            LIVE,
            2,
            1,
            staging,
        )
    monitor = open_monitor()
    seen = []
    for i, _ in enumerate(released(monitor, staged, frames.carousel)):
        if i + 1 in (WINDOW, 2 * WINDOW, 3 * WINDOW):
            seen.append((dict(monitor.watch.added), monitor.watch.harmful))
    near, broad = monitor.watch.outside
    clean, clicked, edged = seen
    # cleaning the band removes power beside it (the band-passed truth's
    # transition), adds none
    assert not clean[1] and max(clean[0].values()) < 0.002, clean
    assert clicked[1] and clicked[0][broad] > 0.02, clicked
    assert edged[1] and edged[0][near] > 0.02 > edged[0][broad], edged
    warnings = [
        r
        for r in caplog.records
        if r.name == "monitor.watch" and "outside the band" in r.message
    ]
    assert [r.levelname for r in warnings] == ["WARNING"]  # once, no flip
    gauge = monitor.metrics.production_added_power
    assert metric_value(gauge, near) == edged[0][near]
    monitor.render_status()
    page = (monitor.config.status.status_dir / "index.html").read_text()
    assert "ADDS POWER outside the band" in page
