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
from utils.pipeline import FILE_OF_BACKEND
from utils.pipeline import NOISE
from utils.pipeline import VERSION
from utils.pipeline import VERSION_FILE
from utils.pipeline import WITNESS

# shared with the reprocessing workers
from utils.runners import check_witness
from utils.runners import config_parameters
from utils.runners import make_onnx_runner
from utils.runners import respond
from utils.runners import scheme_from_parameters

try:  # only inside Triton; the exporter uses the runners below directly
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None

Runner = Callable[[np.ndarray], np.ndarray]


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


class TritonPythonModel:
    """One loaded version of ``deepclean`` (Triton python backend API)."""

    def initialize(self, args: dict) -> None:
        parameters = config_parameters(args)
        self.version = int(args["model_version"])
        version_dir = Path(args["model_repository"]) / str(self.version)
        info = json.loads((version_dir / VERSION_FILE).read_text())
        self.num_witnesses = len(info["witness_channels"])
        self.scheme = scheme_from_parameters(parameters)
        threads = int(parameters.get("intra_op_num_threads", "1"))
        self.run = make_runner(version_dir, info["backend"], threads)
        self.version_array = np.array([self.version], dtype=np.int64)

    def execute(self, requests: list) -> list:
        return respond(
            pb_utils,
            requests,
            self._infer,
            f"deepclean version {self.version}",
        )

    def _infer(self, request: object) -> list:
        tensor = pb_utils.get_input_tensor_by_name(request, WITNESS)
        window = check_witness(tensor.as_numpy(), self.num_witnesses)
        noise = predict(window, self.run, self.scheme)
        return [
            pb_utils.Tensor(NOISE, noise[None].astype(np.float32)),
            pb_utils.Tensor(VERSION, self.version_array),
        ]

    def finalize(self) -> None:
        self.run = None
