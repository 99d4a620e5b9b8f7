"""Two pipelines on one node: H1 and L1 side by side, as an operator runs
them (``IFO=H1 ./run.sh h1`` and ``IFO=L1 ./run.sh l1``, one configuration
file, each run's ports from its own ``DEEPCLEAN_PORT_BASE``).

Both start headless on simulated frames with the scaled-down settings of
the end-to-end suite (``tests/conftest.py`` OVERRIDES, written to a copy
of the root configuration), then for each run it prints: the witnesses
simulated, seconds to the first exported version and to the first
promotion (waited for run by run, so the second run's figures are upper
bounds), and, over ``--duration`` seconds after both promoted, the
carousel frames per second of wall time, whether they are one per GPS
second (no gap, no duplicate), and the newest frame's lag behind the raw
strain. Both runs are stopped at the end, whatever happened. CPU-heavy
(two pipelines, two trainings) on 2 cores: a benchmark, not a test.

    .venv/tests/bin/python bench/bench_two_ifos.py [--duration 180]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import requests
import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import OVERRIDES
from utils.follower import list_gps
from utils.gwf import read_frame
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"h1": ("H1", 18000), "l1": ("L1", 19000)}  # name: IFO, port base
TRAIN_TIMEOUT = 1500  # s: two trainings share 2 cores
PROMOTE_TIMEOUT = 600  # s after the first version
START_TIMEOUT = 600  # s for run.sh start


def write_config(path: Path) -> None:
    """The root configuration with the end-to-end suite's overrides."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        config = tomllib.load(handle)
    typeo = config["tool"]["typeo"]
    for section, values in OVERRIDES.items():
        table = (
            typeo["base"] if section == "base" else typeo["scripts"][section]
        )
        table.update(values)
    path.write_text(tomli_w.dumps(config))


class Run:
    """One ``run.sh`` run of the pair."""

    def __init__(self, name: str, work: Path, config: Path) -> None:
        ifo, base = RUNS[name]
        self.name, self.ifo, self.base = name, ifo, base
        self.project_dir = work / name / "project"
        self.env = dict(
            os.environ,
            IFO=ifo,
            DEEPCLEAN_PORT_BASE=str(base),
            PROJECT_DIR=str(self.project_dir),
            DATA_DIR=str(work / name / "data"),
            DEEPCLEAN_SOURCE="simulate",  # its data folder is its own
            ARCHIVE_DIR=str(self.project_dir / "archive"),
            DEEPCLEAN_CONFIG=str(config),
            DEEPCLEAN_PROFILE="",
            DEEPCLEAN_API_TOKEN="bench-token-" + os.urandom(8).hex(),
            CI="true",
        )
        self.exporter_url = f"http://127.0.0.1:{base + 3}"
        self.status_url = f"http://127.0.0.1:{base + 4}"
        self.carousel = self.project_dir / "carousel"
        self.raw = work / name / "data" / "kafka" / ifo
        self.figures: dict[str, object] = {}

    def run_sh(self, action: str, timeout: float) -> str:
        done = subprocess.run(
            [str(ROOT / "run.sh"), self.name, action],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode not in (0, 3):
            raise RuntimeError(
                f"run.sh {self.name} {action}: {done.stdout}{done.stderr}"
            )
        return done.stdout

    def versions(self) -> dict | None:
        try:
            r = requests.get(f"{self.exporter_url}/versions", timeout=5)
            return r.json() if r.ok else None
        except requests.RequestException:
            return None

    def status_page(self) -> bool:
        try:
            return requests.get(self.status_url, timeout=5).ok
        except requests.RequestException:
            return False


def measure(runs: list[Run], duration: float) -> None:
    """Carousel frames per second, contiguity and lag of each run."""
    start = {r.name: set(list_gps(r.carousel)) for r in runs}
    t0 = time.monotonic()
    time.sleep(duration)
    elapsed = time.monotonic() - t0
    for run in runs:
        gps = list_gps(run.carousel)
        new = sorted(set(gps) - start[run.name])
        raw = list_gps(run.raw)
        witness_dir = run.raw.parents[1] / "lldetchar" / run.ifo
        newest = sorted(witness_dir.glob("*.gwf"))[-1]
        run.figures.update(
            witnesses_in_frames=len(read_frame(newest)),
            frames_per_second=round(len(new) / elapsed, 3),
            one_per_second=new == list(range(new[0], new[0] + len(new)))
            if new
            else False,
            lag_seconds=(raw[-1] - gps[-1]) if raw and gps else None,
            status_page=run.status_page(),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=180.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="two-ifos-") as tmp:
        work = Path(tmp)
        config = work / "pyproject.toml"
        write_config(config)
        runs = [Run(name, work, config) for name in RUNS]
        t0 = time.monotonic()
        try:
            for run in runs:
                run.run_sh("start", START_TIMEOUT)
                run.figures["started_s"] = round(time.monotonic() - t0)
            for run in runs:
                wait_for(
                    lambda run=run: (
                        (run.versions() or {}).get("versions") or None
                    ),
                    f"{run.name}: a first exported version",
                    TRAIN_TIMEOUT,
                    interval=5,
                )
                run.figures["first_version_s"] = round(time.monotonic() - t0)
            for run in runs:
                wait_for(
                    lambda run=run: (
                        (run.versions() or {}).get("production") or None
                    ),
                    f"{run.name}: a promotion",
                    PROMOTE_TIMEOUT,
                    interval=2,
                )
                run.figures["promoted_s"] = round(time.monotonic() - t0)
            measure(runs, args.duration)
        finally:
            for run in runs:
                try:
                    run.run_sh("stop", 120)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(f"stopping {run.name}: {exc}", file=sys.stderr)
        for run in runs:
            print(
                f"{run.name} (IFO={run.ifo}, ports {run.base}.."
                f"{run.base + 9}): {run.figures}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
