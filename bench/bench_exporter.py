"""Benchmark of the exporter and the served pipeline (prints figures).

    .venv/exporter/bin/python bench/bench_exporter.py [--requests 40]
        [--kernel-requests 4] [--runs 2]

Starts its own tritonserver (``triton-server/serve.sh``, CPU) on free
ports over a temporary repository and an in-process exporter
(``create_app``, the root ``[exporter]`` settings); makes
training runs with the production-size network (18 witnesses, ~43k
parameters, random weights, scalers from simulator witnesses) and prints:

- export time per version (POST /versions to loaded; and the conversion
  alone, export + verification, from version.json);
- pipeline latency (gRPC, both models: production and canary on different
  versions) and CPU time of the tritonserver process tree (server plus
  python-backend stubs, from /proc) per 1 s of data, for the default
  ``window`` scheme (a 2 s window per 1 s of data) and the seed's
  ``kernels`` scheme (1 s kernels at 512 Hz, 0.5 s aggregation; a 2.5 s
  window per 1 s of data, as cleaner-production sends).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from scipy.signal import resample_poly

from exporter.app import create_app
from exporter.app import service_of
from exporter.config import ExporterSettings
from exporter.config import cleaner_settings
from exporter.service import AppConfig
from utils.config import parse_settings
from utils.nn.architecture import DeepClean
from utils.nn.architecture import count_parameters
from utils.nn.checkpoint import ModelMeta
from utils.nn.checkpoint import save_model
from utils.runs import DONE_FILE
from utils.runs import VERIFY_FILE
from utils.runs import run_name
from utils.runs import train_dir
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.simulation import default_witness_channels
from utils.testing import free_port
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 4096
TOKEN = "bench-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GPS = 1_400_000_000
KERNELS_PER_CALL = 128  # the seed scheme's calls here (production: 769)
SCHEME_KEYS = (
    "scheme",
    "kernel_length",
    "inference_sampling_rate",
    "aggregation_length",
)
# what run.sh exports; the folders are the benchmark's own
ENVIRON = {"IFO": "L1", "PROJECT_DIR": "/nonexistent", "DATA_DIR": "/none"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def witnesses(gps: int, duration: int) -> np.ndarray:
    """Simulated L1 witnesses at 4096 Hz, (18, duration * 4096)."""
    sim = Simulator(SimulationConfig(ifo="L1"))
    seconds = [sim.witness_data(gps + i) for i in range(duration)]
    rows = []
    for name in default_witness_channels("L1"):
        data = np.concatenate([s[name].data for s in seconds])
        rate = int(seconds[0][name].sample_rate)
        rows.append(resample_poly(data, SAMPLE_RATE // rate, 1))
    return np.asarray(rows, dtype=np.float32)


def make_run(train: Path, start: int, seed: int) -> str:
    """A finished run of the production-size network."""
    channels = default_witness_channels("L1")
    witness = witnesses(start, 4)
    torch.manual_seed(seed)
    model = DeepClean(len(channels))
    with torch.no_grad():
        model.witness_mean.copy_(torch.from_numpy(witness.mean(axis=1)))
        model.witness_std.copy_(torch.from_numpy(witness.std(axis=1)))
        model.strain_std.fill_(1e-20)
    meta = ModelMeta(
        "L1:GDS-CALIB_STRAIN", channels, SAMPLE_RATE, start, start + 4096
    )
    path = train / run_name(start, start + 4096)
    save_model(model.eval(), meta, path)
    np.savez(path / VERIFY_FILE, witness=witness)
    (path / DONE_FILE).write_text("")
    return path.name, count_parameters(model)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants.

    Reaped children (python stubs of unloaded versions) count through their
    parent's cutime/cstime, so the sum never decreases.
    """
    parents, times = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(f) for f in fields[11:15])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(p, 0) for p in tree) / CLK_TCK


def start_triton(repo: Path, log: Path) -> tuple[subprocess.Popen, dict]:
    ports = {"http": free_port(), "grpc": free_port(), "metrics": free_port()}
    command = [
        str(ROOT / "triton-server" / "serve.sh"),
        str(repo),
        "--http-port",
        str(ports["http"]),
        "--grpc-port",
        str(ports["grpc"]),
        "--metrics-port",
        str(ports["metrics"]),
    ]
    process = subprocess.Popen(
        command,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def live() -> bool:
        client = triton_http.InferenceServerClient(
            f"127.0.0.1:{ports['http']}", connection_timeout=1.0
        )
        try:
            return client.is_server_live()
        except Exception:  # not up yet
            return False
        finally:
            client.close()

    wait_for(
        live,
        "tritonserver",
        90.0,
        interval=0.2,
        alive=lambda: process.poll() is None,
    )
    return process, ports


def export(client, run: str) -> float:
    start = time.monotonic()
    job = client.post("/versions", json={"run": run}, headers=AUTH)
    job_id = job.get_json()["id"]

    def done() -> dict | None:
        body = client.get(f"/jobs/{job_id}").get_json()
        return None if body["status"] in ("queued", "running") else body

    body = wait_for(done, f"export of {run}", 600.0, interval=0.1)
    if body["status"] != "done":
        raise RuntimeError(f"export failed: {body}")
    return time.monotonic() - start


def measure(url: str, pid: int, witness: np.ndarray, count: int) -> dict:
    """Latency and server CPU for ``count`` requests of ``witness``."""
    client = triton_grpc.InferenceServerClient(url)
    tensor = triton_grpc.InferInput("WITNESS", [1, *witness.shape], "FP32")
    tensor.set_data_from_numpy(witness[None])
    for _ in range(2):  # warm up
        client.infer("deepclean-pipeline", [tensor], client_timeout=60.0)
    latencies, cpu0 = [], tree_cpu(pid)
    for _ in range(count):
        start = time.perf_counter()
        result = client.infer(
            "deepclean-pipeline", [tensor], client_timeout=60.0
        )
        latencies.append(time.perf_counter() - start)
    cpu = tree_cpu(pid) - cpu0
    versions = (
        int(result.as_numpy("PRODUCTION_VERSION")[0]),
        int(result.as_numpy("CANARY_VERSION")[0]),
    )
    client.close()
    return {
        "median_ms": 1e3 * statistics.median(latencies),
        "p95_ms": 1e3 * float(np.percentile(latencies, 95)),
        "cpu_ms_per_s": 1e3 * cpu / count,
        "versions": versions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--kernel-requests", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        repo, train = project / "model_repo", train_dir(project)
        repo.mkdir()
        process, ports = start_triton(repo, project / "tritonserver.log")
        try:
            run_benchmark(args, project, repo, train, process, ports)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    return 0


def load_section(section: str) -> tuple[ExporterSettings, float]:
    """``[section]`` as the exporter reads it, and its cleaner's window
    length (s)."""
    argv = ["--typeo", f"{ROOT}/pyproject.toml:{section}"]
    settings = parse_settings(ExporterSettings, "exporter", argv, ENVIRON)
    _, window = cleaner_settings(argv, ENVIRON)
    settings.check_window(window)
    return settings, window["inference_window_length"]


def run_benchmark(args, project, repo, train, process, ports) -> None:
    settings, _ = load_section("exporter")
    production, seed_window = load_section("exporter-production")
    seed_scheme = {key: getattr(production, key) for key in SCHEME_KEYS}

    def config(**changes: object) -> AppConfig:
        return replace(
            settings,
            project_dir=project,
            model_repo=repo,
            export_timeout=600.0,
            triton_url=f"127.0.0.1:{ports['http']}",
            **changes,
        ).app_config(TOKEN)

    app = create_app(config())
    client = app.test_client()
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for i in range(args.runs):
        name, params = make_run(train, GPS + 4096 * i, i)
        wall = export(client, name)
        if i == 0:
            client.post("/production", json={"version": 1}, headers=AUTH)
        info = json.loads(
            (repo / "deepclean" / str(i + 1) / "version.json").read_text()
        )
        print(
            f"export of version {i + 1} ({params} parameters): "
            f"{wall:.1f} s from POST to loaded, of which export + "
            f"verification {info['conversion_seconds']:.1f} s (the rest: "
            f"subprocess start with torch import, Triton loads), "
            f"verification error "
            f"{info['verification_error']:.1e}"
        )
    grpc_url = f"127.0.0.1:{ports['grpc']}"
    time.sleep(2.0)  # let replaced versions unload
    idle0 = tree_cpu(process.pid)
    time.sleep(2.0)
    print(
        f"tritonserver idle CPU: "
        f"{1e3 * (tree_cpu(process.pid) - idle0) / 2.0:.1f} ms per s"
    )
    window = witnesses(GPS + 10_000, 2)
    stats = measure(grpc_url, process.pid, window, args.requests)
    print(
        f"window scheme (2 s window per 1 s of data), production "
        f"{stats['versions'][0]} + canary {stats['versions'][1]}: latency "
        f"median {stats['median_ms']:.1f} ms, p95 {stats['p95_ms']:.1f} "
        f"ms; CPU {stats['cpu_ms_per_s']:.1f} ms per s of data "
        f"(goal <= 50 ms on 2 cores)"
    )
    service_of(app).close()
    app = create_app(
        config(**seed_scheme, inference_batch_size=KERNELS_PER_CALL)
    )
    window = witnesses(GPS + 10_000, 3)[:, : int(seed_window * SAMPLE_RATE)]
    stats = measure(grpc_url, process.pid, window, args.kernel_requests)
    print(
        f"seed kernels scheme ({production.kernel_length:g} s kernels, "
        f"{production.inference_sampling_rate:g} Hz, "
        f"{production.aggregation_length:g} s aggregation, "
        f"{KERNELS_PER_CALL} per call; {seed_window:g} s window per 1 s of "
        f"data): latency median "
        f"{stats['median_ms']:.0f} ms, p95 {stats['p95_ms']:.0f} ms; CPU "
        f"{stats['cpu_ms_per_s']:.0f} ms per s of data"
    )
    service_of(app).close()


if __name__ == "__main__":
    sys.exit(main())
