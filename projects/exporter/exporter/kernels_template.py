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

from utils.inference import Scheme
from utils.inference import network_input
from utils.pipeline import KERNELS
from utils.pipeline import WINDOW_SIZE
from utils.pipeline import WITNESS
from utils.runners import check_witness
from utils.runners import config_parameters
from utils.runners import respond
from utils.runners import scheme_from_parameters

try:  # only inside Triton
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None


def cut_window(
    witness: np.ndarray, num_witnesses: int, scheme: Scheme
) -> np.ndarray:
    """Check ``WITNESS`` ``[1, C, size]`` and cut it into one batch.

    Raises:
        ValueError: wrong shape, size not a multiple of 16, non-finite, or
            more items than the scheme's ``max_batch_size``.
    """
    window = check_witness(witness, num_witnesses)
    batch = network_input(window, scheme)
    if batch.shape[0] > scheme.max_batch_size:
        raise ValueError(
            f"a window of {window.shape[1]} samples makes {batch.shape[0]} "
            f"kernels, more than inference_batch_size="
            f"{scheme.max_batch_size} (the TensorRT profile's batch): "
            "shorten the cleaner's window or raise inference_batch_size "
            "and trt_max_batch_size"
        )
    return batch


class TritonPythonModel:
    """Window -> batch of the network (Triton python backend API)."""

    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        self.scheme = scheme_from_parameters(config_parameters(args))
        self.num_witnesses = int(config["input"][0]["dims"][1])

    def execute(self, requests: list) -> list:
        return respond(pb_utils, requests, self._cut, "deepclean-kernels")

    def _cut(self, request: object) -> list:
        tensor = pb_utils.get_input_tensor_by_name(request, WITNESS)
        witness = tensor.as_numpy()
        batch = cut_window(witness, self.num_witnesses, self.scheme)
        size = np.array([witness.shape[2]], dtype=np.int64)
        return [
            pb_utils.Tensor(KERNELS, batch),
            pb_utils.Tensor(WINDOW_SIZE, size),
        ]
