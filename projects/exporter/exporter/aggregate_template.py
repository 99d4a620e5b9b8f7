"""Triton python-backend model ``deepclean-aggregate`` (backend
``tensorrt``): the last step of each branch of the pipeline.

The exporter copies this file to ``deepclean-aggregate/<v>/model.py`` for
every loaded version ``v`` of ``deepclean``; the ensemble calls version
``v`` of this step after version ``v`` of the plan, so the version Triton
gives this step is the tag of the branch. It turns ``KERNEL_NOISE`` FP32
``[n, item]`` (the plan's output on the batch of ``deepclean-kernels``)
and ``WINDOW_SIZE`` INT64 ``[1]`` into ``NOISE`` FP32 ``[1, size]``
(:func:`utils.inference.noise_of_output`: the mean of overlapping kernel
predictions) and ``VERSION`` INT64 ``[1]``.
"""

from __future__ import annotations

import numpy as np

from utils.inference import noise_of_output
from utils.pipeline import KERNEL_NOISE
from utils.pipeline import NOISE
from utils.pipeline import VERSION
from utils.pipeline import WINDOW_SIZE
from utils.runners import config_parameters
from utils.runners import respond
from utils.runners import scheme_from_parameters

try:  # only inside Triton
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None


class TritonPythonModel:
    """Batch output -> noise of the window, tagged with this version."""

    def initialize(self, args: dict) -> None:
        self.scheme = scheme_from_parameters(config_parameters(args))
        self.version = int(args["model_version"])
        self.version_array = np.array([self.version], dtype=np.int64)

    def execute(self, requests: list) -> list:
        return respond(
            pb_utils,
            requests,
            self._aggregate,
            f"deepclean-aggregate version {self.version}",
        )

    def _aggregate(self, request: object) -> list:
        output = pb_utils.get_input_tensor_by_name(
            request, KERNEL_NOISE
        ).as_numpy()
        size = pb_utils.get_input_tensor_by_name(
            request, WINDOW_SIZE
        ).as_numpy()
        noise = noise_of_output(output, int(size[0]), self.scheme)
        return [
            pb_utils.Tensor(NOISE, noise[None]),
            pb_utils.Tensor(VERSION, self.version_array),
        ]
