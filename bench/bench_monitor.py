"""Monitor cost: CPU per second of data, status render, archive writes.

Writes simulated cleaned frames (RAW = simulated strain at 4096 Hz, a good
canary, production 1 gated on) into a temporary carousel, then measures:

1. CPU time of :meth:`Monitor.tick` per second of data (read the frame,
   spool it, prune, validate the canary, history), archive excluded;
2. one status-page render (5 PNGs + index.html, spectra and 3 inspiral
   ranges), and what it costs per second at the ``status_interval`` of
   ``[tool.typeo.scripts.monitor]``;
3. wall and CPU time to write one ``archive_length`` stretch from the
   spool, uncompressed and gzip, and its size.

    .venv/monitor/bin/python bench/bench_monitor.py
    .venv/monitor/bin/python bench/bench_monitor.py --seconds 600

Every other value is the root ``pyproject.toml``'s ``[monitor]``. The
exporter URL points at a closed port (promotion attempts fail at once); the
status server and metrics endpoint are off.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from monitor.config import MonitorConfig
from monitor.config import MonitorSettings
from monitor.monitor import Monitor
from utils.channels import OutputChannels
from utils.channels import State
from utils.config import parse_settings
from utils.gwf import write_frame
from utils.names import cleaned_name
from utils.signal import bandpass
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.testing import free_port

IFO = "L1"
GPS = 1_400_000_000
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
STATE = int(
    State.INPUT_OK
    | State.PRODUCTION_OK
    | State.CANARY_OK
    | State.OUT_DQ_ON
    | State.ANALYSIS_READY
)


def simulate(seconds: int) -> tuple[np.ndarray, np.ndarray]:
    """RAW and band-passed truth at 4096 Hz."""
    sim = Simulator(SimulationConfig(ifo=IFO, seed=0))
    parts = [sim.second(g) for g in range(GPS, GPS + seconds)]
    raw = resample_poly(np.concatenate([p.strain for p in parts]), 1, 4)
    truth = resample_poly(np.concatenate([p.truth for p in parts]), 1, 4)
    return raw, bandpass(truth, 58.0, 62.0, 4096)


def write_frames(
    folder: Path, raw: np.ndarray, truth: np.ndarray, start: int, count: int
) -> None:
    """``count`` frames from ``start``, data reused cyclically."""
    c = OutputChannels(IFO)
    folder.mkdir(parents=True, exist_ok=True)
    size = len(raw) // 4096
    for i in range(count):
        part = slice((i % size) * 4096, (i % size + 1) * 4096)
        clean = raw[part] - 0.95 * truth[part]
        data = {
            c.out_dq: clean,
            c.production: clean,
            c.canary: raw[part] - 0.9 * truth[part],
            c.raw: raw[part],
            c.state: np.full(16, STATE, np.int32),
            c.production_version: np.array([1], np.int32),
            c.canary_version: np.array([2], np.int32),
        }
        write_frame(
            folder / cleaned_name(IFO, start + i),
            data,
            start + i,
            c.sample_rates,
        )


def load_settings(root: Path, *flags: str) -> MonitorSettings:
    """``[monitor]`` of the root ``pyproject.toml`` on ``root``."""
    environ = {
        "IFO": IFO,
        "PROJECT_DIR": str(root),
        "DATA_DIR": str(root / "data"),
        "ARCHIVE_DIR": str(root / "archive"),
    }
    argv = ["--typeo", f"{PYPROJECT}:monitor", *flags]
    return parse_settings(MonitorSettings, "monitor", argv, environ=environ)


def settings(root: Path, archive_length: int, compress: bool) -> MonitorConfig:
    flags = [
        "--archive-length",
        str(archive_length),
        # a window never full: no promotion attempts, same per-second work
        "--window-length",
        str(10**6),
        "--exporter-url",
        f"http://127.0.0.1:{free_port()}",  # closed
        "--status-interval",
        "1e9",
        "--health-timeout",
        "2e9",
        "--status-port",
        "0",
        "--metrics-port",
        "0",
    ]
    if compress:
        flags.append("--archive-compress")
    config = load_settings(root, *flags).monitor_config("bench-token")
    return replace(
        config, loop=replace(config.loop, max_frames_per_tick=10**6)
    )


def bench_ticks(root: Path, raw, truth, seconds: int) -> tuple[Monitor, float]:
    """Feed ``seconds`` frames one per tick; archive never completes."""
    staging = root / "staging"
    write_frames(staging, raw, truth, GPS, seconds)
    monitor = Monitor(settings(root, 10**6, False))
    monitor.tick()  # warm-up: imports, folders
    cpu = wall = 0.0
    for gps in range(GPS, GPS + seconds):
        name = cleaned_name(IFO, gps)
        os.replace(staging / name, root / "carousel" / name)
        c0, w0 = time.process_time(), time.perf_counter()
        monitor.tick()
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
    print(
        f"tick: {1e3 * cpu / seconds:.2f} ms CPU, {1e3 * wall / seconds:.2f}"
        f" ms wall per second of data ({seconds} s, carousel bound "
        f"{monitor.config.carousel.max_frames})"
    )
    return monitor, cpu / seconds


def bench_render(monitor: Monitor, renders: int, interval: float) -> float:
    times = []
    for i in range(renders + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        monitor.render_status()
        if i:  # the first one imports gwpy and warms caches
            times.append((time.process_time() - c0, time.perf_counter() - w0))
    cpu, wall = np.median(times, axis=0)
    print(
        f"status render: {cpu:.2f} s CPU, {wall:.2f} s wall (median of "
        f"{renders}); at one render per {interval:.0f} s: "
        f"{1e3 * cpu / interval:.0f} ms CPU per second of data"
    )
    return cpu / interval


def bench_archive(
    root: Path, raw, truth, length: int, compress: bool
) -> float:
    case = root / f"archive-{int(compress)}"
    monitor = Monitor(settings(case, length, compress))
    write_frames(case / "archive" / ".spool", raw, truth, GPS, length)
    # the archiver's own plan: one stretch where GPS is on its grid
    c0, w0 = time.process_time(), time.perf_counter()
    written = monitor.archiver.archive(
        GPS + length, 0.0, range(GPS, GPS + length)
    )
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    assert sum(w[0].duration for w in written) == length, written
    paths = [monitor.archiver.path_of(w[0]) for w in written]
    size = sum(p.stat().st_size for p in paths) / 2**20
    label = "gzip" if compress else "uncompressed"
    print(
        f"archive {length} s stretch ({label}): {wall:.2f} s wall, "
        f"{cpu:.2f} s CPU, {size:.0f} MiB"
    )
    monitor.close()
    shutil.rmtree(case)
    return cpu / length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds",
        type=int,
        default=300,
        help="seconds of data fed to the loop",
    )
    parser.add_argument(
        "--archive-length",
        type=int,
        help="s per stretch (default: [monitor]'s)",
    )
    parser.add_argument("--renders", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    t0 = time.perf_counter()
    raw, truth = simulate(min(args.seconds, 120))
    print(
        f"simulated {len(raw) // 4096} s in {time.perf_counter() - t0:.1f}"
        f" s (not counted)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        monitor, tick = bench_ticks(root / "loop", raw, truth, args.seconds)
        defaults = load_settings(root)  # [monitor] of pyproject.toml
        render = bench_render(monitor, args.renders, defaults.status_interval)
        monitor.close()
        length = args.archive_length or defaults.archive_length
        archive = [
            bench_archive(root, raw, truth, length, c) for c in (False, True)
        ]
    total = tick + render + archive[0]
    print(
        f"total: {1e3 * total:.0f} ms CPU per second of data "
        f"({100 * total:.1f}% of one core; uncompressed archive)"
    )


if __name__ == "__main__":
    main()
