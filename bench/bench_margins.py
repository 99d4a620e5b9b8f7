"""The band's margins (``filter_margin``) on a scene, network by network:
what the streaming cleaner adds just outside the band with a network
trained on the band alone and with one trained on the band and its
margins.

For each margin (0, and the root pyproject's ``filter_margin``)
``--networks`` networks are trained afresh with the ``[trainer]``
settings on 256 s of the scene (the figures vary from network to network
more than between the two margins, so one of each proves nothing), and
the ``--duration`` s after it are cleaned second by second by
:class:`cleaner.cleaning.SecondCleaner` with the ``[cleaner]`` settings at
that margin (band-pass, gain trackers, and with margins their fits),
in-process. Printed per network, over the seconds after the first minute:
PRODUCTION's in-band power over RAW's (58-62 Hz), its power change just
outside the band (57.5-57.875 and 62.125-62.5 Hz, 8-s Welch segments, as
``bench/bench_couplings.py``) and the margins' gain at the end (0: not
subtracted); then each column's mean per margin.

    .venv/exporter/bin/python bench/bench_margins.py [--scene sideband-heavy]
        [--networks 3] [--duration 400]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

# bench_drops puts the cleaner's and the trainer's folders on the path
from bench_drops import BAND
from bench_drops import GPS
from bench_drops import RATE
from bench_drops import service_config
from bench_drops import stream
from bench_trainer import train_config
from scenes import scene_config
from utils.nn.simdata import simulate_stretch
from utils.nn.train import train
from utils.signal import band_power
from utils.simulation import SimulationConfig
from utils.simulation import Simulator

TRAIN_GAP = 300  # s between the training stretch's start and the cleaned one
SETTLE = 60  # s cleaned before the figures (trackers, gate)
OUTSIDE = ((57.5, 57.875), (62.125, 62.5))  # Hz, as bench_couplings
SEGMENT = 8.0  # s, Welch segments of the power just outside


def trained(config: SimulationConfig, margin: float) -> torch.nn.Module:
    """A network trained on the 256 s before ``GPS - TRAIN_GAP + 256``."""
    flags = ("--filter-margin", str(margin))
    train_settings, section = train_config("trainer", flags)
    duration = int(section.train_duration)
    data, _ = simulate_stretch(Simulator(config), GPS - TRAIN_GAP, duration)
    model = train(data, train_settings).model
    model.eval()
    return model


def figures(
    model: torch.nn.Module,
    scene: SimulationConfig,
    margin: float,
    duration: int,
    folder: Path,
) -> dict[str, float]:
    sim = Simulator(scene)
    config = service_config(folder, sim, "localhost:0", filter_margin=margin)
    frames, cleaner = stream(config, model, sim, duration, {})
    kept = [f for gps, f in sorted(frames.items()) if gps >= GPS + SETTLE]
    raw = np.concatenate([f.raw for f in kept])
    production = np.concatenate([f.production for f in kept])

    def change(low: float, high: float) -> float:
        cleaned = band_power(production, RATE, low, high, SEGMENT)
        return cleaned / band_power(raw, RATE, low, high, SEGMENT) - 1

    result = {"in band": change(*BAND) + 1}
    for low, high in OUTSIDE:
        result[f"{low:g}-{high:g} Hz"] = change(low, high)
    result["margins' gain"] = abs(cleaner.tracking_gains.get("margins", 0))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene", default="")
    parser.add_argument("--networks", type=int, default=3)
    parser.add_argument("--duration", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)

    scene = scene_config(args.scene)
    _, section = train_config("trainer")
    margins = (0.0, float(section.filter_margin))
    rows = []
    for margin in margins:
        for _ in range(args.networks):
            folder = Path(tempfile.mkdtemp(prefix="bench-margins-"))
            try:
                model = trained(scene, margin)
                result = figures(model, scene, margin, args.duration, folder)
            finally:
                shutil.rmtree(folder)
            rows.append((margin, result))

    names = list(rows[0][1])
    print(
        f"scene {args.scene or 'default'}: {args.duration - SETTLE} s "
        f"cleaned per network; in band: PRODUCTION / RAW power, "
        f"{BAND[0]:g}-{BAND[1]:g} Hz; just outside: power change"
    )
    print(f"  {'margin':>12s}" + "".join(f"{n:>16s}" for n in names))
    for margin, result in rows:
        values = "".join(f"{result[n]:+16.4f}" for n in names)
        print(f"  {margin:12g}{values}")
    for margin in margins:
        chosen = [r for m, r in rows if m == margin]
        means = [np.mean([r[n] for r in chosen]) for n in names]
        label = f"mean, {margin:g}"
        print(f"  {label:>12s}" + "".join(f"{m:+16.4f}" for m in means))


if __name__ == "__main__":
    main()
