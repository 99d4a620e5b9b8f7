"""Triton python-backend model of one DeepClean version (backend
``onnx-python``; a ``tensorrt`` version is a ``tensorrt_plan`` model
instead, :mod:`exporter.layout`).

The exporter copies this file, unchanged, to ``deepclean/<v>/model.py``.
Each version folder also holds the network (``model.onnx``: raw
witnesses in, raw noise out: the scalers are in the graph) and
``version.json`` (which names the backend). ``config.pbtxt`` parameters
give the inference scheme of :mod:`utils.inference` and
``intra_op_num_threads`` (default 1).

Tensors: ``WITNESS`` FP32 ``[1, num_witnesses, size]`` in, ``NOISE`` FP32
``[1, size]`` and ``VERSION`` INT64 ``[1]`` out. One response per request;
a bad request gets its error inside its response.

It runs inside Triton's python backend (numpy<2, onnxruntime, the
``utils`` library, no torch); the exporter imports it too, to verify an
export with the very runners that will serve it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from utils.inference import predict
from utils.runners import (  # shared with the reprocessing workers
    make_onnx_runner,
    scheme_from_parameters,
)

try:  # only inside Triton; the exporter uses the runners below directly
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None

Runner = Callable[[np.ndarray], np.ndarray]
SIZE_MULTIPLE = 16  # four stride-2 stages of the network
FILE_OF_BACKEND = {"onnx-python": "model.onnx", "tensorrt": "model.plan"}


def make_runner(version_dir: Path, backend: str, num_threads: int) -> Runner:
    """The runner of a version folder (backend ``onnx-python`` only: a
    ``tensorrt`` version is served by Triton's TensorRT backend)."""
    if backend != "onnx-python":
        raise ValueError(
            f"backend {backend!r} of {version_dir} is not served by this "
            "python model"
        )
    path = Path(version_dir) / FILE_OF_BACKEND[backend]
    return make_onnx_runner(path, num_threads)


def check_witness(witness: np.ndarray, num_witnesses: int) -> np.ndarray:
    """Validate a ``WITNESS`` tensor and return its ``(C, size)`` window.

    Raises:
        ValueError: wrong shape, size not a multiple of 16, or non-finite.
    """
    if witness.ndim != 3 or witness.shape[:2] != (1, num_witnesses):
        raise ValueError(
            f"WITNESS must be [1, {num_witnesses}, size], got "
            f"{list(witness.shape)}"
        )
    size = witness.shape[2]
    if size == 0 or size % SIZE_MULTIPLE:
        raise ValueError(
            f"window of {size} samples is not a positive multiple of "
            f"{SIZE_MULTIPLE}"
        )
    if not np.isfinite(witness).all():
        raise ValueError("WITNESS holds NaN or inf samples")
    return witness[0].astype(np.float32, copy=False)


class TritonPythonModel:
    """One loaded version of ``deepclean`` (Triton python backend API)."""

    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        parameters = {
            key: value["string_value"]
            for key, value in config.get("parameters", {}).items()
        }
        self.version = int(args["model_version"])
        version_dir = Path(args["model_repository"]) / str(self.version)
        info = json.loads((version_dir / "version.json").read_text())
        self.num_witnesses = len(info["witness_channels"])
        self.scheme = scheme_from_parameters(parameters)
        threads = int(parameters.get("intra_op_num_threads", "1"))
        self.run = make_runner(version_dir, info["backend"], threads)
        self.version_array = np.array([self.version], dtype=np.int64)

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            try:
                tensor = pb_utils.get_input_tensor_by_name(request, "WITNESS")
                window = check_witness(tensor.as_numpy(), self.num_witnesses)
                noise = predict(window, self.run, self.scheme)
                outputs = [
                    pb_utils.Tensor("NOISE", noise[None].astype(np.float32)),
                    pb_utils.Tensor("VERSION", self.version_array),
                ]
                responses.append(pb_utils.InferenceResponse(outputs))
            except Exception as exc:  # noqa: BLE001 - error in its response
                error = pb_utils.TritonError(
                    f"deepclean version {self.version}: {exc}"
                )
                responses.append(pb_utils.InferenceResponse([], error=error))
        return responses

    def finalize(self) -> None:
        self.run = None
