"""The OUT_DQ gate on simulated strain: opens on good cleaning (along a
raised cosine over ``transition_length`` seconds), closes on bad cleaning
or a missing production model (over the written second; over
``transition_length`` seconds for a sub-band), and is the raw strain,
bitwise, while closed."""

from dataclasses import dataclass
from dataclasses import replace

import numpy as np
import pytest
from configs import SETTINGS
from scipy.signal import hilbert
from simdata import BAND
from simdata import GPS
from simdata import RATE
from simdata import resampled

from cleaner.gate import FILLING
from cleaner.gate import NO_MODEL
from cleaner.gate import OPENING
from cleaner.gate import WORSE_ALONE
from cleaner.gate import OutDqGate
from utils.errors import ConfigError
from utils.signal import asd_ratio
from utils.signal import bandpass
from utils.signal import psd

DURATION = 40  # s
GATE = SETTINGS.gate_config()  # the repository's [cleaner] gate
T = GATE.transition_length  # s an opening takes


@dataclass(frozen=True)
class Record:
    """A cleaned second as the gate sees it."""

    gps: int
    raw: np.ndarray
    production: np.ndarray
    production_ok: bool = True


@pytest.fixture(scope="module")
def seconds(sim):
    """(raw, well-cleaned, badly-cleaned) per second: cleaned removes the
    in-band coupled noise; badly cleaned adds it twice more."""
    strain, _, truth = resampled(sim, GPS, DURATION)
    noise = bandpass(truth, *BAND, RATE)
    split = [np.split(x, DURATION) for x in (strain, noise)]
    return [(s, s - n, s + 2 * n) for s, n in zip(*split, strict=True)]


def run(gate, seconds, bad=(), no_model=()):
    out = []
    for i, (raw, good, worse) in enumerate(seconds):
        gps = GPS + i
        production = worse if gps in bad else good
        gated = gate.push(Record(gps, raw, production, gps not in no_model))
        if gated is not None:
            out.append(gated)
    return out


def states(out):
    return {g.record.gps: ("taper" if g.taper else g.on) for g in out}


def check_outputs(out):
    """Closed: raw bitwise; open: production bitwise; taper: in between."""
    for g in out:
        raw, production = g.record.raw, g.record.production
        if g.taper:
            low = np.minimum(raw, production)
            high = np.maximum(raw, production)
            assert np.all(
                (g.out_dq >= low - 1e-30) & (g.out_dq <= high + 1e-30)
            )
        elif g.on:
            assert g.out_dq.tobytes() == production.tobytes()
        else:
            assert g.out_dq.tobytes() == raw.tobytes()


def test_gate_opens_after_full_buffer(seconds):
    out = run(OutDqGate(GATE), seconds)
    assert out[0].record.gps == GPS  # written second-to-last: 1 s behind
    state = states(out)
    # closed until the 8 s buffer is full (newest = GPS + 7, written + 6),
    # then opening over T s
    assert all(state[GPS + i] is False for i in range(6))
    assert all(state[GPS + i] == "taper" for i in range(6, 6 + T))
    assert all(state[GPS + i] is True for i in range(6 + T, DURATION - 1))
    assert {out[i].reason for i in range(6, 6 + T)} == {OPENING}
    assert out[6].ratio < 0.5  # the coupled noise dominates the band
    check_outputs(out)
    # the weight of the subtraction rises smoothly across the seconds
    weights = np.concatenate([weight(g) for g in out[5 : 7 + T]])
    assert np.all(np.diff(weights) >= -1e-9)
    assert np.abs(np.diff(weights)).max() < 2 / (T * RATE)
    for i in range(6, 6 + T):
        assert_smooth(out, GPS + i)


def weight(g):
    """OUT_DQ's weight of the subtraction over a gated second (0: RAW, 1:
    PRODUCTION), where the subtraction is not negligible."""
    subtracted = g.record.raw - g.record.production
    removed = g.record.raw - g.out_dq
    big = np.abs(subtracted) > 0.1 * np.abs(subtracted).max()
    out = np.full(subtracted.shape, np.nan)
    out[big] = removed[big] / subtracted[big]
    return np.interp(np.arange(out.size), np.flatnonzero(big), out[big])


def test_gate_closes_on_bad_cleaning_and_reopens(seconds):
    """Cleaning that adds noise from GPS + 16: the first bad second,
    judged alone, closes the gate one second ahead (the look-ahead), so
    that no bad second is written (the median over the buffer reacts only
    once half of it is bad: found by review, seconds up to 7.7x raw were
    written). It reopens once the buffer is good again."""
    bad = set(range(GPS + 16, GPS + 26))
    out = run(OutDqGate(GATE), seconds, bad=bad)
    state = states(out)
    closing = min(g for g in state if g >= GPS + 6 + T and state[g] == "taper")
    assert closing == GPS + 15  # at once: the band, alone
    assert all(state[g] is False for g in bad)
    reopen = min(g for g in state if g > closing and state[g] == "taper")
    assert all(state[g] is False for g in range(closing + 1, reopen))
    # the sub-bands' mean sees a bad second until it has left the buffer
    left = 25 + GATE.gate_length - GATE.lookahead_length
    assert GPS + 26 <= reopen <= GPS + left
    assert all(state[g] is True for g in range(reopen + T, GPS + DURATION - 1))
    check_outputs(out)
    assert_smooth(out, closing)
    assert_smooth(out, reopen)


def test_gate_looks_ahead_one_second(seconds):
    """Mean Welch: one bad second is seen in the look-ahead second, and the
    second before it is tapered out, so it never reaches OUT_DQ."""
    bad = {GPS + 20}
    out = run(OutDqGate(replace(GATE, average="mean")), seconds, bad=bad)
    state = states(out)
    assert state[GPS + 18] is True
    assert state[GPS + 19] == "taper"
    assert state[GPS + 20] is False
    check_outputs(out)
    assert_smooth(out, GPS + 19)


def assert_smooth(out, gps):
    """No jump at the edges of the tapered second ``gps``."""
    by_gps = {g.record.gps: g for g in out}
    before, taper, after = (by_gps[gps + i] for i in (-1, 0, 1))
    step = np.abs(np.diff(taper.record.raw)).max()
    assert abs(taper.out_dq[0] - before.out_dq[-1]) < step
    assert abs(after.out_dq[0] - taper.out_dq[-1]) < step


def test_gate_closes_ahead_of_missing_model(seconds):
    no_model = {GPS + 15}
    out = run(OutDqGate(GATE), seconds, no_model=no_model)
    state = states(out)
    assert state[GPS + 14] == "taper"  # tapered out before the gap
    # closed until the whole 8 s buffer (written second - 6 .. + 1) was
    # cleaned by the model: the step where its subtraction stops and
    # starts again is not the model's to be judged on
    assert all(state[GPS + i] is False for i in range(15, 22))
    assert {out[i].reason for i in range(15, 22)} == {NO_MODEL}
    assert all(state[GPS + i] == "taper" for i in range(22, 22 + T))
    assert {out[i].reason for i in range(22, 22 + T)} == {OPENING}
    assert state[GPS + 22 + T] is True and out[22 + T].reason is None
    check_outputs(out)


def test_gate_without_lookahead(seconds):
    out = run(OutDqGate(replace(GATE, lookahead_length=0)), seconds)
    assert out[0].record.gps == GPS
    state = states(out)
    assert state[GPS + 7] == "taper" and state[GPS + 7 + T] is True
    check_outputs(out)


def test_a_ratio_near_the_threshold_neither_opens_nor_flaps(seconds):
    """Hysteresis: PRODUCTION = g x RAW has the ratio g in every sub-band.
    Between threshold - hysteresis and threshold a closed gate stays
    closed and an open one open; clearly below it opens; above it
    (beyond the margin) it closes at the first such second, judged
    alone."""
    t, h = GATE.threshold, GATE.hysteresis
    phases = (t - h / 2, t - 2 * h, t - h / 2, t + h)  # 16 s each
    records = []
    for i in range(16 * len(phases)):
        raw = seconds[i % len(seconds)][0]
        records.append(Record(GPS + i, raw, phases[i // 16] * raw))
    state = states(run_records(OutDqGate(GATE), records))
    # (GPS + 15 tapers in: the buffer holds GPS + 16, clearly below)
    assert all(state[GPS + i] is False for i in range(7, 15))
    opened = min(g for g in state if state[g] is True)
    assert GPS + 16 <= opened < GPS + 16 + GATE.gate_length
    assert all(state[g] is True for g in range(opened, GPS + 47))
    closing = min(g for g in state if g > opened and state[g] == "taper")
    # one second ahead, or over the first such second itself: judged with
    # the second before it (2 s), a 5 % excess may not show before it is
    # written, and then it is tapered out, never written as it is
    assert closing in (GPS + 47, GPS + 48)
    assert all(state[g] is False for g in range(closing + 1, GPS + 63))


def test_gate_config_is_validated():
    with pytest.raises(ConfigError):
        replace(GATE, lookahead_length=8)
    with pytest.raises(ConfigError):
        replace(GATE, average="max")
    with pytest.raises(ConfigError, match="hysteresis"):
        replace(GATE, hysteresis=GATE.threshold)  # could never reopen


def test_gate_closes_over_an_outage_it_cannot_measure(seconds):
    """Dropped seconds are zeros. A few leave the gate open (the seed's
    handling tapers around them); more than half of its buffer leaves
    nothing to measure, so it closes and stays closed over the first
    seconds after the outage (cleaned from a history of zeros; found by
    tests/test_chaos.py: 5% worse than raw after a 12 s outage)."""

    def with_outage(gap):
        return [
            (np.zeros(RATE),) * 3 if GPS + i in gap else s
            for i, s in enumerate(seconds)
        ]

    short = set(range(GPS + 20, GPS + 24))  # 4 of 8 s: still measured
    state = states(run(OutDqGate(GATE), with_outage(short)))
    assert all(
        state[g] is True for g in range(GPS + 6 + T, GPS + DURATION - 1)
    )
    long = set(range(GPS + 20, GPS + 32))
    out = run(OutDqGate(GATE), with_outage(long))
    state = states(out)
    closing = min(g for g in state if g >= GPS + 6 + T and state[g] == "taper")
    assert GPS + 20 <= closing <= GPS + 24  # within the outage (zeros)
    reopen = min(g for g in state if g > closing and state[g] == "taper")
    assert GPS + 32 + 2 <= reopen  # not over the first seconds back
    assert all(state[g] is False for g in range(closing + 1, reopen))
    assert all(state[g] is True for g in range(reopen + T, GPS + DURATION - 1))
    check_outputs(out)


def realistic(seconds, no_model):
    """Records as the cleaner makes them: a second without a model (Triton
    down) has no prediction, its PRODUCTION is the raw strain."""
    return [
        Record(
            GPS + i,
            raw,
            raw if GPS + i in no_model else good,
            GPS + i not in no_model,
        )
        for i, (raw, good, _) in enumerate(seconds)
    ]


def seam_ratio(out, first, length=8):
    """ASD(OUT_DQ)/ASD(RAW) in the band, mean Welch (as the chaos suite),
    over the ``length`` s that start ``first``."""
    by_gps = {g.record.gps: g for g in out}
    stretch = [by_gps[first + k] for k in range(length)]
    return asd_ratio(
        np.concatenate([g.out_dq for g in stretch]),
        np.concatenate([g.record.raw for g in stretch]),
        RATE,
        *BAND,
        2.0,
        1.0,
        "mean",
    )


def test_gate_resumes_from_the_newest_frame_and_bridges(seconds):
    """After a restart the gate continues from the state the newest written
    frame ended in. Open, with no production model now (Triton down while
    the cleaner restarted, so its warm-up left the gate closed), it tapers
    out the previous frame's removed noise continued over the first
    written second: no step from cleaned to raw (found by the chaos suite:
    ASD ratio 1.05-1.10 over the 8 s around such a step)."""
    before = run(OutDqGate(GATE), seconds[:20])
    last = before[-1]
    assert last.on
    restart = realistic(seconds, no_model=set(range(GPS, GPS + DURATION)))
    outs = {}
    for order in (32, 0):
        gate = OutDqGate(replace(GATE, bridge_order=order))
        warm = [gate.push(r) for r in restart[8:20]]
        assert not any(g.on or g.taper for g in warm if g is not None)
        gate.resume(True, 1.0, last.record.raw - last.out_dq)
        outs[order] = before + [gate.push(r) for r in restart[20:30]]
    bridged, stepped = outs[32], outs[0]
    first = bridged[len(before)]
    assert first.record.gps == last.record.gps + 1
    assert first.taper and not first.on
    assert bridged[len(before) + 1].out_dq.tobytes() == (
        bridged[len(before) + 1].record.raw.tobytes()
    )  # raw once closed
    step = np.abs(np.diff(first.record.raw)).max()
    assert abs(first.out_dq[0] - last.out_dq[-1]) < step
    seam = last.record.gps - 3
    assert seam_ratio(bridged, seam) < 1.0
    print(
        "seam",
        [
            (
                round(seam_ratio(bridged, seam + k), 3),
                round(seam_ratio(stepped, seam + k), 3),
            )
            for k in range(5)
        ],
    )
    assert seam_ratio(stepped, seam) > seam_ratio(bridged, seam)


def test_gate_without_lookahead_bridges_a_missing_model(seconds):
    """No look-ahead: the first second without a model is itself tapered
    out, from the continued noise of the second before."""
    records = realistic(seconds, set(range(GPS + 20, GPS + 25)))
    out, stepped = (
        run_records(
            OutDqGate(replace(GATE, lookahead_length=0, bridge_order=order)),
            records,
        )
        for order in (32, 0)
    )
    state = states(out)
    assert state[GPS + 19] is True and state[GPS + 20] == "taper"
    assert state[GPS + 21] is False
    assert_smooth(out, GPS + 20)
    # the gate reopens only on a buffer cleaned by the model throughout
    assert state[GPS + 25 + GATE.gate_length - 2] is False
    print("seam", seam_ratio(out, GPS + 19), seam_ratio(stepped, GPS + 19))
    # the step leaks the line over the band (~1.08); the bridge's leak is
    # within the noise of an 8-s estimate (~1.008)
    assert seam_ratio(stepped, GPS + 19) > 1.05
    assert seam_ratio(out, GPS + 19) < 1.02


def as_records(raw: np.ndarray, production: np.ndarray) -> list[Record]:
    """One-second records of RAW and PRODUCTION from GPS."""
    seconds = raw.size // RATE
    return [
        Record(GPS + i, r, p)
        for i, (r, p) in enumerate(
            zip(
                np.split(raw, seconds),
                np.split(production, seconds),
                strict=True,
            )
        )
    ]


def run_records(gate, records):
    return [g for g in map(gate.push, records) if g is not None]


def test_wrong_phase_at_the_line_closes_the_gate(sim, seconds):
    """A production model that removes the sidebands but subtracts the line
    with the wrong phase (90 degrees: the line comes out ~1.4x stronger)
    keeps the seed's band-mean ratio below 1, yet makes the official
    product worse than raw at 60 Hz: the gate judges the worst sub-band
    and stays closed, naming it; the same model with the right phase opens
    it."""
    _, _, truth = resampled(sim, GPS, DURATION)
    noise = bandpass(truth, *BAND, RATE)
    line = bandpass(truth, 59.5, 60.5, RATE)
    wrong = np.imag(hilbert(line))  # the line shifted by 90 degrees
    raw = np.concatenate([s[0] for s in seconds])
    production = raw - (noise - line) - wrong
    band_mean = asd_ratio(production, raw, RATE, *BAND)
    assert band_mean < 0.9  # the seed's gate would open on this
    records = as_records(raw, production)
    out = run_records(OutDqGate(GATE), records)
    assert not any(g.on or g.taper for g in out)
    check_outputs(out)
    judged = [g for g in out if g.ratio is not None]
    assert judged and all(g.ratio > 1.2 for g in judged)
    assert {g.reason for g in judged} == {"ratio 59.25-60.75 Hz"}
    assert {g.reason for g in out if g.ratio is None} == {FILLING}
    right = run_records(
        OutDqGate(GATE),
        [
            replace(r, production=r.raw - n)
            for r, n in zip(records, np.split(noise, DURATION), strict=True)
        ],
    )
    assert right[-1].on and right[-1].reason is None


def test_gate_closes_when_the_line_goes_wrong_while_open(sim, seconds):
    """Open on good cleaning, then the line subtraction turns wrong for a
    while (the sidebands still removed, the line doubled): the gate closes
    on the line sub-band, and every second it is not open says why."""
    _, _, truth = resampled(sim, GPS, DURATION)
    noise = np.split(bandpass(truth, *BAND, RATE), DURATION)
    line = np.split(bandpass(truth, 59.5, 60.5, RATE), DURATION)
    bad = set(range(GPS + 16, GPS + 28))
    records = [
        Record(
            GPS + i,
            raw,
            raw - noise[i] + 2 * line[i] if GPS + i in bad else good,
        )
        for i, (raw, good, _) in enumerate(seconds)
    ]
    out = run_records(OutDqGate(GATE), records)
    state = states(out)
    closing = min(g for g in state if g >= GPS + 6 + T and state[g] == "taper")
    assert closing == GPS + 15  # the first bad second, alone, ahead
    reasons = {g.reason for g in out if g.record.gps >= closing and not g.on}
    assert "ratio 59.25-60.75 Hz" in reasons
    subbands = {f"ratio {name}" for name in GATE.subbands.names}
    assert reasons <= subbands | {WORSE_ALONE, OPENING}
    assert all(g.on == (g.reason is None) for g in out)
    check_outputs(out)


def test_subband_edges_must_hold_a_bin():
    with pytest.raises(ConfigError, match="subband_edges"):
        replace(GATE, subband_edges=(60.1, 60.3))  # no bin at 0.5 Hz steps
    with pytest.raises(ConfigError, match="subband_edges"):
        replace(GATE, subband_edges=(61.0, 60.0))


def test_a_line_with_weak_sidebands_opens_the_gate(seconds):
    """A model that removes the line but nothing beside it (the
    sidebands' sub-bands measure ~1): the band is far better than raw and
    no sub-band worse beyond the margin, so the gate opens (found by
    review: opening needed every sub-band below threshold - hysteresis,
    so a line with weak sidebands was never cleaned). Adding noise in a
    sub-band beyond the margin keeps it closed, naming that sub-band."""
    raw = np.concatenate([s[0] for s in seconds])
    line = bandpass(raw, 59.75, 60.25, RATE)
    edge = bandpass(raw, 58.0, 59.0, RATE)
    for extra, opens in ((0.0, True), (0.2, False)):
        production = raw - 0.95 * line + extra * edge
        records = as_records(raw, production)
        out = run_records(OutDqGate(GATE), records)
        judged = [g for g in out if g.ratio is not None]
        assert all(g.band_ratio < 0.5 for g in judged)
        assert any(g.on for g in out) is opens
        if not opens:
            assert {g.reason for g in judged} == {"ratio 58-59.25 Hz"}
        check_outputs(out)


def test_a_glitch_through_the_network_is_never_written(seconds):
    """Good cleaning, then one second whose prediction carries a loud
    transient (a witness's glitch through the network: ~4x raw in the
    band over that second): it is not written (the gate closes ahead of
    it) and the gate then reopens."""
    glitch = GPS + 20
    records = []
    for i, (raw, good, _) in enumerate(seconds):
        production = good
        if GPS + i == glitch:
            pulse = np.zeros(RATE)
            pulse[RATE // 2] = 300 * np.abs(raw).max()
            production = good + bandpass(pulse, *BAND, RATE)
        records.append(Record(GPS + i, raw, production))
    out = run_records(OutDqGate(GATE), records)
    state = states(out)
    assert state[glitch - 1] == "taper" and state[glitch] is False
    by_gps = {g.record.gps: g for g in out}
    assert by_gps[glitch].out_dq.tobytes() == records[20].raw.tobytes()
    assert any(state[g] is True for g in range(glitch + 1, GPS + DURATION))
    check_outputs(out)


def weak_sidebands(seconds: int, seed: int = 3):
    """Records of a 60 Hz line 50x the noise in its bins whose sidebands
    (+-0.7, +-1.3 Hz) are weak (2 %: 0.3 of the noise's power in their
    sub-bands), cleaned by a perfect model, and the raw strain."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * RATE) / RATE
    motion = np.sin(2 * np.pi * 0.7 * t) + 0.6 * np.sin(2 * np.pi * 1.3 * t)
    coupled = 1e-21 * np.cos(2 * np.pi * 60 * t) * (1 + 0.02 * motion)
    noise = 1e-23 * np.sqrt(RATE / 2) * rng.standard_normal(t.size)
    return as_records(noise + coupled, noise)


def test_weak_sidebands_do_not_make_the_product_worse_than_raw():
    """A line with weak sidebands, perfectly cleaned: over 8 s the
    sidebands' sub-bands of PRODUCTION measure above 1 + margin now and
    then (their power is 0.3 of the noise's, and removing them from one
    realisation of the noise can add to it), so the gate closes and
    opens again. A transition within one second leaked the line (50x the
    noise) over +-1 Hz: OUT_DQ measured 2.0x RAW in the sidebands over
    80 s, 5x over the worst 8 s (found by review). With the sub-bands
    judged on the mean and the transitions over ``transition_length`` s,
    OUT_DQ is no worse than raw anywhere in the band, within the gate's
    margin (1.0001 here; a perfect subtraction always open: 0.90)."""
    records = weak_sidebands(100)
    out = run_records(OutDqGate(GATE), records)[20:]
    assert any(not g.on for g in out)  # the gate does move
    check_outputs(out)
    out_dq = np.concatenate([g.out_dq for g in out])
    raw = np.concatenate([g.record.raw for g in out])
    freqs, (p_out, p_raw) = psd(
        np.stack([out_dq, raw]), RATE, 2.0, 1.0, "mean"
    )
    lower, line, upper = GATE.subbands.ratios(p_out, p_raw, freqs)
    print("OUT_DQ / RAW by sub-band", lower, line, upper)
    assert line < 0.5  # the line is cleaned most of the time
    assert max(lower, upper) <= GATE.threshold + GATE.margin


def test_a_subband_closes_the_gate_slowly(seconds):
    """A sub-band made worse than raw (noise added beside the line) closes
    the gate along the raised cosine, over ``transition_length`` s: the
    line's subtraction stopped within one second would leak more than
    the sub-band holds. (A second worse in the band closes it within one:
    ``test_gate_closes_on_bad_cleaning_and_reopens``.)"""
    raw = np.concatenate([s[0] for s in seconds])
    line = bandpass(raw, 59.75, 60.25, RATE)
    edge = bandpass(raw, 58.0, 59.0, RATE)
    # 20 % of the sub-band's noise removed, then 30 % added from GPS + 24
    worse = np.where(np.arange(raw.size) >= 24 * RATE, 0.3, -0.2)
    records = as_records(raw, raw - 0.95 * line + worse * edge)
    out = run_records(OutDqGate(GATE), records)
    state = states(out)
    by_gps = {g.record.gps: g for g in out}
    sub = "ratio 58-59.25 Hz"
    closing = min(g for g in by_gps if by_gps[g].reason == sub)
    assert state[closing - 1] is True and GPS + 23 <= closing <= GPS + 27
    assert all(state[closing + k] == "taper" for k in range(T))
    assert state[closing + T] is False
    assert {by_gps[closing + k].reason for k in range(T)} == {sub}
    weights = np.concatenate([weight(by_gps[closing + k]) for k in range(T)])
    assert np.all(np.diff(weights) <= 1e-9) and weights[0] > 0.99
    for k in range(T):
        assert_smooth(out, closing + k)
    check_outputs(out)


def test_a_gate_resumed_mid_transition_continues_its_weight(seconds):
    """A cleaner restarted while the gate was opening (over several
    seconds) continues from the weight its newest frame ended with."""
    first = run(OutDqGate(GATE), seconds[:9])  # written: GPS .. GPS + 7
    assert first[-1].taper and first[-1].reason == OPENING
    gate = OutDqGate(GATE)
    ended = weight(first[-1])[-1]
    records = realistic(seconds, set())
    for record in records[:9]:  # its warm-up, up to the frame written
        gate.push(record)
    gate.resume(True, ended, first[-1].record.raw - first[-1].out_dq)
    nxt = gate.push(records[9])
    assert nxt.record.gps == first[-1].record.gps + 1
    assert nxt.taper and nxt.reason == OPENING
    assert abs(weight(nxt)[0] - ended) < 2 / (T * RATE) + 1e-3


def test_a_model_lost_while_opening_is_bridged_from_where_it_was(seconds):
    """Triton lost while the gate opens (the weight part way up), with no
    look-ahead: the first second without a model is tapered out with the
    bridge, which continues what OUT_DQ removed at the weight it had, and
    falls from there: no step at the second's start."""
    records = realistic(seconds, set(range(GPS + 9, GPS + DURATION)))
    gate = OutDqGate(replace(GATE, lookahead_length=0))
    out = run_records(gate, records)
    state = states(out)
    assert state[GPS + 7] == "taper" and state[GPS + 8] == "taper"
    by_gps = {g.record.gps: g for g in out}
    last, first = by_gps[GPS + 8], by_gps[GPS + 9]
    assert 0 < weight(last)[-1] < 0.5  # opening, part way up
    assert first.taper and first.reason == NO_MODEL
    assert state[GPS + 10] is False
    step = np.abs(np.diff(first.record.raw)).max()
    removed = last.record.raw - last.out_dq
    bridged = first.record.raw - first.out_dq
    removed_step = np.abs(np.diff(removed)).max()
    assert abs(bridged[0] - removed[-1]) < 2 * removed_step
    assert abs(first.out_dq[0] - last.out_dq[-1]) < step
