"""Cleaning next to dropped seconds: the streaming cleaner's product around
12-s drops, judged as the chaos suite judges it and against the data's
usual level.

Simulated frames (the embedded scene, ``--seeds`` realisations, four 12-s
drops each) are read and resampled by the cleaner's own preprocessor
(``cleaner.offline.read_stretch``: the second before a drop is
Hann-tapered out, the one after tapered in) and cleaned second by second
by :class:`cleaner.cleaning.SecondCleaner` with the ``[cleaner]`` settings
of the root pyproject (band-pass, gain trackers, gate) and a DeepClean
network in-process: trained here on 256 s of the scene with the
``[trainer]`` settings on seed 0, or loaded from ``--run`` (a training
run folder). The seed also draws which witnesses couple and how, so on
the other seeds the network is a mismatched one, as a stale model is (the
8 s before a drop cleaned to ~0.7 in ASD, against ~0.2 on seed 0). Per
drop onset ``D``:

- ``stretch``: ASD(PRODUCTION) / ASD(RAW) in 58-62 Hz over ``[D - 1, D +
  7)`` (2-s Welch segments, 1 s overlap, mean: the chaos suite's measure,
  ``tests/faults_checks.py``). Only one segment holds data, the second
  before the drop, weighted towards its tapered end, so each bin's ratio
  is that of two single periodograms of tapered data;
- ``before``: the same over the 8 s ending with that second, ``[D - 8,
  D)``, all data;
- ``tail/usual``: the largest, over the in-band bins, of ASD(PRODUCTION
  over ``[D - 1, D + 1)``) / ASD(RAW over ``[D - 12, D - 2)``, median): the
  cleaned tail against what the raw data usually hold in that bin (above 1:
  the cleaning put power there that the data do not usually have);
- ``after``: the chaos measure over the 8 s ending with the first second
  after the drop.

    .venv/exporter/bin/python bench/bench_drops.py [--seeds 0 1 2 3]
        [--run PROJECT_DIR/train/<span>]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / "bench"),
    str(ROOT / "projects" / "trainer"),
    str(ROOT / "projects" / "cleaner"),
    str(ROOT / "projects" / "cleaner" / "tests"),
]
from service_run import service_config  # noqa: E402
from simdata import BAND  # noqa: E402
from simdata import GPS  # noqa: E402
from simdata import RATE  # noqa: E402

from cleaner.cleaning import SecondCleaner  # noqa: E402
from cleaner.frames import OutputFrame  # noqa: E402
from cleaner.gate import OutDqGate  # noqa: E402
from cleaner.offline import read_stretch  # noqa: E402
from cleaner.postprocess import StreamingFilter  # noqa: E402
from cleaner.prediction import Prediction  # noqa: E402
from cleaner.service import CleanerConfig  # noqa: E402
from cleaner.service import make_preprocessor  # noqa: E402
from utils.signal import asd_ratio  # noqa: E402
from utils.signal import psd  # noqa: E402
from utils.simulation import Fault  # noqa: E402
from utils.simulation import SimulationConfig  # noqa: E402
from utils.simulation import Simulator  # noqa: E402

DURATION = 200  # s simulated per seed
CONTEXT = 4  # s simulated before GPS (> the preprocessor's context)
DROP_LENGTH = 12  # s, as bench/chaos.py's longest drop
ONSETS = (50, 90, 130, 170)  # s after GPS


def network(run: Path | None) -> torch.nn.Module:
    """The network of ``run``, or one trained on seed 0 of the scene."""
    if run is not None:
        from utils.nn.checkpoint import load_model

        return load_model(run)[0]
    from bench_trainer import GPS_START
    from bench_trainer import train_config
    from utils.nn.simdata import simulate_stretch
    from utils.nn.train import train

    config, section = train_config("trainer")
    sim = Simulator(SimulationConfig(ifo="L1", seed=0))
    data, _ = simulate_stretch(sim, GPS_START, int(section.train_duration))
    model = train(data, config).model
    model.eval()
    return model


def predictor(model: torch.nn.Module):
    def predict(witness: np.ndarray) -> Prediction:
        with torch.no_grad():
            noise = model(torch.as_tensor(witness[None]))[0]
        noise = noise.double().numpy()
        return Prediction(noise, noise, 1, 1)

    return predict


def clean(model: torch.nn.Module, seed: int, folder: Path) -> dict:
    """The frames of one simulated stretch with drops, by GPS."""
    sim = Simulator(SimulationConfig(ifo="L1", seed=seed))
    faults = {
        GPS + onset + k: Fault.DROP
        for onset in ONSETS
        for k in range(DROP_LENGTH)
    }
    # the [cleaner] settings on the simulator's channels; no Triton
    config = service_config(folder, sim, "localhost:0")
    return stream(config, model, sim, DURATION, faults)[0]


def stream(
    config: CleanerConfig,
    model: torch.nn.Module,
    sim: Simulator,
    duration: int,
    faults: dict[int, Fault],
    start: int = GPS,
) -> tuple[dict[int, OutputFrame], SecondCleaner]:
    """Write ``duration`` s of ``sim``'s frames from ``start`` (with
    ``faults``) where ``config`` reads them and clean them second by
    second: the frames by GPS, and the cleaner."""
    for gps in range(start - CONTEXT, start + duration):
        sim.write(gps, config.stream.data_dir, faults.get(gps))
    preprocessor = make_preprocessor(config)
    stretch = read_stretch(config.stream, preprocessor, start, duration - 2)
    cleaner = SecondCleaner(
        config.window,
        predictor(model),
        StreamingFilter(config.filter),
        OutDqGate(config.gate),
        config.tracking,
    )
    frames = (cleaner.push(second) for second in stretch.seconds)
    return {f.gps: f for f in frames if f is not None}, cleaner


def series(frames: dict, name: str, first: int, stop: int) -> np.ndarray:
    return np.concatenate(
        [getattr(frames[g], name) for g in range(first, stop)]
    )


def judge(frames: dict, onset: int) -> dict[str, float]:
    """The four figures of one drop (module docstring)."""
    end = onset + DROP_LENGTH  # the first second after the drop

    def chaos_measure(first: int) -> float:
        stop = first + 8
        return asd_ratio(
            series(frames, "production", first, stop),
            series(frames, "raw", first, stop),
            RATE,
            *BAND,
            2.0,
            1.0,
            "mean",
        )

    freqs, tail = psd(
        series(frames, "production", onset - 1, onset + 1), RATE, 2.0, 1.0
    )
    _, usual = psd(
        series(frames, "raw", onset - 12, onset - 2), RATE, 2.0, 1.0
    )
    band = (freqs >= BAND[0]) & (freqs <= BAND[1])
    return {
        "stretch": chaos_measure(onset - 1),
        "before": chaos_measure(onset - 8),
        "tail/usual": float(np.sqrt(tail[band] / usual[band]).max()),
        "after": chaos_measure(end - 7),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--run", type=Path, help="training run folder")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)  # every dropped second is logged

    model = network(args.run)
    rows = []
    for seed in args.seeds:
        folder = Path(tempfile.mkdtemp(prefix="bench-drops-"))
        try:
            frames = clean(model, seed, folder)
        finally:
            shutil.rmtree(folder)
        for onset in ONSETS:
            rows.append((seed, onset, judge(frames, GPS + onset)))

    names = list(rows[0][2])
    print(
        f"{DROP_LENGTH}-s drops, PRODUCTION against RAW in "
        f"{BAND[0]:g}-{BAND[1]:g} Hz (ASD ratios; module docstring)"
    )
    print(
        f"  {'seed':>4s} {'onset':>5s}" + "".join(f"{n:>12s}" for n in names)
    )
    for seed, onset, figures in rows:
        values = "".join(f"{figures[n]:12.3f}" for n in names)
        print(f"  {seed:4d} {onset:5d}{values}")
    for name in names:
        column = [figures[name] for *_, figures in rows]
        above = sum(value > 1 for value in column)
        print(
            f"  {name}: median {np.median(column):.3f}, max "
            f"{max(column):.3f}, {above} of {len(column)} above 1"
        )


if __name__ == "__main__":
    main()
