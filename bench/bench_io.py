"""Per-second GWF I/O cost: gwframe (utils.gwf) vs gwpy/LALFrame.

Each "second" reads one strain frame (strain + state vector) and one witness
frame (the 18 L1 production witnesses) written by the simulator, and writes
one output frame like the cleaner's (4 channels at 4096 Hz float64, a 16 Hz
int32 state vector, two 1 Hz int32 version tags), atomically.

    .venv/replay/bin/python bench/bench_io.py            # gwframe only
    .venv/monitor/bin/python bench/bench_io.py           # + gwpy/LALFrame

Goal: read + write <= 30 ms per second of data.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from utils.atomic import atomic_path
from utils.channels import OutputChannels
from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.simwriter import strain_path
from utils.simwriter import witness_path

GPS = 1400000000
IFO = "L1"


def output_channels(rng: np.random.Generator) -> tuple[dict, dict]:
    names = OutputChannels(IFO)
    rates = names.sample_rates
    data = {}
    for name, rate in rates.items():
        if rate == 4096:
            data[name] = rng.standard_normal(4096) * 1e-21
        else:
            data[name] = np.full(rate, 3, dtype=np.int32)
    return data, rates


def gwframe_read(config: SimulationConfig, data_dir: Path, gps: int) -> None:
    read_frame(
        strain_path(data_dir, IFO, gps),
        [config.strain_channel, config.state_channel],
    )
    read_frame(witness_path(data_dir, IFO, gps), list(config.witness_channels))


def gwframe_write(path: Path, data: dict, rates: dict, gps: int) -> None:
    write_frame(path, data, gps, rates)


def gwpy_functions() -> tuple[Callable, Callable] | None:
    try:
        from gwpy.timeseries import TimeSeries
        from gwpy.timeseries import TimeSeriesDict
    except ImportError:
        return None

    def read(config: SimulationConfig, data_dir: Path, gps: int) -> None:
        TimeSeriesDict.read(
            str(strain_path(data_dir, IFO, gps)),
            [config.strain_channel, config.state_channel],
        )
        TimeSeriesDict.read(
            str(witness_path(data_dir, IFO, gps)),
            list(config.witness_channels),
        )

    def write(path: Path, data: dict, rates: dict, gps: int) -> None:
        out = TimeSeriesDict()
        for name, values in data.items():
            out[name] = TimeSeries(
                values,
                t0=gps,
                sample_rate=rates[name],
                name=name,
                channel=name,
            )
        with atomic_path(path) as tmp:
            out.write(str(tmp), format="gwf")

    return read, write


def measure(read, write, config, data_dir, out_dir, num) -> np.ndarray:
    """``(num, 2)`` seconds spent reading and writing each second."""
    data, rates = output_channels(np.random.default_rng(0))
    out = np.zeros((num, 2))
    for k in range(num):
        gps = GPS + k
        tic = time.perf_counter()
        read(config, data_dir, gps)
        toc = time.perf_counter()
        write(out_dir / f"L-L1_DEEPCLEAN-{gps}-1.gwf", data, rates, gps)
        out[k] = toc - tic, time.perf_counter() - toc
    return out


def report(name: str, times: np.ndarray) -> None:
    ms = times * 1e3
    total = ms.sum(axis=1)
    print(
        f"{name:16s} read {np.median(ms[:, 0]):6.1f} ms  "
        f"write {np.median(ms[:, 1]):6.1f} ms  "
        f"total median {np.median(total):6.1f} ms  "
        f"p95 {np.percentile(total, 95):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    config = SimulationConfig(ifo=IFO)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        Simulator(config).write_stretch(data_dir, GPS, args.seconds)
        size = sum(
            p.stat().st_size
            for p in (
                strain_path(data_dir, IFO, GPS),
                witness_path(data_dir, IFO, GPS),
            )
        )
        print(
            f"{args.seconds} seconds; input {size / 1e6:.2f} MB/s "
            f"(strain + {len(config.witness_channels)} witnesses)"
        )
        backends = {"gwframe": (gwframe_read, gwframe_write)}
        gwpy = gwpy_functions()
        if gwpy is None:
            print("gwpy not importable here: gwframe only")
        else:
            backends["gwpy/LALFrame"] = gwpy
        for name, (read, write) in backends.items():
            out_dir = Path(tmp) / name.replace("/", "_")
            out_dir.mkdir()
            read(config, data_dir, GPS)  # warm up imports and caches
            report(
                name,
                measure(read, write, config, data_dir, out_dir, args.seconds),
            )


if __name__ == "__main__":
    main()
