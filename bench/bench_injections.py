"""Injection study: does cleaning ever harm an astrophysical signal?

Starts ``run.sh`` headless (``tests/pipeline.py``, the real services and
Triton) on simulated frames with compact-binary injections (BNS and BBH,
optimal SNR 8-30, every ``--interval`` s, strain only:
:mod:`utils.injections`), in one or more scenarios:

- ``coupled``: the default simulator (60 Hz line and sidebands);
- ``clean``: nothing coupled (``line_ratio = sideband_ratio = 0``); the
  trainer is made to train anyway and the monitor to promote a canary no
  worse than raw by 1 % (``--clean-*``), so that a model of nothing is
  live in PRODUCTION and OUT_DQ;
- a scene of the root configuration (``sideband-heavy``, ``drifting``:
  ``DEEPCLEAN_SCENE``), analysed as ``coupled``.

The services run with the end-to-end suite's scaled-down training
(``tests/conftest.py``), or with ``--default-config`` the root
configuration's (as ``bench_couplings.py`` runs a scene); the frame
source's seed is the suite's either way.

After the first promotion it waits for ``--injections`` whole injection
slots, then, for each, filters RAW, PRODUCTION, OUT_DQ and CANARY of the
cleaner's frames (4096 Hz) with the exact template (the injected signal
resampled to 4096 Hz as :mod:`utils.stream` resamples strain), the PSD
estimated from each product itself (:mod:`utils.matched_filter`), over the
slot and 2 s on each side; IDEAL is RAW minus the simulator's truth (a
perfect subtraction: the spread of the measure itself). A product is
analysed for an injection only if every second of that window says it was
made by a model (PRODUCTION_OK for PRODUCTION and OUT_DQ, CANARY_OK for
CANARY).

Prints per scenario and product: mean and worst SNR change vs RAW, max
|peak time offset| (samples), max |phase offset|, the count of injections
more than 0.5 % below raw; the worst SNR change with RAW's PSD weighting
both (``data_change``: what the cleaning did to the data at the signal,
apart from the product's own PSD weighting 58-62 Hz more once the noise
there is gone) and its count below -0.5 %; PRODUCTION's three lowest
injections by each of the two, with IDEAL's at the same injections; the
live model versions; the
highest and lowest ASD(X)/ASD(RAW) in 10-2000 Hz (Welch, 8 s) and where
they are (above 1: power added), outside 58-62 Hz for a coupled scene,
everywhere for ``clean``.

Each run's folder keeps its frames and ``run.json`` (the scenario, the
options it ran with, the slots, the versions); ``--analyse DIR ...``
analyses finished runs again without running anything.

    .venv/tests/bin/python bench/bench_injections.py [--injections 50]
        [--interval 28] [--scenarios coupled clean] [--default-config]
    .venv/tests/bin/python bench/bench_injections.py --default-config \
        --scenarios sideband-heavy drifting
    .venv/tests/bin/python bench/bench_injections.py --analyse DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np
from scipy.signal import firwin
from scipy.signal import resample_poly
from scipy.signal import welch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import OVERRIDES
from conftest import TRAIN_TIMEOUT
from pipeline import Pipeline
from pipeline import wait_until
from scenes import scene_config
from utils.channels import STRAIN_RATE
from utils.channels import State
from utils.injections import Injector
from utils.injections import injection_path
from utils.matched_filter import MAX_SNR_LOSS
from utils.matched_filter import compare_injection
from utils.quality import truth_4096

SIM_RATE = 16384  # Hz, the simulated strain
PAD_LENGTH = 2  # s of data on each side of a slot
ASD_LENGTH = 8.0  # s, Welch segments of the clean-data ASD check
ASD_BAND = (10.0, 2000.0)  # Hz
BAND = (58.0, 62.0)  # Hz, where the coupled scene's noise is subtracted
PRODUCTS = ("production", "out_dq", "canary")
IDEAL = "ideal"  # RAW minus the simulator's truth: a perfect subtraction
# the run's record in its folder: what --analyse needs to analyse it again
RUN_RECORD = "run.json"
# the options a run's configuration and slots come from
OPTIONS = (
    "injections",
    "interval",
    "snr",
    "low_frequency",
    "default_config",
    "retrain_cadence",
    "clean_min_coherence",
    "clean_ratio_threshold",
)
NEEDS = {
    "production": State.PRODUCTION_OK,
    "out_dq": State.PRODUCTION_OK,
    "canary": State.CANARY_OK,
}


@dataclass
class Results:
    # product -> slot -> its comparison, in slot order
    comparisons: dict[str, dict] = field(
        default_factory=lambda: {p: {} for p in (*PRODUCTS, IDEAL)}
    )
    raw_over_optimal: list[float] = field(default_factory=list)
    versions: set[int] = field(default_factory=set)
    # product -> (RAW, product) over each analysed slot
    seconds: dict[str, list[tuple]] = field(
        default_factory=lambda: {p: [] for p in PRODUCTS}
    )
    gate_open: int = 0
    analysed: int = 0


def template_4096(injector: Injector, index: int, gps_start, gps_stop):
    """Injection ``index`` alone (not its neighbours' chirps) over
    ``[gps_start, gps_stop)`` at 4096 Hz, resampled as
    :class:`utils.stream.Preprocessor` resamples the strain (its Kaiser FIR,
    one second of context on each side)."""
    made = injector.injection(index)
    x = np.zeros((gps_stop - gps_start + 2) * SIM_RATE)
    first = (made.slot_start - gps_start + 1) * SIM_RATE + made.start_index
    x[first : first + made.signal.size] = made.signal
    down = SIM_RATE // STRAIN_RATE
    taps = firwin(20 * down + 1, 1 / down, window=("kaiser", 5.0))
    y = resample_poly(x, 1, down, window=taps)
    return y[STRAIN_RATE:-STRAIN_RATE]


def analyse_slot(pipe, injector, index, results) -> None:
    made = injector.injection(index)
    start = made.slot_start - PAD_LENGTH
    stop = made.slot_start + injector.interval + PAD_LENGTH
    path = injection_path(
        pipe.data_dir, "L1", made.slot_start, injector.interval
    )
    if not path.exists():
        raise RuntimeError(f"the replay wrote no record {path}")
    frames = [pipe.frame(g) for g in range(start, stop)]
    ch = pipe.channels
    states = np.concatenate([f[ch.state] for f in frames]).astype(int)
    if not np.all(states & State.INPUT_OK):
        print(f"  slot {index}: an input second is missing; skipped")
        return
    raw = np.concatenate([f[ch.raw] for f in frames])
    template = template_4096(injector, index, start, stop)
    results.analysed += 1
    results.gate_open += int(np.all(states & State.OUT_DQ_ON))
    for product in PRODUCTS:
        if not np.all(states & NEEDS[product]):
            continue
        data = np.concatenate([f[getattr(ch, product)] for f in frames])
        comparison = compare_injection(raw, data, template, STRAIN_RATE)
        results.comparisons[product][index] = comparison
        inner = slice(PAD_LENGTH * STRAIN_RATE, -PAD_LENGTH * STRAIN_RATE)
        results.seconds[product].append((raw[inner], data[inner]))
    ideal = raw - truth_4096(pipe.data_dir, "L1", start, stop)
    comparison = compare_injection(raw, ideal, template, STRAIN_RATE)
    results.comparisons[IDEAL][index] = comparison
    results.raw_over_optimal.append(comparison.raw_snr / made.params.snr)
    tags = np.concatenate([f[ch.production_version] for f in frames])
    results.versions.update(int(v) for v in tags if v > 0)


def asd_extremes(
    results: Results, product: str, exclude: tuple[float, float] | None
) -> tuple[tuple[float, float], tuple[float, float]]:
    """``((lowest, freq), (highest, freq))`` of ASD(product) / ASD(RAW)
    over 10-2000 Hz but ``exclude``."""
    raw = np.concatenate([pair[0] for pair in results.seconds[product]])
    data = np.concatenate([pair[1] for pair in results.seconds[product]])
    size = int(ASD_LENGTH * STRAIN_RATE)
    freqs, p_raw = welch(raw, STRAIN_RATE, nperseg=size)
    _, p_data = welch(data, STRAIN_RATE, nperseg=size)
    band = (freqs >= ASD_BAND[0]) & (freqs <= ASD_BAND[1])
    if exclude is not None:
        band &= (freqs < exclude[0]) | (freqs > exclude[1])
    ratio, freqs = np.sqrt(p_data[band] / p_raw[band]), freqs[band]
    low, high = int(np.argmin(ratio)), int(np.argmax(ratio))
    return (
        (float(ratio[low]), float(freqs[low])),
        (float(ratio[high]), float(freqs[high])),
    )


def scenario_overrides(name: str, args) -> dict[str, dict]:
    """The configuration's changes for scenario ``name`` (``coupled``,
    ``clean`` or a scene of the root configuration) run with ``args``."""
    # the suite's scaled-down training, or the root configuration's; the
    # seed is the suite's either way, so that the injections are the same
    base = {} if args.default_config else OVERRIDES
    overrides = {section: dict(values) for section, values in base.items()}
    overrides.setdefault("replay", {}).update(
        seed=OVERRIDES["replay"]["seed"],
        injection_interval=args.interval,
        injection_snr=list(args.snr),
        injection_low_frequency=args.low_frequency,
        keep_length=0,  # the truth frames give the ideal subtraction
    )
    overrides.setdefault("monitor", {}).update(
        status_interval=30.0,
        max_frames=args.injections * args.interval + 900,
    )
    overrides.setdefault("trainer", {})
    if name == "clean":
        overrides["replay"].update(line_ratio=0.0, sideband_ratio=0.0)
        # the trainer's data check refuses witnesses without coherence,
        # and no model beats raw here: force training, and promotion of a
        # model no worse than raw by 1 %, to see what a model of nothing
        # does to the product
        overrides["trainer"]["min_coherence"] = args.clean_min_coherence
        overrides["monitor"]["ratio_threshold"] = args.clean_ratio_threshold
    if args.retrain_cadence:
        overrides["trainer"]["retrain_cadence"] = args.retrain_cadence
    return overrides


def scenario_pipeline(folder: Path, name: str, args) -> Pipeline:
    """The pipeline of scenario ``name`` in ``folder`` (its configuration
    written there; nothing started)."""
    return Pipeline(
        folder,
        scenario_overrides(name, args),
        name=f"bench-inj-{name}-{os.getpid()}",
        scene="" if name in ("coupled", "clean") else name,
    )


def scenario_injector(pipe: Pipeline) -> Injector:
    """What the frame source injects, as it reads the written config."""
    injector = Injector(scene_config(pipe.scene, pipe.config, ifo=pipe.ifo))
    if injector.sample_rate != SIM_RATE:
        raise SystemExit(f"the scene simulates {injector.sample_rate} Hz")
    return injector


def run_scenario(name: str, args) -> Path:
    """Run scenario ``name`` until its injections are written; the run's
    folder, its record (:data:`RUN_RECORD`) in it."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-injections-{name}-"))
    pipe = scenario_pipeline(folder, name, args)
    scenario_injector(pipe)  # a scene the injector cannot follow: now
    print(f"[{name}] run in {folder}", flush=True)
    tic = time.monotonic()
    pipe.start()
    try:
        try:
            wait_until(
                lambda: pipe.versions()["versions"],
                "a first exported version",
                TRAIN_TIMEOUT,
                interval=5,
            )
            promoted = wait_until(
                lambda: pipe.versions()["production"],
                "a promoted model",
                args.promote_timeout,
                interval=5,
            )
            print(
                f"[{name}] version {promoted} promoted after "
                f"{time.monotonic() - tic:.0f} s",
                flush=True,
            )
        except TimeoutError:
            print(f"[{name}] nothing exported or promoted in time")
        first = pipe.carousel_gps()[-1] + PAD_LENGTH + 1
        index0 = -(-first // args.interval)  # first whole slot after it
        last = index0 + args.injections - 1
        end = (last + 1) * args.interval + PAD_LENGTH
        wait_until(
            lambda: pipe.carousel_gps()[-1] >= end,
            f"the carousel to reach GPS {end}",
            1.5 * (end - first) + 300,
            interval=10,
        )
        versions = pipe.versions()
    finally:
        pipe.stop()
    run = dict(
        scenario=name,
        options={key: getattr(args, key) for key in OPTIONS},
        slots=[index0, last],
        versions=versions,
        wall=time.monotonic() - tic,
    )
    (folder / RUN_RECORD).write_text(json.dumps(run, indent=1))
    return folder


def analyse_run(folder: Path) -> None:
    """Analyse the injections of the finished run in ``folder`` from its
    kept frames and its record, and print the figures."""
    run = json.loads((folder / RUN_RECORD).read_text())
    args = argparse.Namespace(**run["options"])
    pipe = scenario_pipeline(folder, run["scenario"], args)
    injector = scenario_injector(pipe)
    results = Results()
    first, last = run["slots"]
    for index in range(first, last + 1):
        analyse_slot(pipe, injector, index, results)
    report(run, results)


def report(run: dict, results: Results) -> None:
    name, versions, wall = run["scenario"], run["versions"], run["wall"]
    print(
        f"\n== scenario {name}: {results.analysed} injections analysed "
        f"(OUT_DQ gate open throughout for {results.gate_open}); "
        f"{wall / 60:.1f} min wall"
    )
    ratio = np.array(results.raw_over_optimal)
    print(
        f"  RAW SNR / optimal SNR: mean {ratio.mean():.3f}, "
        f"min {ratio.min():.3f}"
    )
    print(
        f"  versions exported {[v['version'] for v in versions['versions']]}"
        f", production now "
        f"{versions['production']}, production versions in the analysed "
        f"frames {sorted(results.versions)}"
    )
    print(
        f"  {'product':10s} {'n':>3s} {'mean dSNR':>10s} {'worst dSNR':>11s}"
        f" {'max|dt|':>8s} {'max|dphi|':>10s} {'< -0.5%':>8s}"
        f" {'worst data':>11s} {'< -0.5%':>8s}"
    )
    for product in (*PRODUCTS, IDEAL):
        found = list(results.comparisons[product].values())
        if not found:
            print(f"  {product.upper():10s}   0 (never live)")
            continue
        change = np.array([c.snr_change for c in found])
        dt = max(abs(c.time_offset) for c in found)
        dphi = max(abs(c.phase_offset) for c in found)
        worse = int(np.sum(change < -MAX_SNR_LOSS))
        data = np.array([c.data_change for c in found])
        harmed = int(np.sum(data < -MAX_SNR_LOSS))
        print(
            f"  {product.upper():10s} {len(found):3d} "
            f"{100 * change.mean():+9.3f}% {100 * change.min():+10.3f}% "
            f"{dt:8d} {dphi:9.4f}r {worse:8d} "
            f"{100 * data.min():+10.3f}% {harmed:8d}"
        )
    print(
        "  (worst data: the SNR change with RAW's PSD weighting both, the "
        "change of the data at the signal alone)"
    )
    lowest_changes(results)
    # with nothing coupled every frequency must stay; else all but the band
    exclude = None if name == "clean" else BAND
    where = "" if exclude is None else f" but {BAND[0]:g}-{BAND[1]:g} Hz"
    for product in PRODUCTS:
        pairs = results.seconds[product]
        if not pairs:
            continue
        seconds = sum(pair[0].size for pair in pairs) // STRAIN_RATE
        (low, f_low), (high, f_high) = asd_extremes(results, product, exclude)
        print(
            f"  {name}, {product.upper()}: ASD/ASD(RAW) in "
            f"{ASD_BAND[0]:g}-{ASD_BAND[1]:g} Hz{where}: highest "
            f"{high:.4f} at {f_high:g} Hz, lowest {low:.4f} at {f_low:g} Hz "
            f"over {seconds} s (Welch {ASD_LENGTH:g} s)"
        )


# the two measures of an injection: (attribute, how it is printed)
DATA = ("data_change", "data change")
OWN_PSD = ("snr_change", "dSNR with its own PSD")


def lowest_changes(results: Results, count: int = 3) -> None:
    """PRODUCTION's lowest changes by each measure, each with IDEAL's at
    the same injection (whether the cleaning or the measure lost the SNR)
    and the other measure's."""
    found = results.comparisons["production"].items()
    ideal = results.comparisons[IDEAL]
    lines = []
    for (key, label), (other, other_label) in (
        (DATA, OWN_PSD),
        (OWN_PSD, DATA),
    ):
        lowest = sorted(found, key=lambda pair: getattr(pair[1], key))
        lines.append(f"  PRODUCTION's lowest by {label}:")
        lines += [
            f"    slot {slot}: {100 * getattr(c, key):+.3f}% (IDEAL "
            f"{100 * getattr(ideal[slot], key):+.3f}%), {other_label} "
            f"{100 * getattr(c, other):+.3f}%"
            for slot, c in lowest[:count]
        ]
    if found:
        print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--injections", type=int, default=50)
    parser.add_argument("--interval", type=int, default=28)
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["coupled", "clean"],
        help="coupled, clean, or scenes of the root configuration",
    )
    parser.add_argument(
        "--default-config",
        action="store_true",
        help="train and validate with the root configuration, not the "
        "end-to-end suite's scaled-down values",
    )
    parser.add_argument("--snr", type=float, nargs=2, default=[8.0, 30.0])
    parser.add_argument("--low-frequency", type=float, default=50.0)
    parser.add_argument(
        "--retrain-cadence",
        type=int,
        default=0,
        help="s of new data between training runs (0: the test's: once)",
    )
    parser.add_argument(
        "--clean-min-coherence",
        type=float,
        default=0.0,  # not enforced: always trains
        help="the trainer's min_coherence in the clean scenario (its "
        "default, 0.2, refuses to train on data with nothing coupled; 0 "
        "does not enforce the check)",
    )
    parser.add_argument(
        "--clean-ratio-threshold",
        type=float,
        default=1.01,
        help="the monitor's ratio_threshold in the clean scenario (its "
        "default, 1.0, never promotes a model where nothing can be removed)",
    )
    parser.add_argument(
        "--promote-timeout",
        type=float,
        default=300.0,
        help="s after the first export; then the canary alone is analysed",
    )
    parser.add_argument(
        "--analyse",
        type=Path,
        nargs="+",
        default=[],
        metavar="DIR",
        help="only analyse the finished runs in DIR (their run.json)",
    )
    args = parser.parse_args()
    if args.analyse:
        for folder in args.analyse:
            analyse_run(folder)
        return
    for name in args.scenarios:  # a misspelt scene ends the run now
        if name not in ("coupled", "clean"):
            scene_config(name)
    for name in args.scenarios:
        analyse_run(run_scenario(name, args))


if __name__ == "__main__":
    main()
