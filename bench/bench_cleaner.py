"""Cleaner at real-time speed: latency, CPU, memory, cleaning quality.

1. Real time: a writer thread produces simulated frames at 1 s per second
   (like replay), a real ``tritonserver`` serves the test regression model
   (``projects/cleaner/tests/regression_model``: least squares of strain on
   the mains witness and its products with the ASC witnesses, no trained
   network), and the ``cleaner`` console script runs as its own process with
   a typeo section of the root ``pyproject.toml`` for ``--duration`` s.
   Printed: frame latency p50/p99/max (the cleaner's own measure: carousel
   rename minus arrival of the raw frame), CPU s per s of data of the
   cleaner process (steady state), its peak RSS, and the removed fraction
   of PRODUCTION and OUT_DQ, ``1 - (P(cleaned) - P(background)) / P(truth)``
   in 58-62 Hz.
2. Schemes (offline, ``cleaner.offline``, on the same frames): the default
   window scheme vs the seed's kernels scheme (1 s kernels at 512 Hz, 0.5 s
   aggregation, ``utils.inference``) with the same model in-process:
   removed fraction and CPU s of prediction per s of data. With ``--run``
   (a training run folder, weights.pt; needs torch: run the script with
   ``.venv/exporter/bin/python``, which then skips part 1) the network.
3. ``--edge``: edge error of the streaming band-pass vs one zero-phase pass.

    .venv/cleaner/bin/python bench/bench_cleaner.py                # ~3 min
    .venv/cleaner/bin/python bench/bench_cleaner.py --duration 600 \
        --profiles cleaner cleaner-low-latency
    .venv/cleaner/bin/python bench/bench_cleaner.py --edge --duration 0

Goals: p99 latency <= 4.25 s (``cleaner``), <= 2.25 s
(``cleaner-low-latency``); CPU well below 1 s per s of data.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / "projects" / "cleaner"),
    str(ROOT / "projects" / "cleaner" / "tests"),
    str(ROOT / "projects" / "cleaner" / "tests" / "regression_model"),
]
import regression  # noqa: E402
from configs import SETTINGS  # noqa: E402
from configs import load_settings  # noqa: E402
from simdata import BAND  # noqa: E402
from simdata import EDGE_LENGTH  # noqa: E402
from simdata import GPS  # noqa: E402
from simdata import IFO  # noqa: E402
from simdata import RATE  # noqa: E402
from simdata import Feeder  # noqa: E402
from simdata import fit_coefficients  # noqa: E402
from simdata import resampled  # noqa: E402
from simdata import simulation_config  # noqa: E402

from cleaner.gate import OutDqGate  # noqa: E402
from cleaner.offline import clean_stretch  # noqa: E402
from cleaner.offline import read_stretch  # noqa: E402
from cleaner.postprocess import PredictionHistory  # noqa: E402
from cleaner.postprocess import StreamingFilter  # noqa: E402
from cleaner.prediction import Prediction  # noqa: E402
from utils.inference import Scheme  # noqa: E402
from utils.inference import predict  # noqa: E402
from utils.quality import removed_fraction  # noqa: E402
from utils.quality import truth_4096  # noqa: E402
from utils.signal import bandpass  # noqa: E402
from utils.simulation import Simulator  # noqa: E402
from utils.stream import Preprocessor  # noqa: E402
from utils.waiting import wait_for  # noqa: E402

WARMUP = 12  # s of output left out of quality figures (gate buffer etc.)


def regression_runner(coefficients: np.ndarray):
    """Batch ``(B, C, n)`` -> ``(B, n)``, faded at the edges of each
    window like the served model (a network's edge effects)."""
    edge = round(EDGE_LENGTH * RATE)

    def run(batch: np.ndarray) -> np.ndarray:
        return np.stack(
            [regression.predict(coefficients, x, edge) for x in batch]
        )

    return run


def network_runner(run_dir: Path):
    import torch

    from utils.nn.checkpoint import load_model

    model, _ = load_model(run_dir)
    torch.set_num_threads(1)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(batch, np.float32))
            return model(x).numpy().reshape(len(batch), -1)

    return run


def local_predictor(run, scheme: Scheme, clock: list[float]):
    """Predictor over ``run`` with ``scheme``; adds its CPU time to clock."""

    def predictor(witness: np.ndarray) -> Prediction:
        start = time.process_time()
        noise = predict(witness, run, scheme).astype(np.float64)
        clock[0] += time.process_time() - start
        return Prediction(noise, noise, 1, 1)

    return predictor


def compare_schemes(data_dir: Path, sim, run, length: int) -> None:
    """Offline removed fraction and CPU of both schemes on ``length`` s."""
    config = sim.config
    stream = replace(
        SETTINGS.stream_config(),
        data_dir=data_dir,
        strain_channel=config.strain_channel,
        state_channel=config.state_channel,
        witness_channels=tuple(config.witness_channels),
    )
    channels = [config.strain_channel, *config.witness_channels]
    rates = {c: float(config.sample_rate(c)) for c in config.witness_channels}
    rates[config.strain_channel] = float(config.strain_rate)
    start = GPS + WARMUP
    lead = 4  # s read before the compared stretch (one-shot filter edge)
    truth = truth_4096(data_dir, IFO, start, start + length)
    print(f"schemes, offline over {length} s (GPS {start}..):")
    production = load_settings("cleaner-production")  # W 2.5 s, E 0.5 s
    for name, scheme, window in (
        ("window (W 2 s)", Scheme("window"), SETTINGS.window_config()),
        (
            "kernels 1 s @ 512 Hz",
            Scheme("kernels"),
            production.window_config(),
        ),
    ):
        stretch = read_stretch(
            stream,
            Preprocessor(channels, rates, SETTINGS.preprocess_config()),
            start - lead,
            length + 2 * lead,
        )
        clock = [0.0]
        frames = clean_stretch(
            stretch,
            local_predictor(run, scheme, clock),
            window,
            SETTINGS.filter_config(),
            OutDqGate(SETTINGS.gate_config()),
            SETTINGS.tracking_config(),
        )[lead : lead + length]
        cleaned = np.concatenate([f.production for f in frames])
        raw = np.concatenate([f.raw for f in frames])
        fraction = removed_fraction(cleaned, raw, truth)
        print(
            f"  {name:22s} removed {fraction:.4f}   prediction CPU "
            f"{clock[0] / (length + 2 * lead) * 1e3:8.1f} ms per s of data"
        )


def edge_table(sim, coefficients) -> None:
    """Streaming band-pass vs one pass, on the regression's prediction."""
    duration = 48
    _, witness, _ = resampled(sim, GPS, duration)
    noise = regression.predict(coefficients, witness, 0)
    reference = bandpass(noise, *BAND, RATE)
    rms = np.sqrt(np.mean(reference[8 * RATE : -8 * RATE] ** 2))
    history = PredictionHistory(RATE, GPS)
    history.append(GPS, noise, 1)
    print("streaming band-pass edge error / RMS of band-passed noise")
    print("   P     F   AR order   RMS      max")
    for memory in (1.0, 2.0, 4.0):
        for pad in (0.5, 0.75):
            for order in (0, 32):
                run = StreamingFilter(
                    replace(
                        SETTINGS.filter_config(),
                        memory_length=memory,
                        pad_length=pad,
                        extrapolation_order=order,
                    )
                )
                error = np.concatenate(
                    [
                        run(history, GPS + i)
                        - reference[i * RATE : (i + 1) * RATE]
                        for i in range(8, duration - 8)
                    ]
                )
                print(
                    f"  {memory:3.1f}  {pad:4.2f}  {order:5d}   "
                    f"{np.sqrt(np.mean(error**2)) / rms:.1e}  "
                    f"{np.abs(error).max() / rms:.1e}"
                )


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_with_usage(pid: int, timeout: float) -> tuple:
    """(wait status, rusage) of child ``pid``; SIGKILL after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    return status, usage


def run_profile(profile, work, sim, triton, duration) -> Path:
    """Run the cleaner in real time with one typeo section; print figures.
    Returns the data folder."""
    root = work / profile
    text = (ROOT / "pyproject.toml").read_text()
    # no metrics server; DEBUG logs carry each frame's latency
    text = re.sub(
        r"metrics_port = .*CLEANER_METRICS.*",
        "metrics_port = 0\nverbose = true",
        text,
    )
    (root / "pyproject.toml").parent.mkdir(parents=True)
    (root / "pyproject.toml").write_text(text)
    env = dict(
        os.environ,
        IFO=IFO,
        PROJECT_DIR=str(root / "project"),
        DATA_DIR=str(root / "data"),
        DEEPCLEAN_PORT_TRITON_GRPC=triton.url.rsplit(":", 1)[1],
    )
    feeder = Feeder(sim, root / "data", GPS, duration + 60, 1.0, prefill=2)
    cleaner = Path(sys.executable).with_name("cleaner")
    command = [str(cleaner), "--typeo", f"{root / 'pyproject.toml'}:{profile}"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    feeder.start()
    carousel = root / "project" / "carousel"
    try:
        wait_for(
            lambda: any(carousel.glob("*.gwf")),
            f"the {profile} cleaner's first frame",
            timeout=30,
            alive=lambda: process.poll() is None,
        )
    except (TimeoutError, RuntimeError):
        process.kill()
        feeder.close()
        raise
    cpu0, t0 = proc_cpu(process.pid), time.monotonic()
    time.sleep(duration)
    cpu = (proc_cpu(process.pid) - cpu0) / (time.monotonic() - t0)
    os.kill(process.pid, signal.SIGTERM)  # not Popen's: it would reap
    status, usage = wait_with_usage(process.pid, timeout=30)
    process.returncode = os.waitstatus_to_exitcode(status)
    feeder.close()
    log = (root / "project" / "logs" / "cleaner.log").read_text()
    latency = np.array(
        [float(x) for x in re.findall(r"latency ([0-9.]+) s", log)]
    )
    print(
        f"profile {profile}: {latency.size} frames, exit {process.returncode}"
    )
    p50, p99 = np.percentile(latency, [50, 99])
    print(
        f"  latency p50 {p50:.3f} s  p99 {p99:.3f} s  "
        f"max {latency.max():.3f} s"
    )
    print(
        f"  CPU {cpu:.3f} s per s of data; peak RSS "
        f"{usage.ru_maxrss / 1024:.0f} MiB"
    )
    print_quality(carousel, root / "data")
    return root / "data"


def print_quality(carousel: Path, data_dir: Path) -> None:
    from service_run import CHANNELS
    from service_run import read_carousel

    frames = read_carousel(carousel)
    seconds = sorted(frames)[WARMUP:]
    seconds = list(range(seconds[0], seconds[-1] + 1))
    truth = truth_4096(data_dir, IFO, seconds[0], seconds[0] + len(seconds))
    raw = np.concatenate([frames[g][CHANNELS.raw] for g in seconds])
    for name in ("production", "out_dq"):
        channel = getattr(CHANNELS, name)
        cleaned = np.concatenate([frames[g][channel] for g in seconds])
        print(
            f"  removed fraction {name:10s} "
            f"{removed_fraction(cleaned, raw, truth):.4f} "
            f"over {len(seconds)} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add(
        "--duration",
        type=int,
        default=120,
        help="seconds of real-time cleaning per profile",
    )
    add(
        "--profiles",
        nargs="+",
        default=["cleaner"],
        help="typeo sections of pyproject.toml to run",
    )
    add(
        "--quality-length",
        type=int,
        default=30,
        help="seconds compared offline between schemes",
    )
    add("--run", type=Path, help="training run folder (needs torch)")
    add(
        "--edge",
        action="store_true",
        help="print the streaming band-pass edge error",
    )
    args = parser.parse_args()
    sim = Simulator(simulation_config())
    coefficients = fit_coefficients(sim, GPS - 1000)
    run = (
        network_runner(args.run)
        if args.run
        else regression_runner(coefficients)
    )
    work = Path(tempfile.mkdtemp(prefix="bench_cleaner_"))
    print(f"work folder {work}")
    if args.edge:
        edge_table(sim, coefficients)
    data_dir = None
    if args.run is None and args.duration > 0:
        from triton_server import TritonServer
        from triton_server import write_repository

        write_repository(work / "repo", coefficients)
        triton = TritonServer(
            work / "repo", work / "triton.log", EDGE_LENGTH, 0.5
        )
        triton.configure(1, 2)
        triton.start()
        try:
            for profile in args.profiles:
                data_dir = run_profile(
                    profile, work, sim, triton, args.duration
                )
        finally:
            triton.stop()
    needed = WARMUP + args.quality_length + 8
    if data_dir is None or args.duration < needed:
        data_dir = work / "data"
        sim.write_stretch(data_dir, GPS, needed, overwrite=True)
    compare_schemes(data_dir, sim, run, args.quality_length)


if __name__ == "__main__":
    main()
