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
- the same for the ceiling, ``raw - bandpass(truth)``: a perfect
  prediction through the cleaner's band-pass; coupled noise in the
  filter's transition at the band's edges stays whatever the model, so
  on a scene whose sidebands reach the edges no model gets 1; and for
  "ceiling + margins", the band-pass ``filter_margin`` Hz wider on each
  side, what the cleaner's tracked margins may reach;
- the band over the last half of the run, and the lowest 300-s window of
  each region (drift; OUT_DQ below 0 = worse than raw there);
- the seconds the OUT_DQ gate was open, PRODUCTION's out-of-band change
  (20-50 and 70-500 Hz) and its power change just outside the band
  (57.5-57.875 and 62.125-62.5 Hz: removed where the coupling reaches,
  never added),
  the time to the first promotion, the versions exported, the production
  watch's stale alarms and the trainer's runs at the monitor's request;
- the latency of every frame of the run, training included (carousel
  file mtime - raw strain file mtime of the same second:
  ``Pipeline.latencies``, as ``bench_pipeline.py``), p50 / p99 / max.

The run's folder keeps its frames and ``run.json``; ``--analyse DIR``
analyses it again without running anything. ``--set SECTION.KEY=VALUE``
(a TOML value; SECTION ``base`` or a service's) tries a setting end to
end, e.g. ``--set base.filter_margin=0`` (the band alone).

    .venv/tests/bin/python bench/bench_couplings.py --scene sideband-heavy \\
        [--duration 600]
    .venv/tests/bin/python bench/bench_couplings.py --scene drifting \\
        --duration 3000
    .venv/tests/bin/python bench/bench_couplings.py --analyse DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from conftest import OVERRIDES  # noqa: E402
from pipeline import Pipeline  # noqa: E402
from pipeline import wait_until  # noqa: E402
from scenes import scene_config  # noqa: E402
from utils.channels import State  # noqa: E402
from utils.quality import out_of_band_change  # noqa: E402
from utils.quality import truth_4096  # noqa: E402
from utils.signal import band_power  # noqa: E402
from utils.signal import bandpass  # noqa: E402
from utils.signal import psd  # noqa: E402
from utils.simulation import Simulator  # noqa: E402
from utils.simulation import preprocessed  # noqa: E402
from wiener import WienerFilter  # noqa: E402

RATE = 4096
SEGMENT = 8  # s per analysis segment
WINDOW = 300  # s, the drift windows
REGIONS = ("band", "line", "sidebands")
# Hz, just outside the band (bins of 8-s segments; 58 and 62 are in it)
MARGINS = ((57.5, 57.875), (62.125, 62.5))


def region_masks() -> np.ndarray:
    """``(len(REGIONS), bins)``: the bins of each region in a segment's
    periodogram (the frequencies :func:`utils.signal.psd` gives)."""
    f = np.fft.rfftfreq(SEGMENT * RATE, 1 / RATE)
    band = (f >= 58.0) & (f <= 62.0)
    line = np.abs(f - 60.0) <= 0.25
    return np.array([band, line, band & ~line])


MASKS = region_masks()  # in the order of REGIONS


def powers(x: np.ndarray) -> np.ndarray:
    """Power of one segment in each region, ``(len(REGIONS),)``: one Hann
    periodogram of the whole segment (:func:`utils.signal.psd`)."""
    _, p = psd(x, RATE, SEGMENT, 0.0, "mean")
    return MASKS @ p


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


def pipeline_segments(pipe, gps0, gps1):
    """PRODUCTION and OUT_DQ segments from the carousel frames, the seconds
    with the OUT_DQ gate open, and PRODUCTION's out-of-band change; and
    the ceiling: what a perfect prediction would remove once through the
    cleaner's band-pass (zero-phase, as the cleaner's streaming filter
    approximates it): the coupled noise that lies in the filter's
    transition at the band's edges stays, whatever the model."""
    ch = pipe.channels
    out = {"PRODUCTION": Segments.empty(), "OUT_DQ": Segments.empty()}
    raw_all, prod_all, truth_all, gate_open = [], [], [], 0
    for start in range(gps0, gps1 - SEGMENT + 1, SEGMENT):
        frames = [pipe.frame(g) for g in range(start, start + SEGMENT)]
        raw = np.concatenate([f[ch.raw] for f in frames])
        truth = truth_4096(pipe.data_dir, pipe.ifo, start, start + SEGMENT)
        truth_all.append(truth)
        gate_open += sum(
            bool(np.all(f[ch.state] & State.OUT_DQ_ON)) for f in frames
        )
        for name, channel in (
            ("PRODUCTION", ch.production),
            ("OUT_DQ", ch.out_dq),
        ):
            cleaned = np.concatenate([f[channel] for f in frames])
            out[name].add(cleaned, raw - truth, truth)
            if name == "PRODUCTION":
                raw_all.append(raw)
                prod_all.append(cleaned)
    margin = float(pipe.setting("cleaner", "filter_margin"))
    out["ceiling"] = ceiling_segments(pipe, raw_all, truth_all)
    if margin:
        out["+ margins"] = ceiling_segments(pipe, raw_all, truth_all, margin)
    tail = slice(-min(len(raw_all), 75), None)  # the last ~600 s
    cleaned, raw = (np.concatenate(x[tail]) for x in (prod_all, raw_all))
    changes = {"out of band": out_of_band_change(cleaned, raw)}
    for low, high in MARGINS:
        powers = [
            band_power(x, RATE, low, high, SEGMENT) for x in (cleaned, raw)
        ]
        changes[f"{low:g}-{high:g} Hz"] = powers[0] / powers[1] - 1
    return out, gate_open, changes


def ceiling_segments(pipe, raw: list, truth: list, margin=0.0) -> Segments:
    """Segments of ``raw - bandpass(truth)``, the band-pass the cleaner's
    (``freq_low``, ``freq_high``, ``filter_order``; ``margin`` Hz wider on
    each side) over the whole run."""
    low, high = (
        float(pipe.setting("cleaner", k)) for k in ("freq_low", "freq_high")
    )
    band = (low - margin, high + margin)
    order = int(pipe.setting("cleaner", "filter_order"))
    passed = bandpass(np.concatenate(truth), *band, RATE, order)
    segments = Segments.empty()
    for k, (r, t) in enumerate(zip(raw, truth, strict=True)):
        cut = slice(k * t.size, (k + 1) * t.size)
        segments.add(r - passed[cut], r - t, t)
    return segments


def wiener_segments(sim, gps0, gps1, train_duration, cadence) -> Segments:
    """The Wiener filter, refitted every ``cadence`` s on the newest
    ``train_duration`` s before it."""
    segments = Segments.empty()
    usable = (gps1 - gps0) // SEGMENT * SEGMENT
    size = train_duration * RATE
    test = None
    for block in range(gps0, gps0 + usable, cadence):
        length = min(cadence, gps0 + usable - block)
        if test is not None and test.shape[-1] >= size:
            train = test[:, -size:]  # the newest data: the block before
        else:
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
    parser.add_argument(
        "--analyse",
        type=Path,
        default=None,
        metavar="DIR",
        help="only analyse the finished run in DIR (its run.json)",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="replace a setting of the run (a TOML value)",
    )
    args = parser.parse_args()
    if args.analyse is not None:
        run = json.loads((args.analyse / "run.json").read_text())
        pipe = pipeline(
            args.analyse, run["scene"], run["duration"], run.get("set", {})
        )
        analyse(pipe, run)
        return
    changes: dict[str, dict] = {}
    for item in args.set:
        name, value = item.split("=", 1)
        section, key = name.split(".", 1)
        changes.setdefault(section, {})[key] = tomllib.loads(f"v = {value}")[
            "v"
        ]
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-couplings-{args.scene}-"))
    pipe = pipeline(tmp, args.scene, args.duration, changes)
    print(f"scene {args.scene}: run in {tmp}", flush=True)
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
        run = dict(
            scene=args.scene,
            duration=args.duration,
            set=changes,
            gps0=gps0,
            first=first,
            versions=pipe.versions(),
            stale=log_count(pipe, "monitor", "no longer matches the coupling"),
            requests=log_count(pipe, "trainer", "at the monitor's request"),
        )
    finally:
        pipe.stop()
    (tmp / "run.json").write_text(json.dumps(run))
    analyse(pipe, run)


def pipeline(
    tmp: Path, scene: str, duration: int, changes: dict | None = None
) -> Pipeline:
    """The run of ``scene`` in ``tmp``: the default configuration but
    ``changes`` (section -> values); only what the analysis needs is
    kept."""
    overrides = {section: dict(v) for section, v in (changes or {}).items()}
    overrides.setdefault("replay", {}).update(
        keep_length=0, seed=OVERRIDES["replay"]["seed"]
    )
    overrides.setdefault("monitor", {})["max_frames"] = duration + 900
    return Pipeline(
        tmp, overrides, name=f"bench-couplings-{os.getpid()}", scene=scene
    )


def analyse(pipe: Pipeline, run: dict) -> None:
    gps0 = run["gps0"]
    gps1 = gps0 + run["duration"]
    products, gate_open, changes = pipeline_segments(pipe, gps0, gps1)
    train_duration = int(pipe.setting("trainer", "train_duration"))
    cadence = int(pipe.setting("trainer", "retrain_cadence"))
    sim = Simulator(scene_config(run["scene"], pipe.config, ifo=pipe.ifo))
    products["Wiener"] = wiener_segments(
        sim, gps0, gps1, train_duration, cadence
    )
    report(run, products, gate_open, changes)
    print(latency_line(pipe))


def latency_line(pipe: Pipeline) -> str:
    """p50 / p99 / max of carousel - raw frame appearance over every
    frame of the run (the kept files' mtimes)."""
    lags = pipe.latencies()
    if not lags:
        return "  latency: no frame of the run left to measure"
    p50, p99 = np.percentile(lags, [50, 99])
    return (
        f"  latency (carousel - raw frame appearance, every frame, training "
        f"included): p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(lags):.2f} "
        f"s over {len(lags)} frames"
    )


def report(run, products, gate_open, changes) -> None:
    versions = run["versions"]
    exported = [v["version"] for v in versions["versions"]]
    print(
        f"\nscene {run['scene']}, embedded CPU defaults, {run['duration']} s"
        f" measured after the first promotion ({run['first'] / 60:.1f} min "
        f"from start); versions exported {exported}, production at the end "
        f"{versions['production']}; stale alarms {run['stale']}, runs "
        f"trained at the monitor's request {run['requests']}; settings "
        f"changed: {run.get('set') or 'none'}"
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
        f"last half ({count // 2 * SEGMENT} s); lowest {WINDOW}-s window "
        "in each region:"
    )
    for name, seg in products.items():
        windows = np.array(
            [
                seg.removed(slice(k, k + per_window))
                for k in range(0, count - per_window + 1, per_window)
            ]
        )
        low = ", ".join(
            f"{r} {v:.3f}"
            for r, v in zip(REGIONS, windows.min(axis=0), strict=True)
        )
        print(
            f"  {name:11s} last half {seg.removed(half)[0]:7.3f}; lowest "
            f"window: {low} (of {len(windows)}; highest band "
            f"{windows[:, 0].max():.3f})"
        )
    seconds = count * SEGMENT
    margins = ", ".join(
        f"{name} {100 * v:+.2f} %"
        for name, v in changes.items()
        if name != "out of band"
    )
    print(
        f"  OUT_DQ gate open {gate_open} of {seconds} s; PRODUCTION "
        f"(last 600 s): out-of-band change "
        f"{100 * changes['out of band']:.2f} %; power change just "
        f"outside the band: {margins}"
    )


if __name__ == "__main__":
    main()
