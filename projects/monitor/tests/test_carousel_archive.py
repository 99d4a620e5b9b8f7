"""Carousel bound, spool and archive on real folders and real frames."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from monitor_helpers import GPS0
from monitor_helpers import IFO
from monitor_helpers import released
from monitor_helpers import tick_until

from monitor.carousel import list_frames
from utils.channels import OutputChannels
from utils.gpstime import gps_now
from utils.gwf import read_frame
from utils.names import FrameName
from utils.names import cleaned_description
from utils.names import cleaned_name

CHANNELS = OutputChannels(IFO)
DESCRIPTION = cleaned_description(IFO)


def archived_files(folder) -> dict[tuple[int, int], os.PathLike]:
    """(start, duration) -> path of every archived stretch."""
    out = {}
    for path in folder.glob("*.gwf"):
        name = FrameName.parse(path.name)
        out[(name.gps, name.duration)] = path
    return out


def covered(folder) -> set[int]:
    return {
        g
        for (start, dur) in archived_files(folder)
        for g in range(start, start + dur)
    }


def blocked_archive(tmp_path) -> Path:
    """An archive folder that cannot be made: a file stands where the
    archive mount should be (remove it and the mount is back)."""
    blocker = tmp_path / "cold"
    blocker.write_text("a file where the archive mount should be")
    return blocker / "archive"


def test_carousel_bound_holds_across_a_restart(tmp_path, frames, open_monitor):
    bound = 20
    parts = {"carousel": {"max_frames": bound}}
    first = open_monitor(**parts)
    staged = frames.write(GPS0, 15, folder=tmp_path / "staging")
    for _ in released(first, staged, frames.carousel):
        assert len(list(frames.carousel.glob("*.gwf"))) <= bound
    first.close()
    # the monitor is down while the cleaner writes 45 more frames
    frames.write(GPS0 + 15, 45)
    assert len(list(frames.carousel.glob("*.gwf"))) > bound
    second = open_monitor(**parts)
    second.tick()
    left = sorted(list_frames(frames.carousel, DESCRIPTION))
    assert len(left) <= bound
    assert left == list(range(GPS0 + 60 - len(left), GPS0 + 60))  # newest
    # nothing was lost: every second is archived or still spooled
    spooled = set(list_frames(tmp_path / "archive" / ".spool", DESCRIPTION))
    assert covered(tmp_path / "archive") | spooled >= set(
        range(GPS0, GPS0 + 60)
    )
    assert second.carousel.lost_total == 0
    # and the bound keeps holding as the stream goes on
    staged = frames.write(GPS0 + 60, 12, folder=tmp_path / "staging")
    for _ in released(second, staged, frames.carousel):
        assert len(list(frames.carousel.glob("*.gwf"))) <= bound


def test_archive_holds_exactly_the_right_seconds_and_channels(
    tmp_path, frames, open_monitor
):
    missing = GPS0 + 13
    frames.write(GPS0, 25, skip=(missing,))
    originals = {
        g: read_frame(frames.carousel / cleaned_name(IFO, g))
        for g in range(GPS0, GPS0 + 25)
        if g != missing
    }
    monitor = open_monitor()  # archive_length 10
    tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 25)
    files = archived_files(tmp_path / "archive")
    # split on the 10 s grid and at the gap; [20, 25) still pending
    assert sorted(files) == [(GPS0, 10), (GPS0 + 10, 3), (GPS0 + 14, 6)]
    for (start, duration), path in files.items():
        assert path.name == cleaned_name(IFO, start, duration)
        data = read_frame(path)
        assert set(data) == set(CHANNELS.sample_rates)
        for name, rate in CHANNELS.sample_rates.items():
            assert data[name].sample_rate == rate
            want = np.concatenate(
                [
                    originals[g][name].data
                    for g in range(start, start + duration)
                ]
            )
            np.testing.assert_array_equal(data[name].data, want)
    spooled = set(list_frames(tmp_path / "archive" / ".spool", DESCRIPTION))
    assert spooled == set(range(GPS0 + 20, GPS0 + 25))


def past_a_gap(tmp_path, frames, open_monitor, late: int):
    """12 frames from GPS0 but that of ``late`` in the carousel, and a
    monitor past them (``late`` decided a gap); returns the frames as
    staged (``late``'s still there) and the monitor."""
    staged = frames.write(GPS0, 12, folder=tmp_path / "staging")
    for path in staged:
        if FrameName.parse(path.name).gps != late:
            os.replace(path, frames.carousel / path.name)
    monitor = open_monitor()
    tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 12)
    return staged, monitor


def test_late_frame_after_a_gap_is_archived_on_its_own(
    tmp_path, frames, open_monitor
):
    late = GPS0 + 5
    staged, monitor = past_a_gap(tmp_path, frames, open_monitor, late)
    os.replace(staged[5], frames.carousel / staged[5].name)  # too late
    tick_until(
        monitor, lambda: (late, 1) in archived_files(tmp_path / "archive")
    )
    assert sorted(archived_files(tmp_path / "archive")) == [
        (GPS0, 5),
        (late, 1),
        (GPS0 + 6, 4),
    ]


def test_unwritable_archive_keeps_spool_and_carousel_bound(
    tmp_path, frames, open_monitor, caplog
):
    archive = blocked_archive(tmp_path)
    monitor = open_monitor(
        carousel={"max_frames": 8},
        archive={"archive_dir": archive, "archive_length": 5},
    )
    staged = frames.write(GPS0, 20, folder=tmp_path / "staging")
    with caplog.at_level(logging.ERROR):
        for _ in released(monitor, staged, frames.carousel):
            assert len(list(frames.carousel.glob("*.gwf"))) <= 8
    assert any("cannot write archive" in r.message for r in caplog.records)
    spool = tmp_path / "archive" / ".spool"
    assert set(list_frames(spool, DESCRIPTION)) == set(
        range(GPS0, GPS0 + 20)
    )  # everything kept for later
    assert monitor.carousel.lost_total == 0
    # the mount comes back: the spool drains into the archive
    archive.parent.unlink()
    tick_until(
        monitor, lambda: covered(archive) >= set(range(GPS0, GPS0 + 20))
    )
    assert sorted(archived_files(archive)) == [
        (GPS0 + 5 * i, 5) for i in range(4)
    ]
    assert not list_frames(spool, DESCRIPTION)


def test_unspoolable_frames_do_not_break_the_bound(
    tmp_path, frames, open_monitor, caplog
):
    monitor = open_monitor(carousel={"max_frames": 5})
    spool = tmp_path / "archive" / ".spool"
    shutil.rmtree(spool)
    spool.write_text("the spool is broken")
    frames.write(GPS0, 9)
    with caplog.at_level(logging.ERROR):
        monitor.tick()
    assert len(list(frames.carousel.glob("*.gwf"))) == 5
    assert monitor.carousel.lost_total == 4
    assert sum("LOST" in r.message for r in caplog.records) == 4


def test_carousel_bound_holds_while_the_loop_is_blocked(
    tmp_path, frames, exporter, open_monitor
):
    """The keeper thread prunes while the loop waits on a hung exporter."""
    import threading

    exporter.delay = 3.0  # each promotion round blocks for its timeout
    bound = 10
    monitor = open_monitor(
        carousel={"max_frames": bound, "headroom": 2},
        promotion={"timeout": 1.5},
    )
    staged = frames.write(GPS0, 40, folder=tmp_path / "staging")
    stop = threading.Event()
    loop = threading.Thread(target=monitor.run, args=(stop,))
    loop.start()
    sizes = []
    try:
        for path in staged:
            os.replace(path, frames.carousel / path.name)
            for _ in range(2):
                time.sleep(0.025)
                sizes.append(len(list(frames.carousel.glob("*.gwf"))))
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert max(sizes) <= bound
    assert [r for r in exporter.requests if r[0] == "POST"]  # it did block
    assert monitor.carousel.lost_total == 0


@pytest.mark.parametrize("spool", ["linked", "copied"])
def test_corrupt_frame_is_a_gap_kept_aside(
    tmp_path, frames, open_monitor, caplog, monkeypatch, spool
):
    """Kept aside once, whether the spool links the carousel's files or
    (another filesystem) copies them, with coarser times there: a file
    the cleaner did not replace is not taken for a new one (found by
    review: a copy's time differed, and it was spooled and quarantined
    again every pass)."""
    if spool == "copied":
        copy = shutil.copyfile

        def coarse(source, target):
            copy(source, target)
            whole = int(os.stat(source).st_mtime)  # seconds, as NFS v2
            os.utime(target, (whole, whole))

        def cross_device(*args):
            raise OSError(18, "Invalid cross-device link")

        monkeypatch.setattr(os, "link", cross_device)
        monkeypatch.setattr(shutil, "copy2", coarse)
    frames.write(GPS0, 12)
    bad = frames.carousel / cleaned_name(IFO, GPS0 + 4)
    bad.write_bytes(bad.read_bytes()[:5000])  # truncated by a broken disk
    monitor = open_monitor()
    with caplog.at_level(logging.WARNING):
        tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 12)
        for _ in range(3):
            monitor.carousel.maintain()
            monitor.tick()
    assert list(monitor.history.gaps) == [(GPS0 + 4, GPS0 + 5)]
    assert sum("quarantined" in r.message for r in caplog.records) == 1
    assert "was replaced after" not in caplog.text
    assert any("unusable" in r.message for r in caplog.records)
    corrupt = tmp_path / "archive" / ".spool" / "corrupt" / bad.name
    assert corrupt.exists()  # kept for inspection, never archived
    assert sorted(archived_files(tmp_path / "archive")) == [
        (GPS0, 4),
        (GPS0 + 5, 5),
    ]


def test_spool_is_bounded_while_the_archive_fails(
    tmp_path, frames, open_monitor, caplog
):
    monitor = open_monitor(
        carousel={"max_frames": 4, "max_spool_length": 6},
        archive={
            "archive_dir": blocked_archive(tmp_path),
            "archive_length": 100,
        },
    )
    staged = frames.write(GPS0, 10, folder=tmp_path / "staging")
    with caplog.at_level(logging.ERROR):
        list(released(monitor, staged, frames.carousel))
    spooled = list_frames(tmp_path / "archive" / ".spool", DESCRIPTION)
    assert sorted(spooled) == list(range(GPS0 + 4, GPS0 + 10))  # newest 6
    assert monitor.carousel.lost_total == 4
    assert sum("dropping spooled" in r.message for r in caplog.records) == 4


def test_a_monitor_behind_drops_nothing_while_the_archive_works(
    tmp_path, frames, open_monitor
):
    """Restarted behind the carousel, the monitor finds its frames
    spooled well past max_spool_length: not one is dropped while the
    archive works (found by review: the frames being processed counted,
    and the stretch being filled was dropped 'while the archive fails')."""
    frames.write(GPS0, 20)
    monitor = open_monitor(
        carousel={"max_frames": 4, "max_spool_length": 6},
        archive={"archive_length": 5},
        loop={"max_frames_per_tick": 2},
    )
    tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 20)
    tick_until(
        monitor,
        lambda: covered(tmp_path / "archive") == set(range(GPS0, GPS0 + 20)),
        "every second archived",
    )
    assert monitor.carousel.lost_total == 0


def test_stale_temporary_files_are_swept(tmp_path, frames, open_monitor):
    """Crashed writes' temporaries: the cleaner's in the carousel, a
    spool copy's, an archive write's (a stretch's worth each)."""
    frames.write(GPS0, 12)
    archive = tmp_path / "archive"
    spool = archive / ".spool"
    spool.mkdir(parents=True)
    name = ".L-L1_DEEPCLEAN-{}.gwf.99.abcd.tmp"
    stale = [
        frames.carousel / name.format("1400000100-1"),
        spool / name.format("1400000101-1"),
        archive / name.format("1400000000-10"),
    ]
    fresh = frames.carousel / name.format("1400000103-1")
    for path in (*stale, fresh):
        path.write_bytes(b"half a frame")
    old = time.time() - 3600
    for path in stale:
        os.utime(path, (old, old))
    monitor = open_monitor()
    monitor.tick()
    assert not [path for path in stale if path.exists()]  # an hour ago
    assert fresh.exists()  # maybe being written right now
    assert monitor.sequencer.cursor == GPS0 + 12


def test_a_removed_spool_folder_is_made_again(tmp_path, frames, open_monitor):
    """The archive folder (and the spool in it) removed while the monitor
    runs: the spool is made again and no frame is lost to the carousel's
    bound (found by review: every frame past the bound was lost, and
    nothing said why)."""
    monitor = open_monitor(carousel={"max_frames": 5})
    shutil.rmtree(tmp_path / "archive")
    frames.write(GPS0, 12)
    tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 12)
    tick_until(
        monitor,
        lambda: (GPS0, 10) in archived_files(tmp_path / "archive"),
        "the first stretch archived",
    )
    assert monitor.carousel.lost_total == 0
    spooled = set(list_frames(tmp_path / "archive" / ".spool", DESCRIPTION))
    kept = spooled | covered(tmp_path / "archive")
    assert kept >= set(range(GPS0, GPS0 + 12))


def test_a_release_cut_short_archives_no_second_twice(
    tmp_path, frames, open_monitor
):
    """Killed after an archive was written, half its frames unspooled: the
    monitor restarted unspools the rest instead of archiving those seconds
    into a second file."""
    frames.write(GPS0, 25)
    first = open_monitor()

    def killed(start: int, stop: int) -> None:
        first.carousel.archived.add(start, stop)
        for gps in range(start, (start + stop) // 2):
            first.carousel.spool_path(gps).unlink()
        raise SystemExit("killed")

    first.carousel.release = killed
    with pytest.raises(SystemExit):
        tick_until(first, lambda: False)
    first.close()
    second = open_monitor()
    tick_until(
        second,
        lambda: (GPS0 + 10, 10) in archived_files(tmp_path / "archive"),
        "the second stretch archived",
    )
    stretches = sorted(archived_files(tmp_path / "archive"))
    seconds = [g for a, n in stretches for g in range(a, a + n)]
    assert stretches[0] == (GPS0, 10)
    assert len(seconds) == len(set(seconds))
    spooled = list_frames(tmp_path / "archive" / ".spool", DESCRIPTION)
    assert not set(spooled) & set(range(GPS0, GPS0 + 10))


def test_the_cursor_is_saved_before_seconds_leave_the_spool(
    tmp_path, frames, open_monitor
):
    """Archived seconds leave the spool (and then the carousel): killed
    between that and saving its cursor, a monitor would resume below
    seconds that are gone, and call them a gap. Each archive pass finds
    the cursor it archives below saved already."""
    frames.write(GPS0, 25)
    monitor = open_monitor()
    state = tmp_path / "monitor" / "state.json"
    archive = monitor.archiver.archive
    seen = []

    def checked(cursor, now, spooled):
        saved = json.loads(state.read_text()) if state.exists() else {}
        seen.append((cursor, saved.get("cursor")))
        return archive(cursor, now, spooled)

    monitor.archiver.archive = checked
    tick_until(
        monitor,
        lambda: (GPS0 + 10, 10) in archived_files(tmp_path / "archive"),
        "the second stretch archived",
    )
    assert seen and all(cursor == saved for cursor, saved in seen), seen


def test_an_empty_archive_file_archives_nothing(
    tmp_path, frames, open_monitor, caplog
):
    """An empty file under an archive's name (a write cut short, a stray)
    does not make its seconds count as archived: they are spooled and
    archived, none lost (found by review: they were pruned unarchived,
    and not even counted as lost)."""
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / cleaned_name(IFO, GPS0, 100)).write_bytes(b"")
    frames.write(GPS0, 12)
    with caplog.at_level(logging.WARNING, logger="monitor"):
        monitor = open_monitor(carousel={"max_frames": 5})
    assert "ignoring empty archive file" in caplog.text
    tick_until(
        monitor,
        lambda: (GPS0, 10) in archived_files(archive),
        "the first stretch archived",
    )
    assert monitor.carousel.lost_total == 0


def test_a_late_mislabelled_frame_is_never_archived(
    tmp_path, frames, open_monitor
):
    """After its second was declared a gap, a frame arrives holding
    another second's data under its name: it is quarantined, never
    archived as that second (found by review: it was archived under the
    name's time, beyond any later check)."""
    late = GPS0 + 5
    _, monitor = past_a_gap(tmp_path, frames, open_monitor, late)
    source = tmp_path / "copy.gwf"
    shutil.copy(frames.carousel / cleaned_name(IFO, GPS0 + 8), source)
    os.replace(source, frames.carousel / cleaned_name(IFO, late))
    tick_until(
        monitor,
        lambda: late in monitor.carousel.quarantined,
        "the mislabelled frame quarantined",
    )
    tick_until(
        monitor,
        lambda: (GPS0 + 6, 4) in archived_files(tmp_path / "archive"),
        "the stretch after it archived",
    )
    assert late not in covered(tmp_path / "archive")


def test_a_stray_replaced_by_the_cleaner_costs_no_archived_second(
    tmp_path, frames, open_monitor, caplog
):
    """A stray claims a second the cleaner has not written yet (holding
    another second's data): it is quarantined and the second is a gap.
    The cleaner's frame then replaces it in the carousel: that one is
    spooled and archived (found by review: the second stayed quarantined
    by its GPS, and the cleaner's frame was pruned unarchived)."""
    stray = GPS0 + 5
    staged = frames.write(GPS0, 10, folder=tmp_path / "staging")
    real = read_frame(staged[5], [CHANNELS.production])[CHANNELS.production]
    monitor = open_monitor()
    list(released(monitor, staged[:5], frames.carousel))
    copy = tmp_path / "copy.gwf"
    shutil.copy(staged[8], copy)
    os.replace(copy, frames.carousel / staged[5].name)
    tick_until(
        monitor,
        lambda: stray in monitor.carousel.quarantined,
        "the stray quarantined",
    )
    with caplog.at_level(logging.WARNING, logger="monitor.carousel"):
        list(released(monitor, staged[5:], frames.carousel))
        tick_until(
            monitor,
            lambda: GPS0 + 9 in covered(tmp_path / "archive"),
            "the stretch archived",
        )
    assert "was replaced after" in caplog.text
    stretches = sorted(archived_files(tmp_path / "archive"))
    seconds = [g for a, n in stretches for g in range(a, a + n)]
    assert seconds == list(range(GPS0, GPS0 + 10))  # each second once
    start, length = next(s for s in stretches if s[0] <= stray < sum(s))
    path = archived_files(tmp_path / "archive")[(start, length)]
    archived = read_frame(path, [CHANNELS.production])[CHANNELS.production]
    rate = int(archived.sample_rate)
    second = archived.data[(stray - start) * rate : (stray - start + 1) * rate]
    np.testing.assert_array_equal(second, real.data)  # the cleaner's


def test_a_spool_that_cannot_be_changed_does_not_stop_the_monitor(
    tmp_path, frames, open_monitor, monkeypatch, caplog
):
    """Unspooling fails (a read-only remount; simulated by making
    ``Path.unlink`` fail in the spool: remounting needs root): the error is
    logged and the loop goes on, no second archived twice (found by
    review: tick raised, and the monitor crash-looped on it)."""
    frames.write(GPS0, 22)
    unlink = Path.unlink

    def read_only(self, missing_ok=False):
        if ".spool" in str(self):
            raise OSError(30, "Read-only file system", str(self))
        return unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only)
    monitor = open_monitor()
    with caplog.at_level(logging.ERROR, logger="monitor"):
        tick_until(
            monitor,
            lambda: (GPS0 + 10, 10) in archived_files(tmp_path / "archive"),
            "two stretches archived",
        )
        for _ in range(5):
            monitor.tick()
    assert "cannot unspool" in caplog.text
    assert sorted(archived_files(tmp_path / "archive")) == [
        (GPS0, 10),
        (GPS0 + 10, 10),
    ]


def test_a_frame_of_a_second_not_begun_is_ignored(
    tmp_path, frames, open_monitor, caplog
):
    """A frame named a day ahead in the carousel, then a pause of the
    cleaner longer than missing_timeout: the monitor does not declare
    everything before it a gap, and goes on processing the real frames
    (found by review: its cursor jumped to the stray and validation
    stopped until real time reached it)."""
    frames.write(GPS0, 10)
    monitor = open_monitor()
    tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 10)
    stray = int(gps_now()) + 86400
    shutil.copy(
        frames.carousel / cleaned_name(IFO, GPS0 + 3),
        frames.carousel / cleaned_name(IFO, stray),
    )
    with caplog.at_level(logging.WARNING, logger="monitor"):
        for _ in range(3):
            monitor.tick()
            time.sleep(0.2)  # the cleaner paused past missing_timeout
    assert "have not begun" in caplog.text
    frames.write(GPS0 + 10, 5)
    tick_until(monitor, lambda: monitor.last_gps == GPS0 + 14)
    assert monitor.sequencer.cursor == GPS0 + 15
    assert (frames.carousel / cleaned_name(IFO, stray)).exists()
