"""The whole service loop against the real tritonserver, on simulated frames
fed faster than real time: one frame per input second, the physics of the
cleaning, the gate, the tags, and recovery from a missing model, a
promotion, a killed Triton and a restart of the cleaner."""

import dataclasses
import logging
import os
import threading
import time

import numpy as np
from configs import SETTINGS
from service_run import CHANNELS
from service_run import SPEED
from service_run import read_carousel
from service_run import run_service
from service_run import series
from service_run import service_config
from simdata import BAND
from simdata import GPS
from simdata import IFO
from simdata import RATE

from cleaner.frames import OutputFrame
from cleaner.restart import Start
from cleaner.restart import resume_point
from cleaner.service import read_native_rates
from cleaner.writer import FrameWriter
from cleaner.writer import WriterConfig
from utils.channels import OutputChannels
from utils.channels import State
from utils.gpstime import gps_now
from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.names import cleaned_name
from utils.names import strain_name
from utils.names import witness_name
from utils.quality import removed_fraction
from utils.quality import truth_4096
from utils.signal import psd
from utils.simulation import Fault

TRANSITION = SETTINGS.gate_transition_length  # s the gate takes to open

DELAY = 4  # s of data latency of the default configuration


def tags(frame):
    return (
        int(frame[CHANNELS.production_version][0]),
        int(frame[CHANNELS.canary_version][0]),
    )


def state(frame) -> State:
    values = set(frame[CHANNELS.state])
    assert len(values) == 1
    return State(int(values.pop()))


def test_cleaning_one_frame_per_second(tmp_path, sim, triton):
    duration, drop, late = 30, GPS + 20, GPS + 23
    config = service_config(tmp_path, sim, triton.url)
    faults = {drop: Fault.DROP, late: Fault.LATE}
    stream = run_service(config, sim, duration, faults=faults)
    latency = stream.metrics.registry.get_sample_value
    frames = read_carousel(tmp_path / "carousel")
    # one frame per input second, in order, from the first resampled one
    assert sorted(frames) == list(range(GPS + 1, GPS + duration - DELAY))
    # the late frame (1.5 s, i.e. 6 s of data at 4x speed) is dropped by
    # the follower once newer frames exist: it yields a dropped second
    dropped = [drop, late]
    for gps, frame in sorted(frames.items()):
        assert set(frame) == set(CHANNELS.sample_rates)
        bits = state(frame)
        if gps in dropped:
            assert not bits & State.INPUT_OK and tags(frame) == (0, 0)
            for name in CHANNELS.strains:
                assert not frame[name].any()
            continue
        assert tags(frame) == (1, 2)
        assert bits & State.INPUT_OK and bits & State.ANALYSIS_READY
        assert bits & State.PRODUCTION_OK and bits & State.CANARY_OK
        tapered = any(abs(gps - d) == 1 for d in dropped)
        assert bool(bits & State.INPUT_TAPERED) == tapered
        check_gate(frame, bits)
    # the gate opened once its 8 s buffer was full, over its transition,
    # and stayed open
    opened = [g for g in frames if state(frames[g]) & State.OUT_DQ_TAPER]
    assert opened == list(range(GPS + 7, GPS + 7 + TRANSITION))
    check_physics(tmp_path, frames, range(GPS + 4, drop - 1))
    # latency: (delay / SPEED) s of data at this speed, plus compute
    count, total = (
        latency(f"deepclean_cleaner_latency_seconds_{k}")
        for k in ("count", "sum")
    )
    assert count == len(frames) - len(dropped)  # dropped: no latency
    assert total / count < DELAY / SPEED + 0.5
    # PRODUCTION is the exact regression: its tracked gain stays ~1
    for part in ("line", "sidebands"):
        labels = {"part": part, "quantity": "magnitude"}
        gain = latency("deepclean_cleaner_tracking_gain", labels)
        assert gain is not None and abs(gain - 1) < 0.05, part


def check_gate(frame, bits):
    """OUT_DQ is RAW (closed) or PRODUCTION (open), bitwise."""
    out, raw = frame[CHANNELS.out_dq], frame[CHANNELS.raw]
    production = frame[CHANNELS.production]
    if bits & State.OUT_DQ_ON:
        assert out.tobytes() == production.tobytes()
    elif not bits & State.OUT_DQ_TAPER:
        assert out.tobytes() == raw.tobytes()


def check_physics(root, frames, seconds):
    """PRODUCTION removes the removable in-band noise and nothing else;
    CANARY (half the prediction) removes 1 - 0.5^2 of it."""
    seconds = list(seconds)
    raw = series(frames, CHANNELS.raw, seconds)
    truth = truth_4096(
        root / "data", IFO, seconds[0], seconds[0] + len(seconds)
    )
    production = series(frames, CHANNELS.production, seconds)
    canary = series(frames, CHANNELS.canary, seconds)
    # residual: 2% coupling drift and 1% witness noise the fixed
    # regression cannot follow, ~5e-4 of the power; 10x margin
    assert removed_fraction(production, raw, truth) > 0.99
    assert abs(removed_fraction(canary, raw, truth) - 0.75) < 0.02
    freqs, p_raw = psd(raw, RATE)
    _, p_clean = psd(production, RATE)
    outside = ((freqs >= 10) & (freqs <= BAND[0] - 8)) | (
        (freqs >= BAND[1] + 8) & (freqs <= 1000)
    )
    ratio = np.sqrt(p_clean[outside] / p_raw[outside])
    assert np.abs(ratio - 1).max() < 0.01


def test_promotion_changes_tags(tmp_path, sim, triton, caplog):
    config = service_config(tmp_path, sim, triton.url)
    hooks = {GPS + 12: lambda: triton.configure(2, 3)}
    with caplog.at_level(logging.INFO, logger="cleaner"):
        run_service(config, sim, 24, hooks=hooks)
    frames = read_carousel(tmp_path / "carousel")
    assert sorted(frames) == list(range(GPS + 1, GPS + 24 - DELAY))
    sequence = [tags(frames[g]) for g in sorted(frames)]
    switch = sequence.index((2, 3))
    assert set(sequence[:switch]) == {(1, 2)}
    assert set(sequence[switch:]) == {(2, 3)}
    assert all(state(f) & State.PRODUCTION_OK for f in frames.values())
    assert "production version 2, canary version 3" in caplog.text


def test_no_model_then_first_versions(tmp_path, sim, triton, caplog):
    """Before any model: frames are written, uncleaned, tagged 0; before
    the first promotion (production 0) only CANARY is cleaned."""
    triton.unload()
    config = service_config(tmp_path, sim, triton.url)
    hooks = {
        GPS + 8: lambda: triton.configure(0, 2),
        GPS + 16: lambda: triton.configure(1, 2),
    }
    with caplog.at_level(logging.WARNING, logger="cleaner"):
        run_service(config, sim, 34, hooks=hooks)
    frames = read_carousel(tmp_path / "carousel")
    assert sorted(frames) == list(range(GPS + 1, GPS + 34 - DELAY))
    versions = {gps: tags(frame) for gps, frame in frames.items()}
    assert {(0, 0), (0, 2), (1, 2)} <= set(versions.values())
    for gps, frame in sorted(frames.items()):
        bits = state(frame)
        check_gate(frame, bits)
        # away from a version change (the band-pass spreads a prediction
        # over ~1 s), a model of version 0 has subtracted nothing
        near = [versions.get(gps + d, versions[gps]) for d in (-1, 0, 1)]
        raw = frame[CHANNELS.raw].tobytes()
        if all(v[0] == 0 for v in near):
            assert not bits & State.PRODUCTION_OK
            assert frame[CHANNELS.production].tobytes() == raw
            assert frame[CHANNELS.out_dq].tobytes() == raw
        if all(v[1] == 0 for v in near):
            assert not bits & State.CANARY_OK
            assert frame[CHANNELS.canary].tobytes() == raw
    last = state(frames[max(frames)])
    assert last & State.OUT_DQ_ON  # opened once production was there
    assert "no production model" in caplog.text


def test_triton_killed_and_restarted(tmp_path, sim, triton, caplog):
    restart = threading.Thread(target=triton.start)

    def kill() -> None:
        triton.kill()
        restart.start()  # ~3 s to come back; the stream goes on meanwhile

    config = service_config(tmp_path, sim, triton.url)
    duration = 44
    with caplog.at_level(logging.INFO, logger="cleaner"):
        run_service(config, sim, duration, hooks={GPS + 12: kill})
    restart.join(timeout=60)
    frames = read_carousel(tmp_path / "carousel")
    assert sorted(frames) == list(range(GPS + 1, GPS + duration - DELAY))
    ok = [bool(state(frames[g]) & State.PRODUCTION_OK) for g in sorted(frames)]
    down = [g for g, good in zip(sorted(frames), ok, strict=True) if not good]
    # seconds without a model are marked, and tagged 0 but for the two
    # partly predicted at the edges of the outage
    assert down == list(range(down[0], down[-1] + 1))
    assert all(tags(frames[g]) == (0, 0) for g in down[1:-1])
    assert min(down) >= GPS + 12 - DELAY
    # and after the restart the model is back for good
    assert all(ok[ok.index(False) + len(down) :])
    assert max(down) < GPS + duration - DELAY - 8
    messages = caplog.text
    assert "unavailable" in messages and "answers" in messages


def test_restart_resumes_after_newest_frame(tmp_path, sim, triton, caplog):
    # no gain tracking: after its 20 s it would fit the half-size CANARY
    # to full size, and check_physics tells the two models apart by size
    config = service_config(tmp_path, sim, triton.url, tracking_length=0)
    run_service(config, sim, 20)
    assert max(read_carousel(tmp_path / "carousel")) == GPS + 15
    with caplog.at_level(logging.INFO, logger="cleaner"):
        run_service(config, sim, 20, first=GPS + 20)
    frames = read_carousel(tmp_path / "carousel")
    assert sorted(frames) == list(range(GPS + 1, GPS + 40 - DELAY))
    assert "exists already" not in caplog.text
    assert "resuming" in caplog.text
    # warm from its first frame: gate open, cleaned as well as ever
    resumed = range(GPS + 16, GPS + 36)
    assert all(state(frames[g]) & State.OUT_DQ_ON for g in resumed)
    check_physics(tmp_path, frames, resumed)


def test_a_start_at_a_rate_it_cannot_resample_still_writes(
    tmp_path, sim, triton, caplog
):
    """The newest raw frame at start holds a witness at 1000 Hz (no ratio
    of 4096 the resampler takes; a channel reconfigured at the detector,
    or an odd frame): the cleaner starts, writes a frame every second
    (input dropped while the rate lasts), says why once, and cleans again
    once the witness is back at its rate for good (found by review:
    the cleaner exited with status 2, which the supervisor does not
    restart: no frames at all)."""
    config = service_config(tmp_path, sim, triton.url)
    sim.write(GPS, config.stream.data_dir)
    path = config.stream.witness_dir / witness_name(IFO, GPS)
    witnesses = read_frame(path)
    odd = next(c for c in witnesses if "ASC" in c)
    data = {c: s.data for c, s in witnesses.items()}
    rates = {c: s.sample_rate for c, s in witnesses.items()}
    data[odd], rates[odd] = np.zeros(1000, np.float32), 1000
    write_frame(path, data, GPS, rates, overwrite=True)
    with caplog.at_level(logging.WARNING, logger="utils.stream"):
        run_service(config, sim, 30)
    frames = read_carousel(tmp_path / "carousel")
    assert sorted(frames) == list(range(GPS + 1, GPS + 30 - DELAY))
    assert "cannot resample 1000" in caplog.text
    assert "resampling at them" in caplog.text
    cleaning = [g for g in frames if state(frames[g]) & State.INPUT_OK]
    assert cleaning == list(range(cleaning[0], GPS + 30 - DELAY))
    assert cleaning[0] <= GPS + 12


def cleaned(carousel, gps: int, state: State = State.INPUT_OK) -> None:
    """A frame of second ``gps`` as the cleaner writes it."""
    rng = np.random.default_rng(gps)
    strains = [rng.standard_normal(RATE) for _ in range(4)]
    frame = OutputFrame(
        gps,
        *strains,
        state=state,
        production_version=0,
        canary_version=0,
        seen_at=None,
    )
    FrameWriter(WriterConfig(carousel, IFO, 4)).write(frame)


def bounded(directory) -> WriterConfig:
    """The carousel at ``directory``, with the repository's bound."""
    return WriterConfig(directory, IFO, SETTINGS.max_backlog)


def where(start: Start) -> tuple:
    """Where a start follows from and writes from."""
    return start.follow_from, start.write_from


def test_resume_point_reaches_back_over_dropped_seconds(tmp_path):
    """A restart resumes right after the newest carousel frame when the raw
    stream still reaches back a warm-up before it, even if the raw second
    exactly one warm-up back was dropped (found by tests/test_chaos.py: the
    cleaner killed after a stretch of drops skipped ahead, leaving a gap)."""
    carousel, raw = tmp_path / "carousel", tmp_path / "raw"
    raw.mkdir()
    cleaned(carousel, GPS + 99)
    warmup, resume = 13, GPS + 100
    dropped = set(range(resume - warmup - 2, resume - 2))  # incl. the first
    for gps in range(GPS, GPS + 110):
        if gps not in dropped:
            (raw / strain_name(IFO, gps)).touch()
    assert where(resume_point(bounded(carousel), raw, warmup)) == (
        resume - warmup,
        resume,
    )
    for gps in range(GPS, resume - 5):  # pruned: part of the warm-up left
        (raw / strain_name(IFO, gps)).unlink(missing_ok=True)
    assert where(resume_point(bounded(carousel), raw, warmup)) == (
        resume - 2,
        resume,
    )
    for gps in range(GPS, GPS + 103):  # pruned past the resume point
        (raw / strain_name(IFO, gps)).unlink(missing_ok=True)
    assert resume_point(bounded(carousel), raw, warmup) == Start(
        "newest", resume
    )


def test_resume_point_catches_up_no_more_than_the_carousel(tmp_path, caplog):
    """A stale raw file a day old (a stray, a leftover) and the live raw
    frames from an hour after the carousel's end: the cleaner starts at
    the newest raw frame (found by review: the old file made it follow
    from the carousel's end and write the hour's seconds as dropped, late,
    before any live one). After a short outage it still resumes without a
    gap, old file or not."""
    carousel, raw = tmp_path / "carousel", tmp_path / "raw"
    raw.mkdir()
    cleaned(carousel, GPS + 99)
    resume = GPS + 100
    (raw / strain_name(IFO, GPS - 86400)).touch()
    live = range(resume + 3600, resume + 3610)
    for gps in live:
        (raw / strain_name(IFO, gps)).touch()
    with caplog.at_level(logging.WARNING, logger="cleaner"):
        start = resume_point(bounded(carousel), raw, 13)
    bound = SETTINGS.max_backlog  # the raw data within it are cleaned
    assert start == Start(resume + 3609 - bound - 13, resume)
    assert "3609 s behind the raw stream" in caplog.text
    for gps in live:
        (raw / strain_name(IFO, gps)).unlink()
    for gps in range(resume + 30, resume + 40):  # back after 30 s
        (raw / strain_name(IFO, gps)).touch()
    assert where(resume_point(bounded(carousel), raw, 13)) == (
        resume - 13,
        resume,
    )


def test_a_restart_while_the_raw_writer_is_down_starts_at_its_edge(
    tmp_path,
):
    """The carousel and the raw frames both end an hour ago (a power cut:
    the raw writer is not back yet): the cleaner catches up no more than
    the carousel holds behind where the raw writer would be now, not
    from its last frame (found by review: it followed from the carousel's
    end, and wrote the hour's seconds as dropped, late, before the live
    ones)."""
    carousel, raw = tmp_path / "carousel", tmp_path / "raw"
    raw.mkdir()
    now = int(gps_now())
    cleaned(carousel, now - 3601)
    hour_ago = time.time() - 3600
    for gps in range(now - 3620, now - 3599):
        path = raw / strain_name(IFO, gps)
        path.touch()
        os.utime(path, (hour_ago, hour_ago))
    start = resume_point(bounded(carousel), raw, 13)
    edge = start.follow_from + SETTINGS.max_backlog + 13
    assert now - 2 <= edge <= now
    assert start.write_from == now - 3600 and start.gate is None


def test_resume_point_ignores_a_stray_from_the_future(tmp_path, caplog):
    """A file in the carousel named for a second that has not begun was
    not written by the cleaner: a restart must not resume from it."""
    carousel, raw = tmp_path / "carousel", tmp_path / "raw"
    raw.mkdir()
    cleaned(carousel, GPS + 99)
    stray = int(gps_now()) + 86400
    (carousel / cleaned_name(IFO, stray)).touch()
    for gps in range(GPS, GPS + 110):
        (raw / strain_name(IFO, gps)).touch()
    with caplog.at_level(logging.WARNING, logger="cleaner"):
        start = resume_point(bounded(carousel), raw, 13)
    assert where(start) == (GPS + 87, GPS + 100)
    assert f"(from GPS {stray})" in caplog.text


def test_resume_point_skips_newer_frames_that_do_not_read(tmp_path, caplog):
    """A restart resumes after the newest frame that reads: an empty
    stray named for a second already begun, or a frame of NaN, is not
    where the cleaner stopped (found by review: a stray a few seconds old
    became the resume point, and the seconds before it were never
    written); they are written over when their seconds come."""
    carousel, raw = tmp_path / "carousel", tmp_path / "raw"
    raw.mkdir()
    cleaned(carousel, GPS + 99)
    (carousel / cleaned_name(IFO, GPS + 103)).touch()
    cleaned(carousel, GPS + 101)
    path = carousel / cleaned_name(IFO, GPS + 101)
    frame = read_frame(path)
    data = {name: series.data.copy() for name, series in frame.items()}
    data[OutputChannels(IFO).out_dq][:] = np.nan
    rates = {name: series.sample_rate for name, series in frame.items()}
    write_frame(path, data, GPS + 101, rates, overwrite=True)
    for gps in range(GPS, GPS + 110):
        (raw / strain_name(IFO, gps)).touch()
    with caplog.at_level(logging.WARNING, logger="cleaner"):
        start = resume_point(bounded(carousel), raw, 13)
    assert where(start) == (GPS + 87, GPS + 100)
    assert "GPS 1400000103 unreadable" in caplog.text
    assert "GPS 1400000101 unreadable" in caplog.text


def test_a_restart_after_a_gap_starts_with_the_gate_closed(tmp_path):
    """The newest carousel frame ended with the gate open. While the raw
    frames reach back to it the gate continues from it; once they are
    gone (the cleaner was down longer than they are kept) it starts
    closed, as on a fresh start: what that frame removed says nothing of
    the seconds to come (found by review: its noise was continued over the
    first second written, up to 1.85x raw in the band)."""
    carousel, raw = tmp_path / "carousel", tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(0)
    strains = [rng.standard_normal(RATE) for _ in range(4)]
    frame = OutputFrame(
        GPS + 99,
        *strains,
        state=State.INPUT_OK | State.PRODUCTION_OK | State.OUT_DQ_ON,
        production_version=1,
        canary_version=1,
        seen_at=None,
    )
    FrameWriter(WriterConfig(carousel, IFO, 4)).write(frame)
    for gps in range(GPS + 90, GPS + 110):
        (raw / strain_name(IFO, gps)).touch()
    warm = resume_point(bounded(carousel), raw, 5)
    assert (warm.follow_from, warm.write_from) == (GPS + 95, GPS + 100)
    assert warm.gate is not None and warm.gate.is_open
    for gps in range(GPS + 90, GPS + 103):
        (raw / strain_name(IFO, gps)).unlink()
    assert resume_point(bounded(carousel), raw, 5) == Start(
        "newest", GPS + 100
    )


def test_resume_point_counts_only_the_cleaner_s_own_frames(tmp_path):
    """Frames of another description in the carousel (a test's, another
    IFO's) do not move the resume point past seconds never written, nor
    does a raw frame of another description make gone raw data look
    present."""
    carousel, raw = tmp_path / "carousel", tmp_path / "raw"
    raw.mkdir()
    cleaned(carousel, GPS + 99)
    (carousel / f"L-{IFO}_DEEPCLEAN_TEST-{GPS + 105}-1.gwf").touch()
    (carousel / cleaned_name("H1", GPS + 106)).touch()
    for gps in range(GPS, GPS + 110):
        (raw / strain_name(IFO, gps)).touch()
    assert where(resume_point(bounded(carousel), raw, 13)) == (
        GPS + 87,
        GPS + 100,
    )
    for gps in range(GPS, GPS + 103):  # pruned past the resume point
        (raw / strain_name(IFO, gps)).unlink()
    (raw / f"L-{IFO}_R-{GPS + 50}-1.gwf").touch()
    assert resume_point(bounded(carousel), raw, 13) == Start(
        "newest", GPS + 100
    )


def test_native_rates_wait_for_no_lagging_witness_frame(tmp_path, sim):
    """The witness stream lags the strain by 6 s: the rates come from the
    newest second both streams hold (found by review: only the newest 5
    strain seconds were tried, none had its witness frame yet, and the
    cleaner could never start)."""
    config = dataclasses.replace(
        service_config(tmp_path, sim, "127.0.0.1:1").stream,
        start_timeout=2.0,
    )
    now = int(gps_now())
    for gps in range(now - 12, now):
        sim.write(gps, config.data_dir)
        if gps >= now - 6:
            (config.witness_dir / witness_name(IFO, gps)).unlink()
    channels = [config.strain_channel, *config.witness_channels]
    rates = read_native_rates(config, channels)
    assert rates[config.strain_channel] == sim.config.strain_rate


def test_native_rates_come_from_frames_the_follower_would_take(tmp_path, sim):
    """A pair of frames an hour ahead, and a newest pair whose contents
    are of another second than their names claim, both at a quarter of
    the rates: the rates are read from the real frames behind them (found
    by review: a stray pair ahead set the rates, and every real second
    was then dropped as at the wrong rate)."""
    config = service_config(tmp_path, sim, "127.0.0.1:1").stream
    sim.write(GPS, config.data_dir)
    channels = [config.strain_channel, *config.witness_channels]
    real = read_native_rates(config, channels)
    assert real[config.strain_channel] > 1024

    def write_pair(named: int, holds: int) -> None:
        for folder, name, names in (
            (config.strain_dir, strain_name, [config.strain_channel]),
            (config.witness_dir, witness_name, config.witness_channels),
        ):
            rates = {c: real[c] / 4 for c in names}
            data = {c: np.zeros(int(r)) for c, r in rates.items()}
            write_frame(folder / name(IFO, named), data, holds, rates)

    write_pair(int(gps_now()) + 3600, int(gps_now()) + 3600)
    write_pair(GPS + 1, GPS + 7)
    assert read_native_rates(config, channels) == real
