"""Triton python-backend model of one DeepClean version.

The exporter copies this file, unchanged, to ``deepclean/<v>/model.py``.
Each version folder also holds the network (``model.onnx``, or
``model.plan`` for the TensorRT backend; raw witnesses in, raw noise out:
the scalers are in the graph) and ``version.json`` (which names the
backend). ``config.pbtxt`` parameters give the inference scheme of
:mod:`utils.inference` and ``intra_op_num_threads`` (default 1).

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
    INPUT_NAME,
    OUTPUT_NAME,
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


def make_tensorrt_runner(path: Path, device: int = 0) -> Runner:
    """TensorRT on ``model.plan`` (GPU; needs tensorrt and torch).

    Args:
        path: the serialised engine.
        device: CUDA device of this model instance.

    Returns:
        batch ``(n, C, size)`` -> ``(n, size)`` float32.

    Raises:
        RuntimeError: tensorrt, torch or a GPU is missing, or the plan
            cannot be deserialised.
    """
    try:
        import tensorrt as trt
        import torch
    except ImportError as exc:
        raise RuntimeError(
            f"backend tensorrt needs the tensorrt and torch packages: {exc}"
        ) from exc
    if not torch.cuda.is_available():
        raise RuntimeError("backend tensorrt needs a CUDA GPU; none found")
    torch.cuda.set_device(device)
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
    if engine is None:
        raise RuntimeError(f"cannot deserialise the TensorRT plan {path}")
    context = engine.create_execution_context()

    def run(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, np.float32)).cuda()
        y = torch.empty(
            (x.shape[0], x.shape[2]), dtype=torch.float32, device="cuda"
        )
        context.set_input_shape(INPUT_NAME, tuple(x.shape))
        context.set_tensor_address(INPUT_NAME, x.data_ptr())
        context.set_tensor_address(OUTPUT_NAME, y.data_ptr())
        stream = torch.cuda.current_stream()
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution of {path} failed")
        stream.synchronize()
        return y.cpu().numpy()

    return run


def make_runner(
    version_dir: Path, backend: str, num_threads: int, device: int = 0
) -> Runner:
    """The runner of a version folder for its backend."""
    if backend not in FILE_OF_BACKEND:
        raise ValueError(f"unknown backend {backend!r} in {version_dir}")
    path = Path(version_dir) / FILE_OF_BACKEND[backend]
    if backend == "tensorrt":
        return make_tensorrt_runner(path, device)
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
        device = int(args.get("model_instance_device_id") or 0)
        self.run = make_runner(version_dir, info["backend"], threads, device)
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
