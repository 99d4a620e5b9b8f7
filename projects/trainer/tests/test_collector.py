"""Collecting training data from real GWF frames: drops, not-ready periods.

Frames are written by the simulator into ``tmp_path`` and read back by the
shared follower and Preprocessor, exactly as the service does.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest

from conftest import GPS
from trainer.collector import Collector
from utils.follower import FrameFollower
from utils.follower import FrameSecond
from utils.gwf import Series
from utils.simulation import Fault
from utils.stream import RATE_CHANGE_LENGTH
from utils.stream import Resampler

RATE = 4096


def _collect(sim, settings, duration, faults=None, **collect):
    """Write ``duration`` frames from GPS and collect all of them."""
    sim.write_stretch(settings.data_dir, GPS, duration, faults or {})
    stream = settings.stream_config()
    follower = FrameFollower(stream, start=GPS)
    resampler = Resampler(
        [stream.strain_channel, *stream.witness_channels],
        settings.preprocess_config(),
    )
    config = settings.collect_config(max_length=duration)
    collector = Collector(replace(config, **collect))
    seconds = []
    for _ in range(duration):
        for second in resampler.push(follower.next_second()):
            collector.add(second)
            seconds.append(second)
    return collector, seconds


def test_clean_stream_is_one_contiguous_set(sim, settings) -> None:
    collector, seconds = _collect(sim, settings, 12)
    # output second s needs raw s + 2: GPS+1 .. GPS+9 (the first has no
    # resampling context before it)
    assert [s.gps for s in seconds] == list(range(GPS + 1, GPS + 10))
    assert (collector.gps_start, collector.gps_stop) == (GPS + 1, GPS + 10)
    stretch = collector.snapshot(9)
    assert stretch.witness.shape == (3, 9 * RATE)
    assert stretch.witness.dtype == np.float32
    assert stretch.strain.dtype == np.float64
    np.testing.assert_array_equal(stretch.strain[-RATE:], seconds[-1].data[0])


def test_drops_are_zero_filled_and_tapered(sim, settings) -> None:
    """The seed's handling: the second before a drop tapered out, zeros,
    the second after tapered in; the set stays contiguous."""
    drop = GPS + 6
    collector, _ = _collect(sim, settings, 14, {drop: Fault.DROP})
    assert collector.length == 11 and collector.sets_dropped == 0
    stretch = collector.snapshot(11)
    offset = (drop - stretch.gps_start) * RATE
    strain = stretch.strain
    assert np.all(strain[offset : offset + RATE] == 0)
    assert np.all(stretch.witness[:, offset : offset + RATE] == 0)
    rms = np.std(strain[: offset - RATE])
    edge = RATE // 100  # 10 ms either side of the gap
    assert np.max(np.abs(strain[offset - edge : offset])) < 0.05 * rms
    after = offset + RATE
    assert np.max(np.abs(strain[after : after + edge])) < 0.05 * rms


def test_too_many_drops_drop_the_set(sim, settings) -> None:
    """max_consecutive_drops is 3: four in a row drop what was collected;
    collection starts again with the next real second."""
    faults = {GPS + g: Fault.DROP for g in range(6, 10)}
    collector, _ = _collect(sim, settings, 16, faults)
    assert collector.sets_dropped == 1
    assert collector.gps_start == GPS + 10
    assert collector.gps_stop == GPS + 14


def test_not_ready_drops_the_set_until_ready_long_enough(
    sim, settings
) -> None:
    """A not-ready second drops the set; collection resumes after
    ready_settle_length (2) ready seconds."""
    collector, seconds = _collect(
        sim, settings, 16, {GPS + 6: Fault.NOT_READY}
    )
    assert [s.gps for s in seconds if not s.ready] == [GPS + 6]
    assert collector.sets_dropped == 1
    assert collector.gps_start == GPS + 9
    assert collector.gps_stop == GPS + 14


@pytest.mark.parametrize("settle", [0, 4])
def test_settle_length_is_configuration(sim, settings, settle) -> None:
    collector, _ = _collect(
        sim,
        settings,
        16,
        {GPS + 6: Fault.NOT_READY},
        ready_settle_length=settle,
    )
    assert collector.gps_start == GPS + 7 + settle


def test_snapshot_is_the_newest_and_bounded(sim, settings) -> None:
    collector, _ = _collect(sim, settings, 14, max_length=5)
    assert collector.length == 5
    stretch = collector.snapshot(3)
    assert (stretch.gps_start, stretch.gps_stop) == (GPS + 9, GPS + 12)
    with pytest.raises(ValueError):
        collector.snapshot(6)


def _second(gps: int, witness_rate: int, rng) -> FrameSecond:
    """A second of ready input: strain at 16384 Hz, one witness."""
    return FrameSecond(
        gps,
        Series(rng.normal(size=16384), 16384.0),
        Series(np.full(16, 3), 16.0),
        {"L1:W": Series(rng.normal(size=witness_rate), float(witness_rate))},
    )


def test_rates_that_change_for_good_are_resampled_at(settings, caplog):
    """The first second's witness at 512 Hz, every later one at 256 Hz:
    after RATE_CHANGE_LENGTH such seconds they are resampled at the new
    rate, said in the log, and collected again (found by review: every
    later second was dropped, silently, and the trainer never trained
    again). One odd second among the usual ones is only dropped."""
    rng = np.random.default_rng(0)
    resampler = Resampler(["L1:S", "L1:W"], settings.preprocess_config())
    collector = Collector(settings.collect_config(max_length=100))
    rates = [512, 256, *[512] * 8, 256, *[512] * 4]  # odd ones: dropped
    rates += [256] * (RATE_CHANGE_LENGTH + 20)  # for good
    dropped = []
    with caplog.at_level(logging.WARNING, logger="utils.stream"):
        for k, rate in enumerate(rates):
            for second in resampler.push(_second(GPS + k, rate, rng)):
                collector.add(second)
                if second.dropped:
                    dropped.append(second.gps - GPS)
    changed = len(rates) - RATE_CHANGE_LENGTH - 20
    assert dropped[:2] == [1, 10]
    late = dropped[2:]
    assert all(changed <= k < changed + RATE_CHANGE_LENGTH for k in late)
    assert "L1:W 512 -> 256 Hz" in caplog.text
    assert "resampling at them" in caplog.text
    assert collector.gps_stop == GPS + len(rates) - 2  # as the clean stream
    assert collector.length >= 18
