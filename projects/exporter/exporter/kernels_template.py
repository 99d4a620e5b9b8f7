"""Triton python-backend model ``deepclean-kernels`` (backend
``tensorrt``): the first step of the pipeline, once per window.

The exporter copies this file to ``deepclean-kernels/1/model.py``. It
cuts ``WITNESS`` FP32 ``[1, C, size]`` into the one batch the TensorRT
plan takes (:func:`utils.inference.network_input`: every kernel of the
``kernels`` scheme, or the window itself) and gives ``KERNELS`` FP32
``[n, C, item]`` and ``WINDOW_SIZE`` INT64 ``[1]`` (``size``, for
``deepclean-aggregate``). A window with more kernels than
``max_batch_size`` (the scheme's ``inference_batch_size``, which the
plan's profile covers) is refused in its response, naming both.
"""

from __future__ import annotations

import json

import numpy as np

from utils.inference import Scheme, network_input
from utils.runners import scheme_from_parameters

try:  # only inside Triton
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None

SIZE_MULTIPLE = 16  # four stride-2 stages of the network


def cut_window(
    witness: np.ndarray, num_witnesses: int, scheme: Scheme
) -> np.ndarray:
    """Check ``WITNESS`` ``[1, C, size]`` and cut it into one batch.

    Raises:
        ValueError: wrong shape, size not a multiple of 16, non-finite, or
            more items than the scheme's ``max_batch_size``.
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
    batch = network_input(witness[0].astype(np.float32, copy=False), scheme)
    if batch.shape[0] > scheme.max_batch_size:
        raise ValueError(
            f"a window of {size} samples makes {batch.shape[0]} kernels, "
            f"more than inference_batch_size={scheme.max_batch_size} (the "
            "TensorRT profile's batch): shorten the cleaner's window or "
            "raise inference_batch_size and trt_max_batch_size"
        )
    return batch


class TritonPythonModel:
    """Window -> batch of the network (Triton python backend API)."""

    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        parameters = {
            key: value["string_value"]
            for key, value in config.get("parameters", {}).items()
        }
        self.scheme = scheme_from_parameters(parameters)
        self.num_witnesses = int(config["input"][0]["dims"][1])

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            try:
                tensor = pb_utils.get_input_tensor_by_name(request, "WITNESS")
                witness = tensor.as_numpy()
                batch = cut_window(witness, self.num_witnesses, self.scheme)
                size = np.array([witness.shape[2]], dtype=np.int64)
                outputs = [
                    pb_utils.Tensor("KERNELS", batch),
                    pb_utils.Tensor("WINDOW_SIZE", size),
                ]
                responses.append(pb_utils.InferenceResponse(outputs))
            except Exception as exc:  # noqa: BLE001 - error in its response
                error = pb_utils.TritonError(f"deepclean-kernels: {exc}")
                responses.append(pb_utils.InferenceResponse([], error=error))
        return responses
