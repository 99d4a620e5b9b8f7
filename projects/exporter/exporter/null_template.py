"""Triton python-backend model ``deepclean-null``: the production model
until the first promotion. It predicts no noise: ``NOISE`` is zeros of the
input's size and ``VERSION`` is 0 (the "no model" tag of the output
frames). The exporter copies this file to ``deepclean-null/1/model.py``.
"""

from __future__ import annotations

import numpy as np

from utils.pipeline import NOISE
from utils.pipeline import VERSION
from utils.pipeline import WITNESS

try:  # only inside Triton
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None


class TritonPythonModel:
    """Zeros for any ``WITNESS`` ``[1, C, size]``."""

    def initialize(self, args: dict) -> None:
        self.version_array = np.zeros(1, dtype=np.int64)

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            try:
                tensor = pb_utils.get_input_tensor_by_name(request, WITNESS)
                shape = tensor.as_numpy().shape
                if len(shape) != 3 or shape[0] != 1:
                    raise ValueError(f"WITNESS must be [1, C, size]: {shape}")
                noise = np.zeros((1, shape[2]), dtype=np.float32)
                outputs = [
                    pb_utils.Tensor(NOISE, noise),
                    pb_utils.Tensor(VERSION, self.version_array),
                ]
                responses.append(pb_utils.InferenceResponse(outputs))
            except Exception as exc:  # error in its response
                error = pb_utils.TritonError(f"deepclean-null: {exc}")
                responses.append(pb_utils.InferenceResponse([], error=error))
        return responses
