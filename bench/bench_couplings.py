"""Cleaning quality on hard couplings: the whole pipeline on a scene.

Starts ``run.sh`` headless (``tests/pipeline.py``: the real services and
Triton) with ``DEEPCLEAN_SCENE=<scene>`` and the embedded CPU defaults of
the root pyproject.toml as they are (only the frames are kept for the
analysis: replay ``keep_length = 0``, monitor ``max_frames`` = the run),
waits for the first promoted model, lets it run ``--duration`` s, stops,
then measures against the simulator's truth, in 8-s segments (Hann, 0.125
Hz resolution):

- the removed fraction of the removable power, ``1 - (P(cleaned) -
  P(raw - truth)) / P(truth)``, in the band (58-62 Hz), the line (60 +-
  0.25 Hz) and the sidebands (the rest of the band), and its 5th
  percentile over the segments ("worst 5 %"), for PRODUCTION, OUT_DQ and a
  multi-input Wiener filter (``bench/wiener.py``) refitted on the newest
  ``train_duration`` s of data every ``retrain_cadence`` s, as the trainer
  is (the same information, without the latency);
- the same over the last half of the run and in each 300-s window (drift);
- the time to the first promotion, the versions promoted, the production
  watch's stale alarms and the trainer's train-now runs.

    .venv/tests/bin/python bench/bench_couplings.py --scene sideband-heavy \\
        [--duration 600]
    .venv/tests/bin/python bench/bench_couplings.py --scene drifting \\
        --duration 3300
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from conftest import OVERRIDES  # noqa: E402
from pipeline import Pipeline, wait_until  # noqa: E402
from quality import out_of_band_change, truth_4096  # noqa: E402
from utils.signal import bandpass  # noqa: E402
from utils.simulation import (  # noqa: E402
    SimulationConfig,
    Simulator,
    preprocessed,
)
from wiener import WienerFilter  # noqa: E402

RATE = 4096
SEGMENT = 8  # s per analysis segment
WINDOW = 300  # s, the drift windows
REGIONS = ("band", "line", "sidebands")
SIM_KEYS = (
    "seed",
    "line_ratio",
    "sideband_ratio",
    "num_coupled",
    "coupling_drift",
    "coupling_drift_period",
    "coupling_phase_drift",
    "asc_band",
    "strain_channel",
    "state_channel",
)


def region_masks() -> dict[str, np.ndarray]:
    f = np.fft.rfftfreq(SEGMENT * RATE, 1 / RATE)
    band = (f >= 58.0) & (f <= 62.0)
    line = np.abs(f - 60.0) <= 0.25
    return {"band": band, "line": line, "sidebands": band & ~line}


MASKS = region_masks()
HANN = np.hanning(SEGMENT * RATE)


def powers(x: np.ndarray) -> np.ndarray:
    """Power of one segment in each region, ``(len(REGIONS),)``."""
    p = np.abs(np.fft.rfft(x * HANN)) ** 2
    return np.array([p[MASKS[r]].sum() for r in REGIONS])


@dataclass
class Segments:
    """Per-segment powers of residual, background and truth."""

    residual: list
    background: list
    truth: list

    @classmethod
    def empty(cls) -> Segments:
        return cls([], [], [])

    def add(self, residual, background, truth) -> None:
        self.residual.append(powers(residual))
        self.background.append(powers(background))
        self.truth.append(powers(truth))

    def removed(self, part: slice = slice(None)) -> np.ndarray:
        """Removed fraction per region over the segments ``part``."""
        res, bg, tr = (
            np.sum(np.array(x)[part], axis=0)
            for x in (self.residual, self.background, self.truth)
        )
        return 1 - (res - bg) / tr

    def worst(self, quantile: float = 5.0) -> float:
        per = (
            1
            - (np.array(self.residual)[:, 0] - np.array(self.background)[:, 0])
            / np.array(self.truth)[:, 0]
        )
        return float(np.percentile(per, quantile))


def simulation_config(pipe: Pipeline, section: str) -> SimulationConfig:
    values = {k: pipe.setting(section, k) for k in SIM_KEYS}
    values["asc_band"] = tuple(values["asc_band"])
    return SimulationConfig(
        ifo=pipe.ifo,
        witness_channels=tuple(pipe.setting(section, "witness_channels")),
        **values,
    )


def pipeline_segments(pipe, gps0, gps1):
    """PRODUCTION and OUT_DQ segments from the carousel frames."""
    ch = pipe.channels
    out = {"PRODUCTION": Segments.empty(), "OUT_DQ": Segments.empty()}
    raw_all, prod_all = [], []
    for start in range(gps0, gps1 - SEGMENT + 1, SEGMENT):
        frames = [pipe.frame(g) for g in range(start, start + SEGMENT)]
        raw = np.concatenate([f[ch.raw] for f in frames])
        truth = truth_4096(pipe.data_dir, pipe.ifo, start, start + SEGMENT)
        for name, channel in (
            ("PRODUCTION", ch.production),
            ("OUT_DQ", ch.out_dq),
        ):
            cleaned = np.concatenate([f[channel] for f in frames])
            out[name].add(cleaned, raw - truth, truth)
            if name == "PRODUCTION":
                raw_all.append(raw)
                prod_all.append(cleaned)
    tail = slice(-min(len(raw_all), 75), None)  # the last ~600 s
    oob = out_of_band_change(
        np.concatenate(prod_all[tail]), np.concatenate(raw_all[tail])
    )
    return out, oob


def wiener_segments(sim, gps0, gps1, train_duration, cadence) -> Segments:
    """The Wiener filter, refitted every ``cadence`` s on the newest
    ``train_duration`` s before it."""
    segments = Segments.empty()
    usable = (gps1 - gps0) // SEGMENT * SEGMENT
    for block in range(gps0, gps0 + usable, cadence):
        length = min(cadence, gps0 + usable - block)
        train = preprocessed(sim, block - train_duration, train_duration)
        wiener = WienerFilter(RATE).fit(train[1:-1], train[0])
        del train
        test = preprocessed(sim, block, length)
        strain, truth = test[0], test[-1]
        prediction = bandpass(wiener.predict(test[1:-1]), 58.0, 62.0, RATE)
        residual = strain - prediction
        background = strain - truth
        for k in range(0, length * RATE, SEGMENT * RATE):
            cut = slice(k, k + SEGMENT * RATE)
            segments.add(residual[cut], background[cut], truth[cut])
    return segments


def log_count(pipe: Pipeline, service: str, needle: str) -> int:
    return sum(needle in line for line in pipe.log_lines(service))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene", default="sideband-heavy")
    parser.add_argument(
        "--duration",
        type=int,
        default=600,
        help="s of data measured after the first promotion",
    )
    parser.add_argument(
        "--promote-timeout", type=float, default=1500.0, help="s from start"
    )
    args = parser.parse_args()

    # the default configuration; only what the analysis needs is kept
    keep = args.duration + 900
    overrides = {
        "replay": {"keep_length": 0, "seed": OVERRIDES["replay"]["seed"]},
        "monitor": {"max_frames": keep},
    }
    pipe = Pipeline(
        Path(tempfile.mkdtemp(prefix=f"bench-couplings-{args.scene}-")),
        overrides,
        name=f"bench-couplings-{os.getpid()}",
        scene=args.scene,
    )
    section = f"replay-{args.scene}"
    print(f"scene {args.scene}: run in {pipe.project_dir.parent}", flush=True)
    tic = time.monotonic()
    pipe.start()
    try:
        promoted = wait_until(
            lambda: pipe.versions()["production"],
            "a promoted model",
            args.promote_timeout,
            interval=5,
        )
        first = time.monotonic() - tic
        print(f"version {promoted} promoted after {first:.0f} s", flush=True)
        time.sleep(15)  # the gate's buffer
        gps0 = pipe.carousel_gps()[-1] + 1
        wait_until(
            lambda: pipe.carousel_gps()[-1] >= gps0 + args.duration,
            f"{args.duration} s of frames",
            args.duration * 1.5 + 120,
            interval=10,
        )
        versions = pipe.versions()
        stale = log_count(pipe, "monitor", "no longer matches the coupling")
        requests = log_count(pipe, "trainer", "at the monitor's request")
    finally:
        pipe.stop()
    gps1 = gps0 + args.duration
    products, oob = pipeline_segments(pipe, gps0, gps1)
    train_duration = int(pipe.setting("trainer", "train_duration"))
    cadence = int(pipe.setting("trainer", "retrain_cadence"))
    sim = Simulator(simulation_config(pipe, section))
    products["Wiener"] = wiener_segments(
        sim, gps0, gps1, train_duration, cadence
    )
    report(args, products, oob, first, versions, stale, requests)


def report(args, products, oob, first, versions, stale, requests) -> None:
    exported = [v["version"] for v in versions["versions"]]
    print(
        f"\nscene {args.scene}, embedded CPU defaults, {args.duration} s "
        f"measured after the first promotion ({first / 60:.1f} min from "
        f"start); versions exported {exported}, production now "
        f"{versions['production']}; stale alarms {stale}, runs trained at "
        f"the monitor's request {requests}"
    )
    print(
        "removed fraction of the removable power (1 = all, 0 = nothing, "
        "< 0 = worse than raw)"
    )
    header = f"  {'':11s} {'band':>7s} {'line':>7s} {'sidebands':>10s}"
    print(header + f" {'worst 5 % of 8-s segments':>26s}")
    for name, seg in products.items():
        band, line, side = seg.removed()
        print(
            f"  {name:11s} {band:7.3f} {line:7.3f} {side:10.3f} "
            f"{seg.worst():26.3f}"
        )
    count = len(products["PRODUCTION"].truth)
    half = slice(count // 2, None)
    per_window = WINDOW // SEGMENT
    print(
        f"last half ({count // 2 * SEGMENT} s) and {WINDOW}-s windows (band):"
    )
    for name, seg in products.items():
        windows = [
            seg.removed(slice(k, k + per_window))[0]
            for k in range(0, count - per_window + 1, per_window)
        ]
        print(
            f"  {name:11s} last half {seg.removed(half)[0]:7.3f}; windows "
            f"min {min(windows):7.3f} max {max(windows):7.3f} "
            f"({len(windows)})"
        )
    print(f"  PRODUCTION out-of-band change (last 600 s): {100 * oob:.2f} %")


if __name__ == "__main__":
    main()
