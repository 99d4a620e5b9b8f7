"""Preprocessor: streaming drop tapering and resampling; Resampler: the
same at the rates the input comes at.

The input seconds are the simulator's, wrapped as the follower would hand
them over (the follower itself is tested on files in test_follower.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import resample_poly

from conftest import FEW_WITNESSES
from conftest import GPS
from conftest import PREPROCESS
from conftest import STRAIN
from utils.follower import FrameSecond
from utils.gwf import Series
from utils.simulation import Fault
from utils.stream import RATE_CHANGE_LENGTH
from utils.stream import Preprocessor
from utils.stream import Resampler
from utils.taper import hann_edge

CHANNELS = [STRAIN, *FEW_WITNESSES]
RATE = 4096
CONFIG = PREPROCESS


def frame_second(sim, gps: int, fault: Fault | None = None) -> FrameSecond:
    if fault is Fault.DROP:
        return FrameSecond(gps, reason="dropped on purpose")
    s = sim.second(gps, fault)
    return FrameSecond(
        gps,
        strain=Series(s.strain, sim.config.strain_rate),
        state=Series(s.state, sim.config.state_rate),
        witnesses=s.witnesses,
        seen_at=1000.0 + gps - GPS,
    )


def native_rates(sim) -> dict[str, float]:
    rates = {STRAIN: sim.config.strain_rate}
    rates.update({c: sim.config.sample_rate(c) for c in FEW_WITNESSES})
    return rates


def run(pre: Preprocessor, sim, num: int, faults=None) -> list:
    faults = faults or {}
    out = []
    for gps in range(GPS, GPS + num):
        out.extend(pre.push(frame_second(sim, gps, faults.get(gps))))
    return out


def test_output_delay(small_sim) -> None:
    pre = Preprocessor(CHANNELS, native_rates(small_sim), CONFIG)
    assert pre.delay == 2  # 1 s look-ahead + 1 s resampling context
    # output second s comes out when raw second s + delay is pushed; the
    # first second only serves as past context
    for gps in range(GPS, GPS + 6):
        out = pre.push(frame_second(small_sim, gps))
        expected = [gps - 2] if gps - 2 > GPS else []
        assert [s.gps for s in out] == expected
    no_lookahead = Preprocessor(
        CHANNELS,
        native_rates(small_sim),
        replace(CONFIG, drop_lookahead_length=0),
    )
    assert no_lookahead.delay == 1
    assert [s.gps for s in run(no_lookahead, small_sim, 4)] == [
        GPS + 1,
        GPS + 2,
    ]


def test_streaming_equals_one_shot(small_sim) -> None:
    num = 8
    pre = Preprocessor(CHANNELS, native_rates(small_sim), CONFIG)
    out = run(pre, small_sim, num)
    assert [s.gps for s in out] == list(range(GPS + 1, GPS + num - 2))
    streamed = np.concatenate([s.data for s in out], axis=1)
    seconds = [small_sim.second(GPS + k) for k in range(num)]
    for index, channel in enumerate(CHANNELS):
        if channel == STRAIN:
            whole, rate = np.concatenate([s.strain for s in seconds]), 16384
        else:
            whole = np.concatenate(
                [s.witnesses[channel].data for s in seconds]
            )
            rate = small_sim.config.sample_rate(channel)
        up, down = (RATE // rate, 1) if rate < RATE else (1, rate // RATE)
        once = resample_poly(whole.astype(np.float64), up, down)
        # away from the ends: the seconds GPS+2 .. GPS+num-3 (inclusive)
        middle = once[2 * RATE : (num - 2) * RATE]
        mine = streamed[index, RATE : (num - 3) * RATE]
        scale = np.max(np.abs(middle))
        np.testing.assert_allclose(mine, middle, rtol=0, atol=1e-9 * scale)


def test_no_discontinuity_at_frame_edges(small_sim) -> None:
    out = run(
        Preprocessor(CHANNELS, native_rates(small_sim), CONFIG), small_sim, 7
    )
    for index in range(len(CHANNELS)):
        x = np.concatenate([s.data[index] for s in out])
        steps = np.abs(np.diff(x))
        edges = steps[np.arange(1, len(out)) * RATE - 1]
        inside = np.delete(steps, np.arange(1, len(out)) * RATE - 1)
        # a step across an edge is an ordinary step of the series
        assert np.max(edges) <= np.max(inside)


def test_drop_tapering_shape(small_sim) -> None:
    """At the native rate (no resampling) the taper is exact."""
    rates = {STRAIN: 16384}
    pre = Preprocessor([STRAIN], rates, replace(CONFIG, sample_rate=16384))
    dropped = GPS + 3
    out = run(pre, small_sim, 7, faults={dropped: Fault.DROP})
    by_gps = {s.gps: s for s in out}
    assert sorted(by_gps) == list(range(GPS + 1, GPS + 5))
    ramp = 8192  # 0.5 s at 16384 Hz
    before, gap, after = (by_gps[dropped + k] for k in (-1, 0, 1))
    np.testing.assert_array_equal(gap.data, 0)
    assert gap.dropped and gap.reason == "dropped on purpose"
    assert not gap.ready and gap.seen_at is None
    np.testing.assert_allclose(
        before.data[0],
        small_sim.second(dropped - 1).strain
        * hann_edge(16384, ramp, rising=False),
    )
    np.testing.assert_allclose(
        after.data[0],
        small_sim.second(dropped + 1).strain
        * hann_edge(16384, ramp, rising=True),
    )
    assert before.tapered and after.tapered and not gap.tapered
    untouched = by_gps[GPS + 1]
    assert not untouched.tapered and not untouched.dropped
    np.testing.assert_array_equal(
        untouched.data[0], small_sim.second(GPS + 1).strain
    )


def test_drop_when_resampling(small_sim) -> None:
    dropped = GPS + 3
    out = run(
        Preprocessor(CHANNELS, native_rates(small_sim), CONFIG),
        small_sim,
        7,
        faults={dropped: Fault.DROP},
    )
    by_gps = {s.gps: s for s in out}
    np.testing.assert_array_equal(by_gps[dropped].data, 0)
    assert by_gps[dropped].data.shape == (len(CHANNELS), RATE)
    # the ends next to the gap are ramped down to (nearly) zero
    for index in range(len(CHANNELS)):
        rms = np.std(by_gps[GPS + 1].data[index])
        assert np.max(np.abs(by_gps[dropped - 1].data[index, -8:])) < (
            0.01 * rms
        )
        assert np.max(np.abs(by_gps[dropped + 1].data[index, :8])) < (
            0.01 * rms
        )


def test_ready_flag_and_seen_at(small_sim) -> None:
    out = run(
        Preprocessor(CHANNELS, native_rates(small_sim), CONFIG),
        small_sim,
        6,
        faults={GPS + 2: Fault.NOT_READY},
    )
    assert [(s.gps, s.ready) for s in out] == [
        (GPS + 1, True),
        (GPS + 2, False),
        (GPS + 3, True),
    ]
    assert [s.seen_at for s in out] == [1001.0, 1002.0, 1003.0]


def test_out_of_order(small_sim) -> None:
    """A gap is never skipped: the follower yields every second."""
    pre = Preprocessor(CHANNELS, native_rates(small_sim), CONFIG)
    pre.push(frame_second(small_sim, GPS))
    with pytest.raises(ValueError, match="out of order"):
        pre.push(frame_second(small_sim, GPS + 2))


def test_wrong_rate_is_a_drop(small_sim) -> None:
    rates = native_rates(small_sim)
    rates[FEW_WITNESSES[1]] = 256  # the frames hold 512 Hz
    pre = Preprocessor(CHANNELS, rates, CONFIG)
    out = run(pre, small_sim, 4)
    assert all(s.dropped and "expected 256" in s.reason for s in out)


# -- the input's rates change --------------------------------------------
ASC = FEW_WITNESSES[1]  # 512 Hz in the simulator


def at_rate(second: FrameSecond, rate: int) -> FrameSecond:
    """``second`` with :data:`ASC` at ``rate`` Hz (its first samples)."""
    witnesses = dict(second.witnesses)
    witnesses[ASC] = Series(witnesses[ASC].data[:rate], float(rate))
    return replace(second, witnesses=witnesses)


def gps_of(seconds) -> list[int]:
    return [s.gps for s in seconds]


def test_a_rate_changed_for_good_costs_only_its_first_seconds(small_sim):
    """ASC goes from 512 to 256 Hz at GPS+10 for good: every GPS second
    still comes out once, in order (the cleaner writes one frame a
    second); the first RATE_CHANGE_LENGTH - 1 at the new rate are dropped,
    then the seconds are resampled at it as by a preprocessor made for it
    (found by review: the cleaner dropped every later second, and a
    restart at an unsupported rate exited for good)."""
    change, count = GPS + 10, 40
    frames = [frame_second(small_sim, g) for g in range(GPS, GPS + count)]
    frames = [f if f.gps < change else at_rate(f, 256) for f in frames]
    resampler = Resampler(CHANNELS, CONFIG, native_rates(small_sim))
    out = [s for f in frames for s in resampler.push(f)]
    plain = Preprocessor(CHANNELS, native_rates(small_sim), CONFIG)
    before = [s for f in frames for s in plain.push(f)]
    assert gps_of(out) == gps_of(before) == list(range(GPS + 1, GPS + 38))
    rebuilt = change + RATE_CHANGE_LENGTH - 1
    dropped = [s.gps for s in out if s.dropped]
    assert dropped == list(range(change, rebuilt))
    for ours, theirs in zip(out, before, strict=True):  # the old rates
        if ours.gps < rebuilt:
            np.testing.assert_array_equal(ours.data, theirs.data)
    new_rates = {**native_rates(small_sim), ASC: 256}
    fresh = Preprocessor(CHANNELS, new_rates, CONFIG)
    after = {s.gps: s for f in frames[10:] for s in fresh.push(f)}
    assert out[rebuilt - GPS - 1].tapered  # in, after the dropped ones
    for second in out[rebuilt - GPS + 1 :]:
        assert not second.dropped and not second.tapered
        np.testing.assert_array_equal(second.data, after[second.gps].data)


def test_rates_that_cannot_be_resampled_cost_their_seconds_only(
    small_sim, caplog
):
    """The newest raw frame at start holds ASC at 1000 Hz (not a ratio of
    4096 the resampler takes): nothing raises; those seconds come out
    dropped, said once at ERROR; when ASC comes back at 512 Hz for good,
    its seconds are cleaned again."""
    count, back = 30, GPS + 8
    frames = [frame_second(small_sim, g) for g in range(GPS, GPS + count)]
    frames = [at_rate(f, 1000) if f.gps < back else f for f in frames]
    odd = {**native_rates(small_sim), ASC: 1000}
    with caplog.at_level(logging.WARNING, logger="utils.stream"):
        resampler = Resampler(CHANNELS, CONFIG, odd)
        out = [s for f in frames for s in resampler.push(f)]
    assert gps_of(out) == list(range(GPS + 1, GPS + count - 2))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "cannot resample 1000" in errors[0].message
    rebuilt = back + RATE_CHANGE_LENGTH - 1
    assert [s.gps for s in out if s.dropped] == list(range(GPS + 1, rebuilt))
    assert all(np.any(s.data[1:] != 0) for s in out if s.gps > rebuilt)


@pytest.mark.parametrize(
    "context, lookahead", [(0, 0), (0, 1), (1, 0), (2, 1)]
)
def test_a_rate_change_is_tapered_in_whatever_the_context(
    small_sim, context, lookahead
):
    """With any context and look-ahead, every second comes out once, in
    order, across a change, and the first second at the new rate is
    tapered in after the dropped ones (found by review: with no context
    it started abruptly after zeros, a step into the network)."""
    config = replace(
        CONFIG,
        resample_context_length=context,
        drop_lookahead_length=lookahead,
    )
    change, count = GPS + 5, 30
    frames = [frame_second(small_sim, g) for g in range(GPS, GPS + count)]
    frames = [f if f.gps < change else at_rate(f, 256) for f in frames]
    resampler = Resampler(CHANNELS, config, native_rates(small_sim))
    out = {}
    for frame in frames:
        for second in resampler.push(frame):
            assert second.gps not in out
            out[second.gps] = second
    delay = context + lookahead
    assert list(out) == list(range(GPS + context, GPS + count - delay))
    first_new = change + RATE_CHANGE_LENGTH - 1
    assert out[first_new - 1].dropped and not out[first_new].dropped
    assert out[first_new].tapered
    assert not out[first_new + 1].tapered


@pytest.mark.parametrize(
    "rates, dropped",
    [
        # an odd second among the new ones is only dropped: the new rates
        # are taken at their tenth second, not ten after the odd one
        ([512] * 8 + [256] * 9 + [128] + [256] * 20, range(8, 18)),
        # after a stretch at rates it cannot resample, one odd second is
        # not taken at once; the usual rates come back untouched
        ([512] * 8 + [1000] * 15 + [128] + [512] * 12, range(8, 24)),
    ],
)
def test_rates_are_taken_after_ten_seconds_at_them(small_sim, rates, dropped):
    """Found by review: the count was of seconds at any other rates, so
    a single odd second after nine at other rates was taken as the new
    rates, and the real ones then cost nine more seconds."""
    frames = [
        at_rate(frame_second(small_sim, GPS + k), rate)
        for k, rate in enumerate(rates)
    ]
    resampler = Resampler(CHANNELS, CONFIG, native_rates(small_sim))
    out = [s for f in frames for s in resampler.push(f)]
    assert gps_of(out) == list(range(GPS + 1, GPS + len(rates) - 2))
    assert [s.gps - GPS for s in out if s.dropped] == list(dropped)
