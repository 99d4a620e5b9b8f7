"""Benchmark of DeepClean training on the simulator's default scenario.

Simulates seconds in-process (``Simulator.second``) and resamples them with
the trainer's own :class:`~utils.stream.Preprocessor`, trains with the
hyper-parameters of a ``[tool.typeo.scripts.<section>]`` of the root
``pyproject.toml`` (default: the embedded CPU ``trainer``), and prints:

- removed fraction of the removable in-band noise power on held-out data:
  with ``r = strain - bandpass(prediction)``, ``excess = P_band(r) -
  P_band(background)``, ``removable = P_band(truth)``, ``removed = 1 -
  excess / removable`` (goal >= 0.9);
- the relative change of power outside the band (goal <= 1%);
- seconds per epoch, epochs to converge from scratch vs warm-started (on the
  next training window, ``retrain_cadence`` later), peak memory.

Run: ``.venv/trainer/bin/python bench/bench_trainer.py`` (half the data and
epochs, under 3 minutes on 2 cores); ``--full`` trains with the section's
own values and adds a scratch run on window 2 (about 15 minutes).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from trainer.config import TrainerSettings
from utils.config import parse_settings
from utils.nn.data import Stretch
from utils.nn.evaluate import clean
from utils.nn.simdata import simulate_stretch
from utils.nn.train import TrainConfig
from utils.nn.train import TrainResult
from utils.nn.train import train
from utils.signal import band_power
from utils.simulation import SimulationConfig
from utils.simulation import Simulator

ROOT = Path(__file__).resolve().parents[1]
GPS_START = 1_400_000_000
EDGE_LENGTH = 4  # s trimmed from each end of the held-out prediction
OUT_BANDS = ((20.0, 50.0), (70.0, 500.0))  # Hz, where nothing should change
# what run.sh exports; no folder is used here
ENVIRON = {
    "IFO": "L1",
    "PROJECT_DIR": "/nonexistent",
    "DATA_DIR": "/nonexistent",
}


def train_config(
    section: str, flags: tuple[str, ...] = (), **overrides
) -> tuple[TrainConfig, TrainerSettings]:
    """TrainConfig of the root pyproject's trainer section, ``flags`` (the
    trainer's, e.g. ``--train-duration 512``) laid over it; ``overrides``
    that are not None replace values of the TrainConfig."""
    argv = ["--typeo", f"{ROOT / 'pyproject.toml'}:{section}", *flags]
    settings = parse_settings(TrainerSettings, "trainer", argv, ENVIRON)
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(settings.train_config(), **changes), settings


def evaluate(model: torch.nn.Module, test: Stretch, truth: np.ndarray) -> dict:
    """Removed fraction in band and power change out of band."""
    strain = test.strain
    residual = clean(model, test.witness, strain, 4096, 58.0, 62.0)
    edge = slice(EDGE_LENGTH * 4096, -EDGE_LENGTH * 4096)
    residual = residual[edge]
    background = (strain - truth)[edge]

    def band(x, low=58.0, high=62.0):
        return band_power(x, 4096, low, high)

    excess = band(residual) - band(background)
    out = {"removed": 1 - excess / band(truth[edge])}
    for low, high in OUT_BANDS:
        change = band(residual, low, high) / band(strain[edge], low, high)
        out[f"change {low:g}-{high:g} Hz"] = change - 1
    return out


def converged_epoch(result: TrainResult, reference: float) -> int | None:
    """First epoch whose validation loss is within 2% of ``reference``
    (0: the starting network already was; None: never)."""
    target = 1.02 * reference
    if result.initial_valid_loss <= target:
        return 0
    return next(
        (r["epoch"] for r in result.history if r["valid_loss"] <= target),
        None,
    )


def summary(name: str, result: TrainResult, reference: float) -> str:
    seconds = np.mean([r["seconds"] for r in result.history])
    cpu = np.mean([r["cpu_seconds"] for r in result.history])
    return (
        f"{name}: valid loss {result.initial_valid_loss:.3f} -> "
        f"{result.best_valid_loss:.3f}; within 2% of {reference:.3f} after "
        f"{converged_epoch(result, reference)} epochs; early stop after "
        f"{len(result.history)} epochs (best {result.best_epoch}); "
        f"{seconds:.1f} s/epoch ({cpu:.1f} s CPU)"
    )


def report(model: torch.nn.Module, test: Stretch, truth: np.ndarray) -> None:
    figures = evaluate(model, test, truth)
    print(
        f"    held-out {test.duration} s: removed fraction "
        f"{figures.pop('removed'):.4f} (goal >= 0.9); out-of-band power "
        + ", ".join(f"{k} {v:+.2%}" for k, v in figures.items())
        + " (goal within 1%)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--section",
        default="trainer",
        help="[tool.typeo.scripts.<section>] to train with",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the section's own train_duration, cadence "
        "and epochs, and a scratch run on window 2 too "
        "(default: half of each, < 3 min)",
    )
    parser.add_argument("--test-duration", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device (default cpu, whatever the section says)",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override training values, e.g. lr=3e-3",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    torch.set_num_threads(args.threads)
    overrides = {
        k: float(v) if "." in v or "e" in v else int(v)
        for k, v in (item.split("=", 1) for item in args.set)
    }
    config, settings = train_config(
        args.section, seed=args.seed, device=args.device, **overrides
    )
    duration, cadence = settings.train_duration, settings.retrain_cadence
    if not args.full:
        duration, cadence = duration // 2, cadence // 2
        config = replace(config, max_epochs=config.max_epochs // 2)
    print(
        f"[{args.section}] {duration} s per run, next run {cadence} s "
        f"later; {config.kernel_length:g} s kernels every "
        f"{config.kernel_stride:g} s, batch {config.batch_size}, lr "
        f"{config.lr:g}, <= {config.max_epochs} epochs, patience "
        f"{config.patience}; {args.threads} torch thread(s)"
    )
    sim = Simulator(SimulationConfig(ifo="L1", seed=args.seed))
    span = cadence + duration + args.test_duration
    start = time.monotonic()
    data, truth = simulate_stretch(sim, GPS_START, span)
    print(
        f"simulated + preprocessed {span} s in "
        f"{time.monotonic() - start:.1f} s"
    )

    def window(offset: int, length: int = duration) -> Stretch:
        cut = slice(offset * 4096, (offset + length) * 4096)
        return Stretch(
            GPS_START + offset, 4096, data.witness[:, cut], data.strain[cut]
        )

    test = window(cadence + duration, args.test_duration)
    test_truth = truth[(cadence + duration) * 4096 :]
    first = train(window(0), config)
    print(summary("scratch, window 1", first, first.best_valid_loss))
    report(first.model, test, test_truth)
    warm = train(window(cadence), config, init=first.model)
    scratch = train(window(cadence), config) if args.full else None
    # the reference: the best a fresh network reaches on window 2 (full), or
    # the warm run's own best (default)
    reference = (scratch or warm).best_valid_loss
    name = f"window 2 ({cadence} s later)"
    print(summary(f"warm start, {name}", warm, reference))
    report(warm.model, test, test_truth)
    if scratch is not None:
        print(summary(f"scratch, {name}", scratch, reference))
        report(scratch.model, test, test_truth)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory (max RSS, simulation included): {peak:.0f} MiB; "
        f"total {time.monotonic() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
