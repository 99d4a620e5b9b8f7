"""The whole pipeline at real time: end-to-end latency, CPU per service,
cleaning quality.

Starts ``run.sh`` headless on simulated frames (the same harness as the
end-to-end test, ``tests/pipeline.py``), waits for the first promoted model,
then measures for ``--duration`` seconds:

- latency of each frame = carousel file time - raw strain file time of the
  same GPS second (docs/architecture.md, "Latency and compute"), p50/p99/max;
- CPU seconds per second of data of each service's process tree (/proc);
- removed fraction of the removable in-band power of PRODUCTION and OUT_DQ
  against the simulator's truth, and the out-of-band change.

    .venv/tests/bin/python bench/bench_pipeline.py [--duration 600]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import OVERRIDES
from pipeline import Pipeline
from pipeline import wait_until
from utils.channels import State
from utils.quality import out_of_band_change
from utils.quality import removed_fraction
from utils.quality import truth_4096

SERVICES = ("triton", "exporter", "replay", "trainer", "cleaner", "monitor")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants."""
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1]
            values = fields.split()
            total += (int(values[11]) + int(values[12])) / CLK_TCK
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=180)
    args = parser.parse_args()

    # the test's scaled-down training, but the monitor's own status cadence
    # (the test renders every 5 s, ~1.2 s of CPU each)
    overrides = {
        **OVERRIDES,
        "monitor": {**OVERRIDES["monitor"], "status_interval": 30.0},
    }
    pipe = Pipeline(
        Path(tempfile.mkdtemp(prefix="bench-pipeline-")),
        overrides,
        name=f"bench-{os.getpid()}",
    )
    pipe.start()
    try:
        wait_until(
            lambda: pipe.versions()["production"],
            "a promoted model",
            1200,
            interval=5,
        )
        time.sleep(15)  # the gate opens after its 8 s buffer
        pids = {s: pipe.pane_pid(s) for s in SERVICES}
        cpu0 = {s: tree_cpu(p) for s, p in pids.items()}
        gps0 = pipe.carousel_gps()[-1] + 1
        time.sleep(args.duration)
        cpu1 = {s: tree_cpu(p) for s, p in pids.items()}
        gps1 = pipe.carousel_gps()[-1]
        seconds = gps1 - gps0 + 1
        report(pipe, gps0, gps1, seconds, cpu0, cpu1)
    finally:
        pipe.stop()


def report(pipe, gps0, gps1, seconds, cpu0, cpu1) -> None:
    lat = np.array(pipe.latencies(range(gps0, gps1 + 1)))
    print(
        f"pipeline at real time, {seconds} s of data after promotion "
        f"(2 cores, embedded CPU defaults)"
    )
    print(
        f"  latency (carousel - raw frame appearance): p50 "
        f"{np.percentile(lat, 50):.3f} s, p99 {np.percentile(lat, 99):.3f}"
        f" s, max {lat.max():.3f} s over {lat.size} frames"
    )
    print("  CPU per second of data:")
    for service in SERVICES:
        used = (cpu1[service] - cpu0[service]) / seconds
        print(f"    {service:9s} {1e3 * used:7.1f} ms")
    ch = pipe.channels
    frames = [pipe.frame(g) for g in range(gps1 - 63, gps1 + 1)]
    gate = all(np.all(f[ch.state] & State.OUT_DQ_ON) for f in frames)
    raw = np.concatenate([f[ch.raw] for f in frames])
    truth = truth_4096(pipe.data_dir, "L1", gps1 - 63, gps1 + 1)
    for channel in (ch.production, ch.out_dq):
        cleaned = np.concatenate([f[channel] for f in frames])
        print(
            f"  {channel.split(':')[1]}: removed "
            f"{removed_fraction(cleaned, raw, truth):.4f} of the removable"
            f" in-band power, out-of-band change "
            f"{100 * out_of_band_change(cleaned, raw):.2f}% "
            f"(last 64 s, gate open throughout: {gate})"
        )


if __name__ == "__main__":
    main()
