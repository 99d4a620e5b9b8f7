"""The real CPU ``tritonserver`` for the tests (``triton-server/serve.sh``), on
free ports, serving a model repository the tests write themselves."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from utils.atomic import write_text
from utils.testing import free_port
from utils.testing import start_tritonserver
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
MODEL_DIR = Path(__file__).parent / "regression_model"
PIPELINE = "deepclean-pipeline"
START_TIMEOUT = 60.0  # s for the server and the model to be ready

CONFIG = """name: "{name}"
backend: "python"
max_batch_size: 0
input [ {{ name: "WITNESS" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] }} ]
output [
  {{ name: "PRODUCTION" data_type: TYPE_FP32 dims: [ 1, -1 ] }},
  {{ name: "CANARY" data_type: TYPE_FP32 dims: [ 1, -1 ] }},
  {{ name: "PRODUCTION_VERSION" data_type: TYPE_INT64 dims: [ 1 ] }},
  {{ name: "CANARY_VERSION" data_type: TYPE_INT64 dims: [ 1 ] }}
]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
parameters [
  {{ key: "production_version" value: {{ string_value: "{production}" }} }},
  {{ key: "canary_version" value: {{ string_value: "{canary}" }} }},
  {{ key: "canary_gain" value: {{ string_value: "{gain}" }} }},
  {{ key: "sample_rate" value: {{ string_value: "4096" }} }},
  {{ key: "edge_length" value: {{ string_value: "{edge}" }} }}
]
"""


def write_repository(repo: Path, coefficients: np.ndarray) -> None:
    """The test pipeline: model.py + regression.py + coefficients (its
    config.pbtxt is written by :meth:`TritonServer.configure`)."""
    version = repo / PIPELINE / "1"
    version.mkdir(parents=True, exist_ok=True)
    for name in ("model.py", "regression.py"):
        shutil.copy(MODEL_DIR / name, version / name)
    np.save(version / "coefficients.npy", coefficients)


class TritonServer:
    """One ``tritonserver`` process, restartable on the same ports.

    Args:
        repo: model repository (see :func:`write_repository`).
        log: file receiving the server's output.
        edge_length: seconds the model fades at each window end.
        canary_gain: the canary's prediction over production's.
    """

    def __init__(
        self, repo: Path, log: Path, edge_length: float, canary_gain: float
    ) -> None:
        self.repo, self.log = Path(repo), Path(log)
        self.edge_length, self.canary_gain = edge_length, canary_gain
        self.http_port, self.grpc_port, self.metrics_port = (
            free_port(),
            free_port(),
            free_port(),
        )
        self.process: subprocess.Popen | None = None
        self.versions: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def configure(self, production: int, canary: int) -> None:
        """Write the pipeline's config (versions) and (re)load it."""
        text = CONFIG.format(
            name=PIPELINE,
            production=production,
            canary=canary,
            gain=self.canary_gain,
            edge=self.edge_length,
        )
        write_text(self.repo / PIPELINE / "config.pbtxt", text)
        if self.process is not None:
            self.client().load_model(PIPELINE, client_timeout=START_TIMEOUT)
        self.versions = (production, canary)

    def client(self) -> grpcclient.InferenceServerClient:
        return grpcclient.InferenceServerClient(self.url)

    def start(self) -> None:
        """Start the server and wait (bounded) until the pipeline is ready.

        Raises:
            TimeoutError: not ready within ``START_TIMEOUT`` s.
            RuntimeError: the server died while starting.
        """
        ports = (self.http_port, self.grpc_port, self.metrics_port)
        self.process = start_tritonserver(
            self.repo, self.log, ports, "--load", PIPELINE
        )
        wait_for(
            self.pipeline_ready,
            f"Triton at {self.url} (log {self.log})",
            timeout=START_TIMEOUT,
            interval=0.2,
            alive=lambda: self.process.poll() is None,
        )

    def pipeline_ready(self) -> bool:
        client = self.client()
        try:
            return client.is_model_ready(PIPELINE, client_timeout=1.0)
        except InferenceServerException:
            return False
        finally:
            client.close()

    def unload(self) -> None:
        self.client().unload_model(PIPELINE, client_timeout=START_TIMEOUT)

    def kill(self) -> None:
        """SIGKILL the server and its python-backend stubs."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
        time.sleep(0.2)  # let the kernel release the ports

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
