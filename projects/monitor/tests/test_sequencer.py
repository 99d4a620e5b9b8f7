"""Bounded waits: a skipped second never stalls the monitor."""

from __future__ import annotations

import os
import time

from monitor_helpers import GPS0
from monitor_helpers import tick_until

from monitor.sequencer import Sequencer
from monitor.sequencer import Step


def test_skipped_second_does_not_stall_the_monitor(
    tmp_path, frames, open_monitor
):
    skipped = GPS0 + 5
    frames.write(GPS0, 12, skip=(skipped,))
    monitor = open_monitor(loop={"missing_timeout": 0.3})
    start = time.monotonic()
    monitor.tick()
    assert monitor.sequencer.cursor == skipped  # waits, bounded
    monitor.tick()
    assert monitor.sequencer.cursor == skipped
    tick_until(
        monitor,
        lambda: monitor.sequencer.cursor == GPS0 + 12,
        "the monitor past the gap",
        timeout=3.0,
    )
    assert time.monotonic() - start >= 0.3  # not declared before timeout
    assert list(monitor.history.gaps) == [(skipped, skipped + 1)]
    assert [r.gps for r in monitor.history.records] == [
        g for g in range(GPS0, GPS0 + 12) if g != skipped
    ]
    # the validation went on across the gap: its 10th second is GPS0+10
    assert monitor.validator.verdicts[2]["gps"] == GPS0 + 10


def test_late_frame_within_the_timeout_is_processed_in_order(
    tmp_path, frames, open_monitor
):
    late = GPS0 + 3
    staged = frames.write(GPS0, 8, folder=tmp_path / "staging")
    for path in staged:
        if path.name != staged[3].name:
            os.replace(path, frames.carousel / path.name)
    monitor = open_monitor(loop={"missing_timeout": 5.0})
    monitor.tick()
    assert monitor.sequencer.cursor == late
    os.replace(staged[3], frames.carousel / staged[3].name)
    monitor.tick()
    assert monitor.sequencer.cursor == GPS0 + 8
    assert not monitor.history.gaps
    assert [r.gps for r in monitor.history.records] == list(
        range(GPS0, GPS0 + 8)
    )


def test_a_restart_reads_each_second_once(tmp_path, frames, open_monitor):
    """A restart warms the history from the seconds already done; a
    restart after GPS went back (a new stream far below the saved cursor,
    in a carousel and spool left empty) has none done, and reads each new
    second once, not once warming and again processing."""
    old = GPS0 + 100_000  # far past the rewind bound
    first = open_monitor()
    frames.write(old, 6)
    tick_until(first, lambda: first.sequencer.cursor == old + 6)
    first.close()
    restarted = open_monitor()
    assert [r.gps for r in restarted.history.records] == list(
        range(old, old + 6)
    )
    restarted.close()
    spool = restarted.config.carousel.spool_dir
    for path in [*frames.carousel.iterdir(), *spool.glob("*.gwf")]:
        path.unlink()
    frames.write(GPS0, 8)
    rewound = open_monitor()
    assert not rewound.history.records
    tick_until(rewound, lambda: rewound.sequencer.cursor == GPS0 + 8)
    assert [r.gps for r in rewound.history.records] == list(
        range(GPS0, GPS0 + 8)
    )


def test_sequencer_plans_in_gps_order_with_bounded_gaps():
    seq = Sequencer(missing_timeout=2.0, max_steps=100, rewind_length=600)
    assert seq.plan([], 0.0) == []
    assert seq.plan([12, 10, 11], 0.0) == [
        Step("frame", 10, 11),
        Step("frame", 11, 12),
        Step("frame", 12, 13),
    ]
    # newest second missing, nothing later: nothing to wait for, no gap
    assert seq.plan([10, 11, 12], 100.0) == []
    # a hole: wait up to the timeout, from when it was first seen
    assert seq.plan([20, 21], 100.0) == []
    assert seq.plan([20, 21], 101.9) == []
    assert seq.plan([20, 21], 102.0) == [
        Step("gap", 13, 20),
        Step("frame", 20, 21),
        Step("frame", 21, 22),
    ]
    # late frames (below the cursor) are not processed again
    assert seq.plan([15, 21], 103.0) == []


def test_sequencer_bounds_work_per_tick_and_follows_gps_back():
    seq = Sequencer(missing_timeout=1.0, max_steps=3, rewind_length=100)
    assert len(seq.plan(range(1000, 1010), 0.0)) == 3
    assert seq.cursor == 1003
    # a new stream far in the past (GPS went back): restart there
    assert seq.plan([500, 501], 1.0)[0] == Step("frame", 500, 501)


def test_a_first_start_begins_with_the_stream_not_a_stray_before_it():
    """A frame a month older than the rest (a stray, an old run's) is not
    where a first start begins: everything between would be a gap."""
    seq = Sequencer(missing_timeout=1.0, max_steps=10, rewind_length=100)
    old = 1000 - 30 * 86400
    assert seq.plan([old, 1000, 1001, 1100], 0.0) == [
        Step("frame", 1000, 1001),
        Step("frame", 1001, 1002),
    ]
