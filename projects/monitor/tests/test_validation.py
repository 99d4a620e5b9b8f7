"""Canary validation and promotion on real frames in a real carousel,
with the exporter's API served for real by a stand-in (FakeExporter)."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import replace

import numpy as np
import pytest
from monitor_helpers import GOOD_STATE
from monitor_helpers import GPS0
from monitor_helpers import FrameSource
from monitor_helpers import load_settings
from monitor_helpers import make_config
from monitor_helpers import released
from monitor_helpers import tick_until
from scipy.signal import hilbert
from scipy.signal import welch

from monitor.frames import SecondData
from monitor.monitor import Monitor
from monitor.validation import KEPT_VERDICTS
from monitor.validation import CanaryValidator
from utils.channels import OutputChannels
from utils.channels import State
from utils.signal import bandpass

WINDOW = 10  # s, the window of these tests (make_config)


def release(monitor: Monitor, staged: list, carousel) -> list[list]:
    """:func:`released` ``staged``; returns the promotions the exporter
    had seen after each tick."""
    history = monitor.promoter.history
    return [list(history) for _ in released(monitor, staged, carousel)]


def stopped_mid_window(tmp_path, frames, open_monitor) -> list:
    """Canary 2 validated for 6 s of a window, then the monitor closed;
    returns the staged frames (the first 6 in the carousel)."""
    staged = frames.write(
        GPS0, WINDOW + 2, canary_version=2, folder=tmp_path / "staging"
    )
    first = open_monitor()
    release(first, staged[:6], frames.carousel)
    first.close()
    return staged


def promoted_after(seen: list) -> list[int]:
    return [len(s) for s in seen]


def test_good_canary_promoted_after_one_full_window_not_before(
    tmp_path, frames, exporter, open_monitor
):
    staged = frames.write(
        GPS0,
        WINDOW + 4,
        canary="good",
        canary_version=2,
        folder=tmp_path / "staging",
    )
    monitor = open_monitor()
    counts = promoted_after(release(monitor, staged, frames.carousel))
    # nothing before the 10th qualifying second, exactly one promotion at it
    assert counts == [0] * (WINDOW - 1) + [1] * 5
    assert exporter.promotions == [2]
    verdict = monitor.validator.verdicts[2]
    assert verdict["status"] == "validated"
    assert verdict["seconds"] == WINDOW
    # the canary removes 90% of the coupled-noise amplitude in the band
    assert verdict["ratio"] < 0.5
    assert monitor.promoter.pending is None


@pytest.mark.parametrize("settle", [4, 0])
def test_a_new_canary_settles_before_its_window(
    tmp_path, frames, exporter, open_monitor, settle
):
    """The cleaner's gain tracker fits a new canary only after its first
    seconds: with ``settle_length`` those are skipped, not held against
    it (here: harmful for 4 s, then good); without, they count."""
    staging = tmp_path / "staging"
    staged = frames.write(
        GPS0, 4, canary="harmful", canary_version=2, folder=staging
    ) + frames.write(GPS0 + 4, WINDOW + 2, canary_version=2, folder=staging)
    monitor = open_monitor(validation={"settle_length": settle})
    counts = promoted_after(release(monitor, staged, frames.carousel))
    verdict = monitor.validator.verdicts[2]
    assert verdict["seconds"] == WINDOW
    if settle:
        assert counts.index(1) == settle + WINDOW - 1
        assert exporter.promotions == [2]
    else:
        assert verdict["status"] == "rejected"
        assert exporter.promotions == []


def test_harmful_canary_never_promoted(
    tmp_path, frames, exporter, open_monitor
):
    staged = frames.write(
        GPS0,
        2 * WINDOW + 5,
        canary="harmful",
        canary_version=3,
        folder=tmp_path / "staging",
    )
    monitor = open_monitor()
    release(monitor, staged, frames.carousel)
    assert exporter.promotions == []
    assert not [r for r in exporter.requests if r[0] == "POST"]
    verdict = monitor.validator.verdicts[3]
    assert verdict["status"] == "rejected"
    assert verdict["ratio"] > 1.0  # in-band noise was added
    assert monitor.promoter.pending is None


def test_only_seconds_cleaned_by_this_canary_count(
    tmp_path, frames, exporter, open_monitor
):
    staging = tmp_path / "staging"
    no_canary = int(State.INPUT_OK | State.ANALYSIS_READY)
    dropped = int(State.CANARY_OK)  # INPUT_OK off: a dropped input
    staged = (
        frames.write(GPS0, 3, canary_version=2, folder=staging)
        + frames.write(
            GPS0 + 3, 2, state=no_canary, canary_version=2, folder=staging
        )
        + frames.write(
            GPS0 + 5, 2, canary_version=2, production_version=2, folder=staging
        )
        + frames.write(
            GPS0 + 7, 1, state=dropped, canary_version=2, folder=staging
        )
        + frames.write(GPS0 + 8, 1, canary_version=0, folder=staging)
        + frames.write(GPS0 + 9, 9, canary_version=2, folder=staging)
    )
    monitor = open_monitor()
    counts = promoted_after(release(monitor, staged, frames.carousel))
    # qualifying: GPS0..+2, then +9..+15: promoted at the 16th frame
    assert counts.index(1) == 15
    assert exporter.promotions == [2]
    assert monitor.validator.verdicts[2]["seconds"] == WINDOW


def test_new_canary_restarts_validation(
    tmp_path, frames, exporter, open_monitor
):
    staging = tmp_path / "staging"
    staged = frames.write(GPS0, 6, canary_version=2, folder=staging)
    staged += frames.write(
        GPS0 + 6, WINDOW + 2, canary_version=3, folder=staging
    )
    monitor = open_monitor()
    counts = promoted_after(release(monitor, staged, frames.carousel))
    assert counts.index(1) == 6 + WINDOW - 1
    assert exporter.promotions == [3]  # never the abandoned version 2
    assert 2 not in monitor.validator.verdicts


def test_validation_resumes_after_restart(
    tmp_path, frames, exporter, open_monitor
):
    staged = stopped_mid_window(tmp_path, frames, open_monitor)
    second = open_monitor()  # a new process would see the same disk
    assert second.validator.version == 2
    assert second.validator.seconds == 6
    counts = promoted_after(release(second, staged[6:], frames.carousel))
    assert counts.index(1) == WINDOW - 6 - 1
    assert exporter.promotions == [2]
    # the resumed window equals an uninterrupted one, segment for segment
    ref_frames = FrameSource(tmp_path / "ref" / "carousel")
    ref_staged = ref_frames.write(
        GPS0, WINDOW + 2, canary_version=2, folder=tmp_path / "ref" / "staging"
    )
    with Monitor(make_config(tmp_path / "ref", exporter.url)) as ref:
        release(ref, ref_staged, ref_frames.carousel)
        want = ref.validator.verdicts[2]
    got = second.validator.verdicts[2]
    assert got["seconds"] == want["seconds"]
    np.testing.assert_allclose(got["ratio"], want["ratio"], rtol=1e-12)
    np.testing.assert_allclose(
        got["added_outside"], want["added_outside"], rtol=1e-9
    )


def test_failed_promotion_is_retried_across_a_restart(
    tmp_path, frames, exporter, open_monitor
):
    exporter.stop()  # exporter down
    staged = frames.write(
        GPS0, WINDOW, canary_version=2, folder=tmp_path / "staging"
    )
    monitor = open_monitor()
    release(monitor, staged, frames.carousel)
    assert monitor.validator.verdicts[2]["status"] == "validated"
    assert monitor.promoter.pending == 2
    monitor.close()
    restarted = open_monitor()
    assert restarted.promoter.pending == 2  # not lost
    exporter.start()
    tick_until(
        restarted, lambda: restarted.promoter.pending is None, "the retry"
    )
    assert exporter.promotions == [2]


def test_unknown_version_is_refused_not_retried(
    tmp_path, frames, exporter, open_monitor
):
    staged = frames.write(
        GPS0, WINDOW, canary_version=9, folder=tmp_path / "staging"
    )
    monitor = open_monitor()
    release(monitor, staged, frames.carousel)
    posts = [r for r in exporter.requests if r[0] == "POST"]
    assert len(posts) == 1  # 404: given up, not hammered
    assert monitor.promoter.pending is None
    assert exporter.promotions == []


def _second(gps: int, canary: np.ndarray, raw: np.ndarray) -> SecondData:
    """Production version 0: PRODUCTION is the raw strain."""
    c = OutputChannels("L1")
    return SecondData(
        gps,
        {c.canary: canary, c.raw: raw, c.production: raw},
        np.full(16, int(GOOD_STATE), np.int32),
        0,
        2,
        0.0,
    )


def test_incremental_welch_matches_batch_welch(frames):
    """The window's ratio is the mean-Welch ASD ratio over the segments of
    each contiguous run (none spans the gap)."""
    config = load_settings(
        window_length=12, settle_length=0
    ).validation_config()
    validator = CanaryValidator(config, OutputChannels("L1"))
    raw, truth = frames.stretch(GPS0, 13)
    canary = raw - 0.9 * truth
    runs = [range(0, 5), range(6, 13)]  # second 5 is missing
    for run in runs:
        for i in run:
            part = slice(i * 4096, (i + 1) * 4096)
            validator.add(_second(GPS0 + i, canary[part], raw[part]))
        validator.gap()
    sums = []
    for x in (canary, raw):
        total = 0
        for run in runs:
            seg = x[run.start * 4096 : run.stop * 4096]
            f, p = welch(seg, 4096, nperseg=8192, noverlap=4096)
            total = total + p * (len(run) - 1)  # segments per run
        sums.append(total)
    band = (f >= 58) & (f <= 62)
    want = np.mean(np.sqrt(sums[0][band] / sums[1][band]))
    assert validator.segments == 4 + 6
    assert validator.verdicts[2]["seconds"] == 12
    np.testing.assert_allclose(
        validator.verdicts[2]["ratio"], want, rtol=1e-10
    )


def test_lost_state_is_rebuilt_from_the_carousel(
    tmp_path, frames, exporter, open_monitor
):
    staged = stopped_mid_window(tmp_path, frames, open_monitor)
    state = tmp_path / "monitor" / "state.json"
    state.write_text("{ truncated by a crash")
    second = open_monitor()
    assert list(state.parent.glob("state.json.bad-*"))  # kept aside
    counts = promoted_after(release(second, staged[6:], frames.carousel))
    # the first tick re-read the 6 s still in the carousel
    assert counts.index(1) == WINDOW - 6 - 1
    assert second.validator.verdicts[2]["first_gps"] == GPS0
    assert exporter.promotions == [2]


def test_a_state_that_cannot_be_saved_does_not_stop_the_monitor(
    tmp_path, frames, open_monitor, caplog
):
    """state.json can be neither read nor written (here a folder stands
    in its place, as a failing or full disk would refuse it): the monitor
    starts from the carousel, goes on processing, says so once, and saves
    again once it can."""
    state = tmp_path / "monitor" / "state.json"
    (state / "in-the-way").mkdir(parents=True)
    with caplog.at_level(logging.INFO, logger="monitor.state"):
        monitor = open_monitor()
        frames.write(GPS0, 4)
        tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 4)
        frames.write(GPS0 + 4, 2)
        tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 6)
        errors = [
            r.getMessage() for r in caplog.records if r.name == "monitor.state"
        ]
        assert len(errors) == 2, errors
        assert errors[0].startswith("cannot read the state")
        assert errors[1].startswith("cannot save the state")
        assert not list(state.parent.glob(".state.json.*"))  # no leftovers
        (state / "in-the-way").rmdir()
        state.rmdir()
        frames.write(GPS0 + 6, 1)
        tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 7)
    assert "saved again" in caplog.records[-1].getMessage()
    assert json.loads(state.read_text())["cursor"] == GPS0 + 7


def test_a_bad_state_on_a_read_only_disk_does_not_stop_the_monitor(
    tmp_path, frames, open_monitor, monkeypatch, caplog
):
    """A state.json that does not parse, on a disk remounted read-only
    (simulated: moving it aside fails; a remount needs root): the
    monitor starts from the carousel, saying why."""
    state = tmp_path / "monitor" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_bytes(b"\0" * 64)  # what a failing disk leaves

    def read_only(*args):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    with caplog.at_level(logging.ERROR, logger="monitor.state"):
        started = open_monitor()
    assert "cannot be moved aside" in caplog.text
    monkeypatch.undo()
    frames.write(GPS0, 3)
    tick_until(started, lambda: started.sequencer.cursor == GPS0 + 3)


def test_verdicts_are_bounded_after_many_windows(frames):
    """state.json is written every tick: it must not grow with every
    canary version ever judged (only the newest KEPT_VERDICTS stay)."""
    config = load_settings(
        window_length=2, fftlength=1.0, overlap=0.5, settle_length=0
    ).validation_config()
    validator = CanaryValidator(config, OutputChannels("L1"))
    raw, truth = frames.stretch(GPS0, 2)
    canary = raw - 0.9 * truth
    sizes = {}
    versions = range(1, 3 * KEPT_VERDICTS + 1)
    for version in versions:
        for i in range(2):
            gps = GPS0 + 2 * version + i
            part = slice(i * 4096, (i + 1) * 4096)
            second = _second(gps, canary[part], raw[part])
            verdict = validator.add(replace(second, canary_version=version))
        assert verdict is not None and verdict.validated
        sizes[version] = len(json.dumps(validator.to_state()))
    newest = list(versions)[-KEPT_VERDICTS:]
    assert sorted(validator.verdicts) == newest
    assert sizes[versions[-1]] <= sizes[2 * KEPT_VERDICTS] + 100  # flat
    # a state saved before the bound is bounded when loaded
    state = validator.to_state()
    state["verdicts"].update(
        {str(v): state["verdicts"][str(newest[0])] for v in range(-50, 0)}
    )
    loaded = CanaryValidator(config, OutputChannels("L1"), state)
    assert sorted(loaded.verdicts) == newest


def test_canary_worse_than_production_is_refused_a_better_one_promoted(
    tmp_path, frames, exporter, open_monitor
):
    """Production (v2) removes 95 % of the coupled noise. Canary v3
    removes 60 %: far better than raw (the seed's rule would promote it),
    worse than production: refused, both figures in its verdict. Canary v4
    removes 99 %: promoted."""
    staging = tmp_path / "staging"
    staged = frames.write(
        GPS0,
        WINDOW + 2,
        canary=0.6,
        canary_version=3,
        production_version=2,
        folder=staging,
    ) + frames.write(
        GPS0 + WINDOW + 2,
        WINDOW + 2,
        canary=0.99,
        canary_version=4,
        production_version=2,
        folder=staging,
    )
    monitor = open_monitor()
    release(monitor, staged, frames.carousel)
    worse, better = (
        monitor.validator.verdicts[3],
        monitor.validator.verdicts[4],
    )
    assert worse["status"] == "rejected"
    assert worse["ratio"] < 0.6  # beats raw by far
    assert worse["vs_production"] > 1.5  # but not production
    assert worse["production_version"] == 2
    assert "worse than production" in worse["reason"]
    assert better["status"] == "validated"
    assert better["vs_production"] < 1.0
    assert exporter.promotions == [4]
    # the promotion carries the verdict, both figures, to the exporter
    assert re.match(
        r"canary v4 validated over 10 s to GPS \d+: ASD ratio 0\.\d+ vs "
        r"raw \(band mean\), 0\.\d+ vs production v2 \(worst sub-band",
        exporter.reasons[0],
    )


def edited_state(tmp_path, frames, open_monitor, keys, value):
    """A monitor started on the state.json a first one saved after 6
    seconds of canary v2 (of two windows' worth), the value at ``keys``
    replaced by ``value`` (a hand edit); returns it and the frames left."""
    staged = frames.write(
        GPS0, 2 * WINDOW + 2, canary_version=2, folder=tmp_path / "staging"
    )
    first = open_monitor()
    release(first, staged[:6], frames.carousel)
    first.close()
    path = tmp_path / "monitor" / "state.json"
    state = json.loads(path.read_text())
    *parents, last = keys
    part = state
    for key in parents:
        part = part[key]
    part[last] = value
    path.write_text(json.dumps(state))
    return open_monitor(), staged[6:]


@pytest.mark.parametrize(
    "field, value",
    [("sum_outside", [["a", "b"], ["c", "d"]]), ("seconds", None)],
)
def test_a_saved_validation_of_wrong_values_starts_afresh(
    tmp_path, frames, exporter, open_monitor, caplog, field, value
):
    """state.json parses, but its validation holds a value of the wrong
    type (edited by hand): the monitor starts, says so, and validates the
    canary afresh from the next frame, promoting it after a full window."""
    second, left = edited_state(
        tmp_path, frames, open_monitor, ("validator", field), value
    )
    assert "saved canary validation unusable" in caplog.text
    counts = promoted_after(release(second, left, frames.carousel))
    assert counts.index(1) == WINDOW - 1  # a whole window from afresh
    assert exporter.promotions == [2]


@pytest.mark.parametrize(
    "keys, value, name",
    [
        (("cursor",), "1400000000", "cursor"),
        (("promoter",), [2], "promotions"),
        (("promoter", "pending"), "2", "promotions"),
        (("promoter", "history"), 5, "promotions"),
    ],
)
def test_a_saved_cursor_or_promotion_of_wrong_values_starts_afresh(
    tmp_path, frames, exporter, open_monitor, caplog, keys, value, name
):
    """state.json parses, but its cursor or promotions hold a value of the
    wrong type (edited by hand): the monitor starts, names the part, and
    goes on, promoting the canary it validates (found by review: each
    stopped the monitor at every start, or at its first tick)."""
    second, left = edited_state(tmp_path, frames, open_monitor, keys, value)
    assert f"saved {name} unusable" in caplog.text
    release(second, left, frames.carousel)
    assert exporter.promotions == [2]


def test_canary_that_adds_power_beside_the_band_is_refused(
    tmp_path, frames, exporter, open_monitor
):
    """Canary v3 cleans the band as a good one does but adds noise at
    62.2-63.8 Hz, beside its edge, where neither the band's figures nor
    the OUT_DQ gate look: refused, the region and its figure in the
    reason. Canary v4, the same cleaning without it, is promoted: cleaning
    the band removes power beside it, adds none."""
    staging = tmp_path / "staging"
    n = WINDOW + 2
    raw, truth = frames.stretch(GPS0, n)
    rate = raw.size // n
    noise = bandpass(
        np.random.default_rng(5).standard_normal(raw.size), 62.2, 63.8, rate
    )
    noise *= 0.5 * np.std(bandpass(raw, 62.2, 63.8, rate)) / np.std(noise)
    canary = raw - 0.9 * truth + noise
    staged = []
    for i in range(n):
        part = slice(i * rate, (i + 1) * rate)
        staged.append(
            frames.write_one(
                GPS0 + i,
                raw[part],
                canary[part],
                raw[part],
                int(GOOD_STATE),
                0,
                3,
                staging,
            )
        )
    staged += frames.write(GPS0 + n, n, canary_version=4, folder=staging)
    monitor = open_monitor()
    release(monitor, staged, frames.carousel)
    refused, promoted = (monitor.validator.verdicts[v] for v in (3, 4))
    assert refused["status"] == "rejected"
    assert refused["ratio"] < 0.5  # in the band it cleans as v4 does
    assert refused["added_outside"] > 0.05  # canary_out_of_band_limit
    assert "within 2 Hz of the band" in refused["reason"]
    assert promoted["status"] == "validated"
    assert promoted["added_outside"] < 0.002
    assert exporter.promotions == [4]


def test_first_canary_is_compared_with_raw_in_every_subband(frames):
    """With no production model PRODUCTION is the raw strain, so the
    comparison with production is one with raw, sub-band by sub-band: a
    canary that removes the sidebands but rings the line at the wrong
    phase is refused although its band-mean ratio beats raw."""
    config = load_settings(
        window_length=12, settle_length=0
    ).validation_config()
    validator = CanaryValidator(config, OutputChannels("L1"))
    raw, truth = frames.stretch(GPS0, 13)
    line = bandpass(truth, 59.5, 60.5, 4096)
    canary = raw - (truth - line) - np.imag(hilbert(line))
    verdict = None
    for i in range(13):
        part = slice(i * 4096, (i + 1) * 4096)
        verdict = verdict or validator.add(
            _second(GPS0 + i, canary[part], raw[part])
        )
    assert verdict is not None and not verdict.validated
    assert verdict.ratio < 1.0
    assert verdict.vs_production > 1.2
    assert verdict.subband == "59.25-60.75 Hz"
    assert verdict.production_version == 0
    assert "production (none: raw)" in verdict.describe()
