"""Retraining on a drifting coupling: does the newer network, tracked,
clean better than the older one it would replace?

On the ``drifting`` scene (the coupling's strength +-50 % and phase
+-0.5 rad over 20 minutes) the monitor has refused retrained canaries
that were worse at the line than a production network trained 10 minutes
before them and tracked since (README, "On the hard couplings too"). Is
that a flaw of retraining (warm start, early stopping on a validation
stretch the drift has moved on from) or the drift's phase at the time?

For each ``--seeds`` and ``--offsets`` (s: where in the drift's period
it starts): network A trained from scratch on ``train_duration`` s with
the ``[trainer]`` settings; ``retrain_cadence`` s later B, warm-started
from A as the trainer does, and B' from scratch on B's data; then, from
``--delay`` s after B's data (its export and a canary's start, as live),
the monitor's ``settle_length`` + ``window_length`` s cleaned second by
second by each network (:class:`cleaner.cleaning.SecondCleaner` with the
``[cleaner]`` settings, its gain trackers on, in-process) and the window
judged as the monitor judges a canary: ASD ratio to RAW in each sub-band
(``subband_edges``; Welch, ``fftlength`` and ``overlap``) and the band's mean.

    .venv/exporter/bin/python bench/bench_retrain.py [--scene drifting]
        [--seeds 7] [--offsets 0 400 800] [--delay 60]
    .venv/exporter/bin/python bench/bench_retrain.py --runs A B --start GPS

``--runs`` judges two networks a live run trained (its ``train/<run>``
folders) over the canary window from ``--start`` instead: a live verdict
of the monitor measured again, and compared with networks trained afresh
on the same seconds (``--offsets`` from GPS 1400000000, so that the
window starts at the live one's: ``--offsets <start - 1400000000>
--delay <start - end of B's data>``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

# bench_drops puts the cleaner's and the trainer's folders on the path
from bench_drops import GPS
from bench_drops import RATE
from bench_drops import network as stored_network
from bench_drops import service_config
from bench_drops import stream
from bench_trainer import train_config
from scenes import ROOT
from scenes import SITE
from scenes import scene_config
from utils.config import value_of
from utils.nn.simdata import simulate_stretch
from utils.nn.train import train
from utils.signal import Subbands
from utils.signal import asd_ratio
from utils.signal import psd
from utils.simulation import SimulationConfig
from utils.simulation import Simulator

LATENCY = 30  # s streamed beyond the window: the cleaner's frames lag
# how the monitor judges a canary
MONITOR_KEYS = (
    "freq_low",
    "freq_high",
    "subband_edges",
    "fftlength",
    "overlap",
    "settle_length",
    "window_length",
)


def judged(
    network: torch.nn.Module,
    scene: SimulationConfig,
    start: int,
    monitor: dict,
    folder: Path,
) -> list[float]:
    """Sub-band ratios and the band's mean ratio to RAW of PRODUCTION
    cleaned by ``network`` over the monitor's window from ``start``."""
    sim = Simulator(scene)
    config = service_config(folder, sim, "localhost:0")
    settle, window = monitor["settle_length"], monitor["window_length"]
    duration = settle + window + LATENCY
    frames, _ = stream(config, network, sim, duration, {}, start)
    kept = [frames[g] for g in range(start + settle, start + settle + window)]
    raw = np.concatenate([f.raw for f in kept])
    cleaned = np.concatenate([f.production for f in kept])
    fftlength, overlap = monitor["fftlength"], monitor["overlap"]
    freqs, both = psd(
        np.stack([cleaned, raw]), RATE, fftlength, overlap, "mean"
    )
    low, high = monitor["freq_low"], monitor["freq_high"]
    subbands = Subbands(low, high, tuple(monitor["subband_edges"]))
    ratios = subbands.ratios(both[0], both[1], freqs).tolist()
    mean = asd_ratio(cleaned, raw, RATE, low, high, fftlength, overlap, "mean")
    return [*ratios, mean]


def compare(
    networks: dict[str, torch.nn.Module],
    scene: SimulationConfig,
    start: int,
    monitor: dict,
    line: int,
) -> bool:
    """Print each network's figures over the window from ``start``;
    whether the second network is cleaner than the first at the line
    (sub-band ``line``)."""
    rows = {}
    for name, network in networks.items():
        folder = Path(tempfile.mkdtemp(prefix="bench-retrain-"))
        try:
            rows[name] = judged(network.eval(), scene, start, monitor, folder)
        finally:
            shutil.rmtree(folder)
        values = "".join(f"{v:16.4f}" for v in rows[name])
        print(f"    {name:24s}{values}", flush=True)
    older, newer = (rows[name][line] for name in list(rows)[:2])
    print(f"    B / A at the line: {newer / older:.3f}")
    return newer < older


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene", default="drifting")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument(
        "--offsets", type=int, nargs="+", default=[0, 400, 800]
    )
    parser.add_argument(
        "--delay", type=int, default=60, help="s from B's data to its canary"
    )
    parser.add_argument(
        "--runs",
        type=Path,
        nargs=2,
        metavar=("A", "B"),
        help="judge the networks of these two trained runs (a run's "
        "train/ folders) over the window from --start, instead of training",
    )
    parser.add_argument(
        "--start", type=int, help="GPS of the canary's start, with --runs"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.runs and args.start is None:
        parser.error("--runs needs --start")
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)

    config, section = train_config("trainer")
    duration, cadence = section.train_duration, section.retrain_cadence
    monitor = {
        key: value_of(ROOT / "pyproject.toml", f"monitor.{key}", SITE)
        for key in MONITOR_KEYS
    }
    subbands = Subbands(
        monitor["freq_low"],
        monitor["freq_high"],
        tuple(monitor["subband_edges"]),
    )
    columns = [*subbands.names, "band (mean)"]
    line = len(subbands.edges) // 2  # the sub-band that holds the line
    header = "".join(f"{c:>16s}" for c in columns)
    if args.runs:
        scene = replace(scene_config(args.scene), seed=args.seeds[0])
        print(
            f"scene {args.scene}, seed {args.seeds[0]}: "
            f"{monitor['window_length']} s judged after "
            f"{monitor['settle_length']} s from GPS {args.start}; ASD "
            f"ratio to RAW\n  {'':26s}{header}"
        )
        networks = {
            f"{k} {p.name}": stored_network(p)
            for k, p in zip("AB", args.runs, strict=True)
        }
        compare(networks, scene, args.start, monitor, line)
        return
    print(
        f"scene {args.scene}: A trained {cadence} s before B, on "
        f"{duration} s each; {monitor['window_length']} s judged after "
        f"{monitor['settle_length']} s; ASD ratio to RAW\n  {'':26s}{header}"
    )
    wins = 0
    for seed in args.seeds:
        scene = replace(scene_config(args.scene), seed=seed)
        sim = Simulator(scene)
        for offset in args.offsets:
            start = GPS + offset
            b_start = start - args.delay - duration
            a_data, _ = simulate_stretch(sim, b_start - cadence, duration)
            b_data, _ = simulate_stretch(sim, b_start, duration)
            a = train(a_data, config).model
            networks = {
                "A (older)": a,
                "B (warm from A)": train(b_data, config, init=a).model,
                "B' (from scratch)": train(b_data, config).model,
            }
            print(f"  seed {seed}, offset {offset} s:")
            wins += compare(networks, scene, start, monitor, line)
    total = len(args.seeds) * len(args.offsets)
    print(f"B cleaner than A at the line in {wins} of {total}")


if __name__ == "__main__":
    main()
