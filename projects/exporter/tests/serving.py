"""Helpers of the pipeline tests: gRPC inference like the cleaner's, a
stream of requests on a thread, and the deployment under test."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from dataclasses import field

import numpy as np
import tritonclient.grpc as triton_grpc

from conftest import Run
from conftest import TritonServer
from conftest import app_config
from conftest import torch_noise
from exporter.app import create_app
from exporter.app import service_of
from exporter.convert import relative_error

# the same bound as the export verification: Triton adds no arithmetic
BOUND = 1e-4
REQUEST_TIMEOUT = 10.0  # s


def infer(url: str, witness: np.ndarray) -> dict[str, np.ndarray]:
    """One request to ``deepclean-pipeline`` over gRPC."""
    client = triton_grpc.InferenceServerClient(url)
    try:
        tensor = triton_grpc.InferInput("WITNESS", [1, *witness.shape], "FP32")
        tensor.set_data_from_numpy(witness[None].astype(np.float32))
        result = client.infer(
            "deepclean-pipeline", [tensor], client_timeout=REQUEST_TIMEOUT
        )
        return {
            name: result.as_numpy(name)
            for name in (
                "PRODUCTION",
                "PRODUCTION_VERSION",
                "CANARY",
                "CANARY_VERSION",
            )
        }
    finally:
        client.close()


@dataclass
class Deployment:
    triton: TritonServer
    project: object
    runs: dict[int, Run]
    app: object
    client: object
    witness: np.ndarray
    recorded: dict = field(default_factory=dict)

    def restart_exporter(self, **changes) -> None:
        service_of(self.app).close()
        self.app = create_app(app_config(self.project, self.triton, **changes))
        self.client = self.app.test_client()

    def state(self) -> tuple[dict, bytes]:
        versions = self.client.get("/versions").get_json()
        return versions, (self.triton.repo / "repository.json").read_bytes()


def assert_served(
    out: dict, runs: dict, witness: np.ndarray, production: int, canary: int
) -> None:
    assert int(out["PRODUCTION_VERSION"][0]) == production
    assert int(out["CANARY_VERSION"][0]) == canary
    for name, version in (("PRODUCTION", production), ("CANARY", canary)):
        expected = torch_noise(runs[version].model, witness)
        assert out[name].shape == (1, witness.shape[1])
        assert relative_error(out[name][0], expected) <= BOUND


class Stream:
    """Requests in a loop on a thread; records every outcome."""

    def __init__(self, url: str, witness: np.ndarray) -> None:
        self.url, self.witness = url, witness
        self.outcomes: list = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.outcomes.append(infer(self.url, self.witness))
            except Exception as exc:  # recorded, asserted on below
                self.outcomes.append(exc)

    def __enter__(self) -> "Stream":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(REQUEST_TIMEOUT * 2)
