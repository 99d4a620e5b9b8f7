"""DeepClean against a classical linear multi-input Wiener filter, on the
same simulated data, line and sidebands separately.

Trains the network with the embedded CPU trainer section of the root
pyproject (as ``bench/bench_trainer.py`` does) and fits the MISO Wiener
filter of ``bench/wiener.py`` on the same training stretch; both clean the
same held-out stretch. Removed fraction of the removable power (from the
simulator's truth) in: the whole band (58-62 Hz), the line (59.5-60.5 Hz)
and the sidebands (58-59.5 and 60.5-62 Hz), which are bilinear in the
witnesses and beyond any linear filter; and the power each adds just
outside the band (57-58 and 62-63 Hz), where the band-pass still passes
part of the prediction. Beside them the ceiling: a perfect prediction
through the same band-pass (the coupled noise in the filter's transition
at the band's edges stays, whatever the model). "+ margins" band-passes
the same prediction ``filter_margin`` Hz wider on each side: what the
cleaner subtracts where its tracker fits the margins at a gain of 1 (where
they would add power it fits them at 0, and the plain column holds).

    .venv/trainer/bin/python bench/bench_quality.py [--epochs N]
        [--scene sideband-heavy] [--set train_duration=512 ...]

``--scene`` simulates a scene of the root pyproject.toml (``replay-<scene>``,
as ``DEEPCLEAN_SCENE`` does); ``--set KEY=VALUE`` replaces a value of the
trainer section, for trying training settings before changing them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_trainer import GPS_START
from bench_trainer import train_config
from scenes import scene_config
from utils.nn.evaluate import predict_noise
from utils.nn.simdata import simulate_stretch
from utils.nn.train import train
from utils.signal import band_power
from utils.signal import bandpass
from utils.simulation import Simulator
from wiener import WienerFilter

RATE = 4096
EDGE = 4 * RATE
REGIONS = {
    "band 58-62 Hz": ((58.0, 62.0),),
    "line 59.5-60.5 Hz": ((59.5, 60.5),),
    "sidebands": ((58.0, 59.5), (60.5, 62.0)),
}
# Hz, just outside the band: the band-pass's transition, where it still
# passes part of the prediction, then beyond it (bins of 8-s segments);
# the cleaned power there must not exceed the raw
EDGES = ((57.0, 57.375), (57.5, 57.875), (62.125, 62.5), (62.625, 63.0))
EDGE_FFTLENGTH = 8.0


def removed(residual, background, truth) -> dict[str, float]:
    out = {}
    for name, bands in REGIONS.items():
        power = [
            sum(band_power(x, RATE, lo, hi) for lo, hi in bands)
            for x in (residual, background, truth)
        ]
        out[name] = 1 - (power[0] - power[1]) / power[2]
    return out


def edge_change(residual, raw) -> dict[str, float]:
    """Relative power change, cleaned vs raw, in each band of ``EDGES``
    (positive: the cleaning added power)."""
    return {
        f"{lo:g}-{hi:g} Hz": band_power(residual, RATE, lo, hi, EDGE_FFTLENGTH)
        / band_power(raw, RATE, lo, hi, EDGE_FFTLENGTH)
        - 1
        for lo, hi in EDGES
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--test-duration", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scene", default="")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    flags = []
    for item in args.set:
        key, value = item.split("=", 1)
        flags += [f"--{key.replace('_', '-')}", value]
    config, section = train_config(
        "trainer", tuple(flags), max_epochs=args.epochs
    )
    duration = int(section.train_duration)
    sim = Simulator(scene_config(args.scene))
    train_data, _ = simulate_stretch(sim, GPS_START, duration)
    test, truth = simulate_stretch(
        sim, GPS_START + duration + 8, args.test_duration
    )

    # the predictions are band-passed as the cleaner does, with the
    # trainer section's band (--set freq_low=... tries another) and with
    # its margins; the regions judged stay 58-62 Hz
    passband, wide = (section.freq_low, section.freq_high), section.filter_band
    order = int(section.filter_order)
    tic = time.perf_counter()
    result = train(train_data, config)
    network_time = time.perf_counter() - tic
    noise = predict_noise(result.model, test.witness, RATE)
    residual_nn = test.strain - bandpass(noise, *passband, RATE, order)
    residual_nm = test.strain - bandpass(noise, *wide, RATE, order)

    tic = time.perf_counter()
    wiener = WienerFilter(RATE).fit(train_data.witness, train_data.strain)
    prediction = bandpass(wiener.predict(test.witness), *passband, RATE, order)
    wiener_time = time.perf_counter() - tic
    residual_wf = test.strain - prediction

    # a perfect prediction through the same band-pass: the ceiling
    residual_ideal = test.strain - bandpass(truth, *passband, RATE, order)
    residual_im = test.strain - bandpass(truth, *wide, RATE, order)

    cut = slice(EDGE, -EDGE)
    background = (test.strain - truth)[cut]
    columns = {
        "DeepClean": residual_nn,
        "+ margins": residual_nm,
        "Wiener": residual_wf,
        "ceiling": residual_ideal,
        "ceiling + margins": residual_im,
    }
    figures = {
        name: removed(residual[cut], background, truth[cut])
        for name, residual in columns.items()
    }
    print(
        f"trained on {duration} s of simulated data, tested on "
        f"{args.test_duration - 8} s held out (removed fraction of the "
        f"removable power; 1 = perfect, 0 = nothing removed); predictions "
        f"band-passed at {passband[0]:g}-{passband[1]:g} Hz, order {order}; "
        f"+ margins: at {wide[0]:g}-{wide[1]:g} Hz; ceiling: a perfect "
        "prediction through the same band-pass"
    )
    print(f"  {'region':20s}" + "".join(f"{c:>18s}" for c in columns))
    for region in REGIONS:
        row = "".join(f"{figures[c][region]:18.4f}" for c in columns)
        print(f"  {region:20s}{row}")
    raw = test.strain[cut]
    edges = {
        name: edge_change(columns[name][cut], raw)
        for name in ("DeepClean", "+ margins", "Wiener")
    }
    print("  power added just outside the band (cleaned / raw - 1):")
    for region in edges["DeepClean"]:
        row = "".join(f"{edges[c][region]:+18.4f}" for c in edges)
        print(f"  {region:20s}{row}")
    print(
        f"  fit time: DeepClean {network_time:.0f} s "
        f"({len(result.history)} epochs), Wiener {wiener_time:.1f} s"
    )


if __name__ == "__main__":
    main()
