"""Fixtures of the exporter tests.

One real ``tritonserver`` (``triton-server/serve.sh``, the CPU binary of the
``.venv/triton`` env) serves the whole session on free ports, started with
a bounded wait and terminated at the end. Its model repository is fixed at
start, so each test that needs a clean one gets it from ``fresh_repo``
(everything unloaded, folder emptied). Training runs are tiny DeepClean
networks with random weights and non-trivial scalers, saved with the
run-folder contract of docs/architecture.md and verification witnesses from
the project's simulator.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import torch
import tritonclient.http as triton_http
from exporter_settings import SETTINGS
from scipy.signal import resample_poly

from exporter.app import create_app
from exporter.app import service_of
from exporter.repository import JOBS_FILE
from exporter.service import AppConfig
from utils.nn.architecture import DeepClean
from utils.nn.checkpoint import ModelMeta
from utils.nn.checkpoint import save_model
from utils.runs import DONE_FILE
from utils.runs import VERIFY_FILE
from utils.runs import run_name
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.testing import free_port
from utils.testing import start_tritonserver
from utils.waiting import wait_for

SAMPLE_RATE = 4096  # Hz
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# three witnesses: the mains monitor and two ASC channels of the simulator
WITNESSES = (
    "L1:PEM-CS_MAINSMON_EBAY_1_DQ",
    "L1:ASC-CHARD_P_OUT_DQ",
    "L1:ASC-DHARD_Y_OUT_DQ",
)
TINY_CHANNELS = (4, 8, 8, 8)  # widths of a tiny DeepClean (fast exports)
VERIFY_LENGTH = 4  # s of verify.npz witnesses
TRITON_START_TIMEOUT = 90.0  # s
JOB_TIMEOUT = 120.0  # s


@pytest.fixture(autouse=True)
def seed() -> None:
    np.random.seed(0)
    torch.manual_seed(0)


def simulated_witness(gps: int, duration: int, seed: int = 0) -> np.ndarray:
    """Simulator witnesses resampled to 4096 Hz, ``(3, duration*4096)``."""
    sim = Simulator(
        SimulationConfig(ifo="L1", witness_channels=WITNESSES, seed=seed)
    )
    seconds = [sim.witness_data(gps + i) for i in range(duration)]
    rows = []
    for name in WITNESSES:
        data = np.concatenate([s[name].data for s in seconds])
        up = SAMPLE_RATE // int(seconds[0][name].sample_rate)
        rows.append(resample_poly(data, up, 1))
    return np.asarray(rows, dtype=np.float32)


def random_deepclean(seed: int, witness: np.ndarray) -> DeepClean:
    """A tiny DeepClean, random weights, scalers fitted to ``witness``."""
    gen = torch.Generator().manual_seed(seed)
    model = DeepClean(len(WITNESSES), TINY_CHANNELS)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(generator=gen)
                module.running_var.uniform_(0.5, 2.0, generator=gen)
        model.witness_mean.copy_(torch.from_numpy(witness.mean(axis=1)))
        model.witness_std.copy_(torch.from_numpy(witness.std(axis=1)))
        model.strain_mean.fill_(1e-22)
        model.strain_std.fill_(3e-21)  # strain units
    return model.eval()


@dataclass
class Run:
    """A finished training run folder and its network."""

    name: str
    path: Path
    model: DeepClean
    witness: np.ndarray


def make_run(
    train_dir: Path,
    start: int,
    stop: int,
    seed: int = 0,
    witnesses: tuple[str, ...] = WITNESSES,
) -> Run:
    """Write ``train_dir/<start>-<stop>/`` (weights, verify.npz, DONE)."""
    witness = simulated_witness(start, VERIFY_LENGTH, seed)
    model = random_deepclean(seed, witness)
    meta = ModelMeta(
        strain_channel="L1:GDS-CALIB_STRAIN",
        witness_channels=witnesses,
        sample_rate=SAMPLE_RATE,
        gps_start=start,
        gps_stop=stop,
        channels=TINY_CHANNELS,
    )
    path = Path(train_dir) / run_name(start, stop)
    save_model(model, meta, path)
    np.savez(path / VERIFY_FILE, witness=witness)
    (path / DONE_FILE).write_text("")
    return Run(path.name, path, model, witness)


def torch_noise(model: DeepClean, witness: np.ndarray) -> np.ndarray:
    """The torch network's raw noise for ``(C, size)`` witnesses."""
    with torch.no_grad():
        return model(torch.from_numpy(witness[None])).numpy()[0]


class TritonServer:
    """The real tritonserver over ``repo`` on free ports."""

    def __init__(self, repo: Path, log: Path) -> None:
        self.repo, self.log = repo, log
        self.http_port, self.grpc_port = free_port(), free_port()
        self.metrics_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> None:
        ports = (self.http_port, self.grpc_port, self.metrics_port)
        self.process = start_tritonserver(self.repo, self.log, ports)
        try:
            wait_for(
                self._live,
                f"tritonserver on {self.url}",
                TRITON_START_TIMEOUT,
                interval=0.2,
                alive=lambda: self.process.poll() is None,
            )
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            tail = self.log.read_text()[-3000:]
            raise RuntimeError(f"{exc}\n{tail}") from exc

    def _live(self) -> bool:
        client = triton_http.InferenceServerClient(
            self.url, connection_timeout=1.0, network_timeout=2.0
        )
        try:
            return client.is_server_live()
        except Exception:  # not up yet: connection refused and friends
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def clear(self) -> None:
        """Unload every model and empty the repository (bounded)."""
        client = triton_http.InferenceServerClient(
            self.url, connection_timeout=5.0, network_timeout=60.0
        )
        try:
            for entry in client.get_model_repository_index():
                if entry.get("state") == "READY":
                    client.unload_model(entry["name"])
            wait_for(
                lambda: (
                    not any(
                        e.get("state") == "READY"
                        for e in client.get_model_repository_index()
                    )
                ),
                "models to unload",
                60.0,
                interval=0.1,
            )
        finally:
            client.close()
        for entry in self.repo.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    base = tmp_path_factory.mktemp("triton")
    repo = base / "model_repo"
    repo.mkdir()
    server = TritonServer(repo, base / "tritonserver.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_repo(triton: TritonServer) -> TritonServer:
    if triton.process is None or triton.process.poll() is not None:
        triton.start()
    triton.clear()
    return triton


def app_config(
    project_dir: Path, triton: TritonServer, **changes: object
) -> AppConfig:
    """The root configuration's exporter over the session server's
    repository, with shorter waits and the settings ``changes``."""
    values = dict(
        project_dir=project_dir,
        model_repo=triton.repo,
        triton_url=triton.url,
        export_timeout=120.0,
        load_timeout=60.0,
        reconcile_interval=0.5,
    )
    settings = replace(SETTINGS, **{**values, **changes})
    config = settings.app_config(TOKEN)
    return replace(
        config, repository=replace(config.repository, lock_timeout=60.0)
    )


def offline_config(project_dir: Path) -> AppConfig:
    """The root configuration's exporter over a repository of its own,
    with no Triton (nothing listens at its address): for what the
    exporter does without one (files, requests refused)."""
    settings = replace(
        SETTINGS,
        project_dir=project_dir,
        model_repo=project_dir / "model_repo",
        triton_url=f"127.0.0.1:{free_port()}",
        reconcile_interval=0.5,
    )
    return settings.app_config(TOKEN)


@pytest.fixture
def make_app() -> Iterator[Callable]:
    """``make_app(config)`` -> Flask app; every service closed at the end."""
    apps = []

    def build(config: AppConfig):
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        service_of(app).close()


def wait_job(client, job_id: str, timeout: float = JOB_TIMEOUT) -> dict:
    """Poll ``GET /jobs/<id>`` until it is done or failed (bounded)."""

    def finished() -> dict | None:
        body = client.get(f"/jobs/{job_id}").get_json()
        return None if body["status"] in ("queued", "running") else body

    return wait_for(finished, f"export job {job_id}", timeout, interval=0.2)


def export_run(client, run: str) -> dict:
    """POST /versions and wait for the job."""
    response = client.post("/versions", json={"run": run}, headers=AUTH)
    assert response.status_code == 202, response.get_json()
    return wait_job(client, response.get_json()["id"])


def repo_snapshot(repo: Path) -> dict:
    """Every file of the repository with its bytes, but the lock and the
    job bookkeeping (``jobs.json`` records a failed job too)."""
    return {
        str(path.relative_to(repo)): path.read_bytes()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and path.name not in (".lock", JOBS_FILE)
    }
