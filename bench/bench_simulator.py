"""Throughput of the frame simulator: seconds of data per wall second.

    .venv/replay/bin/python bench/bench_simulator.py [--seconds 60]

Measures, for the 18 L1 production witnesses: generating seconds in memory
(``Simulator.second``), and generating + writing the three frames of each
second (strain, witnesses, truth) with 1 and 2 worker processes (the
machine has 2 cores). Goal: >= 5x real time on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from utils.simulation import SimulationConfig
from utils.simulation import Simulator

GPS = 1400000000


def write_range(args: tuple[str, int, int]) -> int:
    data_dir, start, num = args
    Simulator(SimulationConfig()).write_stretch(Path(data_dir), start, num)
    return num


def generate(seconds: int) -> float:
    sim = Simulator(SimulationConfig())
    sim.second(GPS - 1)  # warm up
    tic = time.perf_counter()
    for k in range(seconds):
        sim.second(GPS + k)
    return seconds / (time.perf_counter() - tic)


def write(seconds: int, workers: int, data_dir: Path) -> float:
    chunk = -(-seconds // workers)
    jobs = [
        (str(data_dir), GPS + k, min(chunk, seconds - k))
        for k in range(0, seconds, chunk)
    ]
    with ProcessPoolExecutor(workers) as pool:
        pool.submit(write_range, (str(data_dir / "warm"), GPS, 1)).result()
        tic = time.perf_counter()
        done = sum(pool.map(write_range, jobs))
        elapsed = time.perf_counter() - tic
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    print(f"{args.seconds} s of 16384 Hz strain + 18 witnesses + truth")
    speed = generate(args.seconds)
    print(f"generate only, 1 process : {speed:6.1f} x real time")
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            speed = write(args.seconds, workers, Path(tmp))
        print(f"generate + write, {workers} proc : {speed:6.1f} x real time")


if __name__ == "__main__":
    main()
