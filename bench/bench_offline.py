"""Offline reprocessing speed of a stored stretch (goal: >= 200x real time
on 2 cores).

Reads a stretch of stored raw frames (strain + witnesses, GWF), resamples to
4096 Hz, runs the network in long windows with ONNX Runtime (one pass per
chunk, edges trimmed: the window scheme), band-passes the prediction and
subtracts it, writing nothing. Prints seconds of data per wall second for
each stage and in total.

    .venv/exporter/bin/python bench/bench_offline.py [--duration 256]
        [--run PROJECT_DIR/train/<span>] [--chunk-length 64] [--threads 2]

Without ``--run`` a network of the production architecture with random
weights is used: the cost does not depend on the weights.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from scipy.signal import resample_poly

from utils.gwf import read_frame
from utils.names import strain_name
from utils.names import witness_name
from utils.nn.architecture import DeepClean
from utils.nn.checkpoint import load_model
from utils.signal import bandpass
from utils.simulation import SimulationConfig
from utils.simulation import Simulator

RATE = 4096
EDGE = 0.25  # s trimmed at each chunk edge (>> receptive field)


def export_onnx(model: DeepClean, path: Path) -> None:
    dummy = torch.zeros(1, model.num_witnesses, 8 * RATE)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        dynamo=False,
        input_names=["witness"],
        output_names=["noise"],
        dynamic_axes={"witness": {0: "b", 2: "t"}, "noise": {0: "b", 1: "t"}},
    )


def read_stretch(data_dir: Path, config: SimulationConfig, gps0: int, n: int):
    strain, witnesses = [], []
    for gps in range(gps0, gps0 + n):
        raw = read_frame(
            data_dir / "kafka" / config.ifo / strain_name(config.ifo, gps),
            [config.strain_channel],
        )
        wit = read_frame(
            data_dir
            / "lldetchar"
            / config.ifo
            / witness_name(config.ifo, gps),
            list(config.witness_channels),
        )
        strain.append(raw[config.strain_channel])
        witnesses.append([wit[c] for c in config.witness_channels])
    return strain, witnesses


def resample(series_list) -> np.ndarray:
    rate = series_list[0].sample_rate
    x = np.concatenate([s.data for s in series_list]).astype(np.float64)
    ratio = Fraction(RATE) / Fraction(rate).limit_denominator()
    if ratio == 1:
        return x
    return resample_poly(x, ratio.numerator, ratio.denominator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=256)
    parser.add_argument("--chunk-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run", type=Path, default=None)
    args = parser.parse_args()

    config = SimulationConfig()
    work = Path(tempfile.mkdtemp(prefix="bench-offline-"))
    gps0 = 1400000000
    sim = Simulator(config)
    sim.write_stretch(work, gps0, args.duration)

    if args.run is not None:
        model, _ = load_model(args.run)
    else:
        model = DeepClean(len(config.witness_channels)).eval()
    onnx_path = work / "model.onnx"
    export_onnx(model, onnx_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(
        str(onnx_path), options, providers=["CPUExecutionProvider"]
    )

    timings = {"read": 0.0, "resample": 0.0, "network": 0.0, "filter": 0.0}
    edge = int(EDGE * RATE)
    total_start = time.perf_counter()
    for start in range(0, args.duration, args.chunk_length):
        n = min(args.chunk_length, args.duration - start)
        t = time.perf_counter()
        strain_s, witness_s = read_stretch(work, config, gps0 + start, n)
        timings["read"] += time.perf_counter() - t

        t = time.perf_counter()
        strain = resample(strain_s)
        witness = np.stack(
            [
                resample([w[i] for w in witness_s])
                for i in range(len(witness_s[0]))
            ]
        ).astype(np.float32)
        timings["resample"] += time.perf_counter() - t

        t = time.perf_counter()
        size = witness.shape[-1] // 16 * 16
        noise = session.run(None, {"witness": witness[None, :, :size]})[0][0]
        timings["network"] += time.perf_counter() - t

        t = time.perf_counter()
        cleaned = strain[edge : size - edge] - bandpass(
            noise[edge : size - edge].astype(np.float64), 58.0, 62.0, RATE
        )
        timings["filter"] += time.perf_counter() - t
        del cleaned
    total = time.perf_counter() - total_start

    print(
        f"offline reprocessing of {args.duration} s of stored frames "
        f"({len(config.witness_channels)} witnesses, chunks of "
        f"{args.chunk_length} s, ONNX Runtime {args.threads} threads)"
    )
    for stage, seconds in timings.items():
        print(
            f"  {stage:9s} {1e3 * seconds / args.duration:7.2f} ms per s "
            f"of data"
        )
    print(
        f"  total     {1e3 * total / args.duration:7.2f} ms per s of data "
        f"= {args.duration / total:.0f}x real time"
    )


if __name__ == "__main__":
    main()
