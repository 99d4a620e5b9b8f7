"""Throughput and memory of the ``reprocess`` command (projects/reprocess).

    .venv/reprocess/bin/python bench/bench_reprocess.py [--hours 1 4]
    .venv/reprocess/bin/python bench/bench_reprocess.py --train

Stored data: 256 s simulated once (the project's simulator), written as
64-s llhoft/lldetchar files tiled over the longest span (same samples,
successive GPS times; the throughput does not depend on the content),
listed by a LAL cache. Model: version 3 of a repository, by default
the DeepClean network (the production architecture, exported to ONNX as
the exporter does) with random weights: its cost does not depend on the
weights, and it is most of a task's; ``--network regression``: the
fitted ONNX regression of the tests (``projects/reprocess/tests/
stored.py``), which cleans the data but costs almost nothing.

Prints:
- the command's fixed cost (start-up, LocalCluster, summary: a 64-s
  span), then for each span of ``--scaling-hours`` (1 h and 4 h) the
  real-time factor of the whole command (start-up, LocalCluster, read,
  clean, write, summary) with 1 and 2 workers, the scaling efficiency
  (RT(2) / (2 RT(1))), and both without the fixed cost. A file is one
  task, so the span is cut into ``--scaling-length`` s files (default
  900: 4 files an hour), as a real reprocessing of a run has many files:
  with the default 4096-s files an hour would be one task, which a second
  worker cannot share;
- peak RSS per worker for each span in ``--hours`` with the default
  (section's) file length, the command joining a LocalCluster of 2
  workers started here (``--scheduler``), read from the workers after the
  run: a worker holds one file at a time, so its peak must not grow with
  the span;
- the in-band ASD ratio of the cleaned output (``--network regression``
  only: random weights clean nothing).

``--train``: train-as-you-go instead. ``--train-files`` files of
``--train-length`` s (one training chunk each) of freshly simulated data
(not tiled: each file is new data), with the section's training values
(the trainer's), on 2 workers; then the fixed model on the same span.
Prints the seconds of training (read + train, summed over the training
tasks) per second of data, the wall time, each file's warm start and
losses, and the removed fraction of removable in-band noise power of both
runs, from the simulator's truth (as bench/bench_quality.py):
``removed = 1 - (P_band(cleaned) - P_band(raw - truth)) / P_band(truth)``
at 16384 Hz over the whole span.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "projects" / "reprocess" / "tests"))
import stored  # noqa: E402

from utils.gwf import write_frame  # noqa: E402
from utils.names import FrameName  # noqa: E402

SPAN_START = 1_399_910_400  # a multiple of 4096 s and of 900 s files
FILE_LENGTH = 64  # s per input file
SIM_LENGTH = 256  # s simulated, then tiled
PAD = 64  # s of data before and after the longest span
RUN_TIMEOUT = 3600  # s for one command
SCRIPT = Path(sys.executable).parent / "reprocess"


def simulate(sim) -> dict[str, dict]:
    """``{frame type: {channel: samples}}`` of SIM_LENGTH s."""
    return simulate_span(sim, stored.GPS, SIM_LENGTH)[0]


def simulate_span(sim, gps: int, length: int) -> tuple[dict, np.ndarray]:
    """:func:`simulate` of ``[gps, gps + length)``, and the truth (the
    coupled noise in the strain)."""
    seconds = [sim.second(gps + i) for i in range(length)]
    config = sim.config
    strain = {
        config.strain_channel: np.concatenate([s.strain for s in seconds]),
        config.state_channel: np.concatenate([s.state for s in seconds]),
    }
    witness = {
        n: np.concatenate([s.witnesses[n].data for s in seconds])
        for n in config.witness_channels
    }
    truth = np.concatenate([s.truth for s in seconds])
    return {"llhoft": strain, "lldetchar": witness}, truth


def write_tiles(
    sim,
    data: dict,
    folder: Path,
    start: int,
    stop: int,
    period: int = SIM_LENGTH,
):
    """64-s files over ``[start, stop)``, ``data`` repeated every
    ``period`` s; returns their paths."""
    rates = {config_channel: rate for config_channel, rate in _rates(sim)}
    paths = []
    for gps in range(start, stop, FILE_LENGTH):
        offset = (gps - start) % period
        for kind, channels in data.items():
            piece = {
                name: x[
                    offset * rates[name] : (offset + FILE_LENGTH) * rates[name]
                ]
                for name, x in channels.items()
            }
            name = FrameName("L", f"{stored.IFO}_{kind}", gps, FILE_LENGTH)
            path = folder / name.filename
            write_frame(path, piece, gps, {n: rates[n] for n in piece})
            paths.append(path)
    return paths


def _rates(sim):
    config = sim.config
    yield config.strain_channel, config.strain_rate
    yield config.state_channel, config.state_rate
    for name in config.witness_channels:
        yield name, config.sample_rate(name)


def command(tmp: Path, out: Path, hours: float, *more: str) -> list[str]:
    return [
        str(SCRIPT),
        "--typeo",
        f"{ROOT}/pyproject.toml:reprocess",
        "--data-dir",
        str(tmp),
        "--frame-cache",
        str(tmp / "frames.cache"),
        "--gps-start",
        str(SPAN_START),
        "--gps-end",
        str(SPAN_START + round(hours * 3600)),
        "--model-repo",
        str(tmp / "model_repo"),
        "--version",
        str(stored.VERSION),
        "--output-dir",
        str(out),
        *more,
    ]


def run(args: list[str], tmp: Path) -> float:
    env = {**os.environ, "IFO": "L1", "PROJECT_DIR": str(tmp)}
    env["DATA_DIR"] = str(tmp)
    began = time.monotonic()
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    wall = time.monotonic() - began
    if done.returncode != 0:
        sys.exit(
            f"reprocess failed ({done.returncode}): {done.stderr[-3000:]}"
        )
    return wall


def peak_rss(tmp: Path, hours: float) -> tuple[list[float], int]:
    """MiB per worker of a 2-worker LocalCluster after one run, and the
    number of files written."""
    from distributed import Client
    from distributed import LocalCluster

    def rss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, memory_limit="8GiB"
        ) as cluster,
        Client(cluster) as client,
    ):
        out = tmp / f"rss-{hours:g}h"
        args = command(
            tmp, out, hours, "--scheduler", cluster.scheduler_address
        )
        run(args, tmp)
        files = len(list(out.glob("L-L1_HOFT_DEEPCLEAN-*.gwf")))
        return sorted(client.run(rss).values()), files


def removed_of(
    out: Path, raw: np.ndarray, truth: np.ndarray, rate: int
) -> float:
    """:func:`utils.quality.removed_fraction` over the output files of
    ``out`` (``raw``, ``truth``: the span's, at ``rate``)."""
    from utils.channels import OutputChannels
    from utils.gwf import read_frame
    from utils.quality import removed_fraction

    channel = OutputChannels(stored.IFO).out_dq
    cleaned = np.concatenate(
        [
            read_frame(p)[channel].data
            for p in sorted(out.glob("L-L1_HOFT_DEEPCLEAN-*.gwf"))
        ]
    )
    if cleaned.size != raw.size:
        sys.exit(f"{out}: {cleaned.size} samples, not {raw.size}")
    return removed_fraction(cleaned, raw, truth, stored.BAND, rate)


def write_network(repository: Path, num_witnesses: int) -> None:
    """Replace the repository's ``model.onnx`` by a DeepClean network of
    random weights (module docstring)."""
    import torch

    from bench_offline import export_onnx
    from utils.nn.architecture import DeepClean

    torch.manual_seed(0)
    path = repository / "deepclean" / str(stored.VERSION) / "model.onnx"
    export_onnx(DeepClean(num_witnesses).eval(), path)


def bench_train(files: int, length: int, max_epochs: int) -> None:
    """Train-as-you-go vs the fixed model (module docstring);
    ``max_epochs`` > 0 replaces the section's."""
    with tempfile.TemporaryDirectory(prefix="bench-reprocess-") as name:
        tmp = Path(name)
        sim = stored.simulator()
        span = files * length
        began = time.monotonic()
        data, truth = simulate_span(sim, SPAN_START - PAD, span + 2 * PAD)
        paths = write_tiles(
            sim, data, tmp, SPAN_START - PAD, SPAN_START + span + PAD, span
        )
        stored.write_cache(paths, tmp / "frames.cache")
        stored.write_repository(
            tmp / "model_repo", sim, stored.fit_coefficients(sim)
        )
        rate = sim.config.strain_rate
        strain = data["llhoft"][sim.config.strain_channel]
        core = slice(PAD * rate, (PAD + span) * rate)
        raw, truth = strain[core], truth[core]
        print(
            f"data: {span} s simulated (+{PAD} s each side), "
            f"{time.monotonic() - began:.0f} s"
        )
        hours = span / 3600
        more = ("--workers", "2", "--frame-length", str(length))
        out = tmp / "train"
        epochs = ("--max-epochs", str(max_epochs)) if max_epochs else ()
        train = ("--model-source", "train", *epochs)
        wall = run(command(tmp, out, hours, *train, *more), tmp)
        trained = [
            json.loads(p.read_text())["model"]
            for p in sorted((out / "summary").glob("*HOFT*.json"))
        ]
        training = sum(m["read_seconds"] + m["train_seconds"] for m in trained)
        print(
            f"train-as-you-go, {files} files of {length} s, 2 workers: "
            f"{wall:.0f} s wall ({span / wall:.2f}x real time); training "
            f"{training:.0f} s = {training / span:.3f} s per s of data"
        )
        for m in trained:
            print(
                f"    {m['trained_on']}: "
                f"{'warm' if m['warm_start'] else 'scratch'}, valid loss "
                f"{m['initial_valid_loss']:.3f} -> "
                f"{m['best_valid_loss']:.3f} in {m['epochs']} epochs, "
                f"{m['train_seconds']:.0f} s"
            )
        fixed = tmp / "fixed"
        run(command(tmp, fixed, hours, *more), tmp)
        print(
            "removed fraction of removable 58-62 Hz power: train-as-you-go "
            f"{removed_of(out, raw, truth, rate):.4f}, fixed model "
            f"{removed_of(fixed, raw, truth, rate):.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument(
        "--network",
        choices=["deepclean", "regression"],
        default="deepclean",
        help="the fixed model (module docstring)",
    )
    parser.add_argument(
        "--scaling-hours",
        type=float,
        nargs="+",
        default=[1.0, 4.0],
        help="spans of the 1- and 2-worker runs",
    )
    parser.add_argument(
        "--scaling-length",
        type=int,
        default=900,
        help="s per output file of the 1-h scaling runs",
    )
    parser.add_argument(
        "--train", action="store_true", help="train-as-you-go instead"
    )
    parser.add_argument("--train-files", type=int, default=2)
    parser.add_argument("--train-length", type=int, default=256)
    parser.add_argument(
        "--max-epochs", type=int, default=0, help="0: the section's"
    )
    args = parser.parse_args()
    if args.train:
        bench_train(args.train_files, args.train_length, args.max_epochs)
        return
    with tempfile.TemporaryDirectory(prefix="bench-reprocess-") as name:
        tmp = Path(name)
        sim = stored.simulator()
        longest = int(max(args.hours + args.scaling_hours) * 3600)
        began = time.monotonic()
        paths = write_tiles(
            sim,
            simulate(sim),
            tmp,
            SPAN_START - PAD,
            SPAN_START + longest + PAD,
        )
        stored.write_cache(paths, tmp / "frames.cache")
        stored.write_repository(
            tmp / "model_repo", sim, stored.fit_coefficients(sim)
        )
        if args.network == "deepclean":
            write_network(tmp / "model_repo", len(sim.config.witness_channels))
        print(f"data: {len(paths)} files ({time.monotonic() - began:.0f} s)")
        length = args.scaling_length
        fixed = run(
            command(tmp, tmp / "rt-0", 64 / 3600, "--workers", "2"), tmp
        )
        print(
            f"fixed cost (start-up, cluster, summary; a 64-s span, 2 "
            f"workers): {fixed:.1f} s"
        )
        for hours in args.scaling_hours:
            walls = {}
            for workers in (1, 2):
                out = tmp / f"rt-{hours:g}h-{workers}"
                more = (
                    "--workers",
                    str(workers),
                    "--frame-length",
                    str(length),
                )
                walls[workers] = run(command(tmp, out, hours, *more), tmp)
            span = hours * 3600
            print(
                f"{hours:g} h in {-(-span // length):.0f} files of <= "
                f"{length} s: "
                + ", ".join(
                    f"{n} worker(s) {walls[n]:.1f} s wall, "
                    f"{span / walls[n]:.0f}x real time "
                    f"({span / (walls[n] - fixed):.0f}x without the fixed "
                    "cost)"
                    for n in (1, 2)
                )
                + f"; scaling efficiency 1->2 workers "
                f"{walls[1] / (2 * walls[2]):.2f} "
                f"({(walls[1] - fixed) / (2 * (walls[2] - fixed)):.2f} "
                "without the fixed cost)"
            )
        if args.network == "regression":
            summaries = (tmp / f"rt-{args.scaling_hours[0]:g}h-2").glob(
                "summary/*HOFT*.json"
            )
            ratio = np.mean(
                [json.loads(p.read_text())["asd_ratio"] for p in summaries]
            )
            print(
                "in-band ASD ratio, fixed model (tiled data, file mean): "
                f"{ratio:.4f}"
            )
        for hours in args.hours:
            mib, files = peak_rss(tmp, hours)
            print(
                f"{hours:g} h span ({files} files of <= 4096 s), 2 workers: "
                "peak RSS per worker " + ", ".join(f"{m:.0f} MiB" for m in mib)
            )


if __name__ == "__main__":
    main()
