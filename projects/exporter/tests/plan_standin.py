"""Stand-in for the ``tensorrt_plan`` model ``deepclean`` (tests only).

TensorRT and a GPU cannot exist on the machines the tests run on, so the
pipeline tests of backend ``tensorrt`` serve this python model in place of
Triton's TensorRT backend: same name, versions, ``max_batch_size`` and
tensors (``witness`` ``[n, C, item]`` in, ``noise`` ``[n, item]`` out), the
network run by ONNX Runtime on the version's ``model.onnx`` (the graph the
plan is built from). Copied to ``deepclean/<v>/model.py``.
"""

from __future__ import annotations

from pathlib import Path

from utils.runners import INPUT_NAME
from utils.runners import OUTPUT_NAME
from utils.runners import make_onnx_runner

try:  # only inside Triton
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None


class TritonPythonModel:
    """The network of one version, batch in, batch out."""

    def initialize(self, args: dict) -> None:
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.run = make_onnx_runner(version_dir / "model.onnx")

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            try:
                batch = pb_utils.get_input_tensor_by_name(
                    request, INPUT_NAME
                ).as_numpy()
                noise = self.run(batch)
                outputs = [pb_utils.Tensor(OUTPUT_NAME, noise)]
                responses.append(pb_utils.InferenceResponse(outputs))
            except Exception as exc:  # error in its response
                error = pb_utils.TritonError(f"plan stand-in: {exc}")
                responses.append(pb_utils.InferenceResponse([], error=error))
        return responses
