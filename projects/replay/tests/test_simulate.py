"""The ``simulate`` mode writing real GWF files into ``tmp_path``."""

from __future__ import annotations

import math
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from replay_settings import PACE
from replay_settings import SETTINGS

from conftest import GPS
from replay.config import SimulateConfig
from replay.metrics import SourceMetrics
from replay.simulate import SimulationSource
from utils.gpstime import gps_now
from utils.gpstime import gps_to_unix
from utils.gwf import read_frame
from utils.names import list_frames
from utils.simulation import Fault
from utils.simulation import Simulator
from utils.testing import free_port
from utils.testing import metric_value


def folders(data_dir: Path) -> dict[str, Path]:
    return {k: data_dir / k / "L1" for k in ("kafka", "lldetchar", "truth")}


def gps_in(folder: Path) -> list[int]:
    return [frame.gps for frame in list_frames(folder)]


def make(tmp_path, simulation, **kwargs) -> SimulateConfig:
    """The root configuration's simulate mode, fast, into ``tmp_path``,
    without a prefill unless asked."""
    pace = replace(
        PACE,
        speed=kwargs.pop("speed", 40.0),
        start_gps=kwargs.pop("start_gps", GPS),
        duration=kwargs.pop("duration", 4),
        keep_length=kwargs.pop("keep_length", PACE.keep_length),
    )
    kwargs.setdefault("prefill_length", 0)
    return replace(
        SETTINGS.simulate_config(),
        data_dir=tmp_path,
        simulation=simulation,
        pace=pace,
        **kwargs,
    )


def test_prefill_and_live_seconds(tmp_path, simulation, stop, metrics):
    config = make(tmp_path, simulation, prefill_length=3, duration=4)
    written = SimulationSource(config, stop, metrics).run()
    expected = list(range(GPS - 3, GPS + 4))
    assert written == 7
    for folder in folders(tmp_path).values():
        assert gps_in(folder) == expected
    # the files hold exactly the simulator's data for their GPS second
    sim = Simulator(simulation)
    for gps in (GPS - 3, GPS + 3):
        frame = read_frame(
            folders(tmp_path)["kafka"] / f"L-L1_llhoft-{gps}-1.gwf"
        )
        np.testing.assert_array_equal(
            frame["L1:GDS-CALIB_STRAIN"].data, sim.second(gps).strain
        )
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]


def test_live_seconds_follow_the_pace(tmp_path, simulation, stop, metrics):
    config = make(tmp_path, simulation, speed=10.0, duration=5)
    tic = time.monotonic()
    SimulationSource(config, stop, metrics).run()
    elapsed = time.monotonic() - tic
    # second k is written (k + 1) / speed after the start: 0.5 s for 5
    assert 0.5 <= elapsed < 2.0


@pytest.mark.parametrize("prefill", [0, 60])
def test_aligned_to_gps_clock_at_real_time(
    tmp_path, simulation, stop, prefill
):
    """At speed 1, second g appears when the GPS clock passes g + 1, also
    after a prefill that takes seconds to write (slowed down here to ~4 s,
    as the production one of 300 s takes ~13 s on this machine: the live
    seconds used to be late by the prefill's duration, for good)."""
    metrics = SourceMetrics(0)
    # 6 live seconds: those due during the (~4 s) prefill are written at
    # once after it, the last ones on schedule again
    config = make(
        tmp_path,
        simulation,
        speed=1.0,
        start_gps=0,
        duration=6,
        prefill_length=prefill,
    )
    source = SimulationSource(config, stop, metrics)
    assert source.start_gps == math.floor(gps_now())
    write = source.simulator.write

    prefill_end = time.time()

    def slow_prefill(gps, *args):
        nonlocal prefill_end
        if gps < source.start_gps:
            time.sleep(0.05)
            written = write(gps, *args)
            prefill_end = time.time()
            return written
        return write(gps, *args)

    source.simulator.write = slow_prefill
    live = range(source.start_gps, source.start_gps + 6)
    seen: dict[int, float] = {}
    strain = folders(tmp_path)["kafka"]

    def watch() -> None:
        deadline = time.monotonic() + 15
        while len(seen) < len(live) and time.monotonic() < deadline:
            for gps in gps_in(strain):
                if gps in live:
                    seen.setdefault(gps, time.time())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    source.run()
    watcher.join(timeout=16)
    assert sorted(seen) == list(live)
    # never before its second has ended (those due during the prefill are
    # written at once after it)
    for gps, when in seen.items():
        assert gps_to_unix(gps + 1) <= when
    # the last one on the GPS clock again: less than a second late, or, if
    # this machine took longer to catch up, far less late than the
    # prefill's duration (by which a schedule fixed after it is late)
    prefill_length = prefill_end - gps_to_unix(source.start_gps)
    late = seen[live[-1]] - gps_to_unix(live[-1] + 1)
    assert late < max(0.9, prefill_length / 2)


def test_scheduled_faults(tmp_path, simulation, stop, metrics):
    faults = {
        0: Fault.DROP,
        1: Fault.NOT_READY,
        2: Fault.LATE,
        3: Fault.CORRUPT,
    }
    config = make(
        tmp_path, simulation, duration=5, faults=faults, late_delay=0.2
    )
    SimulationSource(config, stop, metrics).run()
    dirs = folders(tmp_path)
    assert gps_in(dirs["kafka"]) == [GPS + 1, GPS + 2, GPS + 3, GPS + 4]
    assert gps_in(dirs["truth"]) == list(range(GPS, GPS + 5))
    state = read_frame(dirs["kafka"] / f"L-L1_llhoft-{GPS + 1}-1.gwf")
    assert set(state["L1:GDS-CALIB_STATE_VECTOR"].data) == {1}
    with pytest.raises(Exception, match="cannot read"):
        read_frame(dirs["kafka"] / f"L-L1_llhoft-{GPS + 3}-1.gwf")
    counted = metric_value(metrics.faults, "late")
    assert counted == 1


def test_random_faults_are_seeded(tmp_path, simulation, stop, metrics):
    config = make(
        tmp_path, simulation, fault_rate=0.3, fault_kinds=(Fault.DROP,)
    )
    source = SimulationSource(config, stop, metrics)
    draws = [source.fault_of(GPS + k) for k in range(200)]
    again = SimulationSource(config, stop, metrics)
    assert draws == [again.fault_of(GPS + k) for k in range(200)]
    rate = sum(d is Fault.DROP for d in draws) / 200
    # binomial(200, 0.3): standard deviation 0.032; 4 sigma
    assert abs(rate - 0.3) < 0.13
    assert set(draws) <= {None, Fault.DROP}


def test_pruning_keeps_the_last_seconds(tmp_path, simulation, stop, metrics):
    config = make(
        tmp_path, simulation, prefill_length=3, duration=6, keep_length=4
    )
    strain = folders(tmp_path)["kafka"]
    strain.mkdir(parents=True)
    (strain / "notes.txt").write_text("not a frame")
    SimulationSource(config, stop, metrics).run()
    assert (strain / "notes.txt").exists()
    for folder in folders(tmp_path).values():
        assert gps_in(folder) == list(range(GPS + 2, GPS + 6))
    assert metric_value(metrics.pruned) == 3 * 5  # 5 seconds x 3 folders


def test_restart_leaves_existing_frames(tmp_path, simulation, stop, metrics):
    first = make(tmp_path, simulation, prefill_length=3, duration=2)
    SimulationSource(first, stop, metrics).run()
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.gwf")}
    second = make(tmp_path, simulation, prefill_length=3, duration=3)
    written = SimulationSource(second, stop, metrics).run()
    assert written == 1  # only GPS + 2 is new
    for path, mtime in before.items():
        assert path.stat().st_mtime_ns == mtime


def test_stop_event_ends_the_loop(tmp_path, simulation, stop, metrics):
    config = make(tmp_path, simulation, speed=2.0, duration=0)
    source = SimulationSource(config, stop, metrics)
    timer = threading.Timer(1.2, stop.set)
    timer.start()
    tic = time.monotonic()
    source.run()
    timer.join()
    assert time.monotonic() - tic < 2.0
    assert 1 <= len(gps_in(folders(tmp_path)["kafka"])) <= 3


def test_metrics_are_served(tmp_path, simulation, stop):
    port = free_port()
    metrics = SourceMetrics(port)
    try:
        SimulationSource(
            make(tmp_path, simulation, duration=2), stop, metrics
        ).run()
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    finally:
        metrics.close()
    assert 'deepclean_replay_frames_written_total{kind="strain"} 2.0' in text
    gauge = [
        ln
        for ln in text.splitlines()
        if ln.startswith("deepclean_replay_last_gps")
    ]
    assert [float(ln.split()[1]) for ln in gauge] == [GPS + 1]
