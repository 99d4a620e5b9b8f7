"""Build a TensorRT plan from the exported ONNX graph (GPU nodes only).

The plan is served by Triton's TensorRT backend (platform
``tensorrt_plan``, :func:`exporter.layout.plan_config`). Its optimisation
profile and the ``max_batch_size``/``dims`` of that config both come from
one :class:`PlanProfile`, which also says whether a call (the kernels of
the cleaner's window) fits it.

``tensorrt`` is imported lazily inside :func:`import_tensorrt`, so this
module imports everywhere; on a machine without TensorRT, building a plan
raises :class:`~utils.errors.ModelError` naming the missing package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

from utils.atomic import write_bytes
from utils.errors import ModelError
from utils.inference import SIZE_MULTIPLE
from utils.runners import INPUT_NAME
from utils.runners import OUTPUT_NAME
from utils.settings import require

logger = logging.getLogger(__name__)
MIN_SIZE = SIZE_MULTIPLE  # smallest window the network takes
Shape = tuple[int, int, int]


@dataclass(frozen=True)
class PlanProfile:
    """The optimisation profile of every plan, and what Triton is told.

    Attributes:
        max_batch_size: largest batch (Triton's ``max_batch_size``).
        item_size: samples per item of every call (the ``kernels``
            scheme's kernel; the config's fixed last dim); 0: any window
            from :data:`MIN_SIZE` to ``max_size`` (``window`` scheme).
        opt_size: samples the profile is tuned for when ``item_size`` is 0.
        max_size: largest window, samples.
    """

    max_batch_size: int
    item_size: int
    opt_size: int
    max_size: int

    def __post_init__(self) -> None:
        require(
            isinstance(self.max_batch_size, int) and self.max_batch_size >= 1,
            "trt_max_batch_size",
            self.max_batch_size,
            ">= 1",
        )
        require(
            MIN_SIZE <= self.opt_size <= self.max_size,
            "trt_opt_size",
            self.opt_size,
            f"in [{MIN_SIZE}, trt_max_size={self.max_size}] samples",
        )
        require(
            self.item_size == 0 or MIN_SIZE <= self.item_size <= self.max_size,
            "max_batch_item_size",
            self.item_size,
            f"0 or in [{MIN_SIZE}, trt_max_size={self.max_size}] samples",
        )

    def shapes(self, num_witnesses: int) -> tuple[Shape, Shape, Shape]:
        """``(min, opt, max)`` input shapes ``(batch, C, size)``.

        ``kernels``: 1 to ``max_batch_size`` items of ``item_size``
        samples, tuned for a full batch: the calls Triton's config admits,
        no more (an engine sizes its activation memory for the largest
        shape: one FP32 forward at 769 x 18 x 65536 took 15 GiB on an
        H200, at the served 769 x 18 x 4096 0.9 GiB; bench/bench_gpu.py).
        ``window``: windows of :data:`MIN_SIZE` to ``max_size`` samples,
        tuned for one window of ``opt_size``.
        """
        c = num_witnesses
        if self.item_size:
            served = (self.max_batch_size, c, self.item_size)
            return (1, c, self.item_size), served, served
        largest = (self.max_batch_size, c, self.max_size)
        return (1, c, MIN_SIZE), (1, c, self.opt_size), largest

    def item_dims(self, num_witnesses: int) -> list[int]:
        """Input dims after the batch dim in Triton's config."""
        return [num_witnesses, self.item_size or -1]

    def covers(self, batch: int, size: int) -> bool:
        """Whether a call of ``batch`` items of ``size`` samples fits."""
        fits_size = size == self.item_size or (
            not self.item_size and MIN_SIZE <= size <= self.max_size
        )
        return 1 <= batch <= self.max_batch_size and fits_size


def import_tensorrt() -> ModuleType:
    """Import ``tensorrt``.

    Raises:
        ModelError: it is not installed (needs NVIDIA's package index and a
            GPU node).
    """
    try:
        import tensorrt
    except ImportError as exc:
        raise ModelError(
            "backend 'tensorrt' needs the tensorrt package, which is not "
            f"importable here ({exc}); use backend 'onnx-python' on CPU "
            "nodes"
        ) from exc
    return tensorrt


def check_version(pinned: str) -> ModuleType:
    """Import ``tensorrt`` and check it is the container's release.

    Args:
        pinned: the release of the Triton container (``"10.5"`` matches
            10.5.x): a plan is specific to the TensorRT version that built
            it, and Triton's TensorRT backend refuses another's.

    Returns:
        The module.

    Raises:
        ModelError: TensorRT is missing or another release.
    """
    trt = import_tensorrt()
    version = str(getattr(trt, "__version__", "unknown"))
    if version != pinned and not version.startswith(pinned + "."):
        raise ModelError(
            f"TensorRT {version} is installed here but the Triton container "
            f"serves plans of TensorRT {pinned} (exporter tensorrt_version): "
            f"install tensorrt=={pinned}.* in .venv/exporter or change "
            "the container and tensorrt_version together"
        )
    return trt


def build_plan(
    onnx_path: Path,
    plan_path: Path,
    num_witnesses: int,
    profile: PlanProfile,
) -> None:
    """Build and write (atomically) a serialised TensorRT engine in FP32.

    TensorRT allows TF32 for FP32 convolutions on Ampere and later GPUs
    unless told otherwise; it is turned off here because TF32 misses the
    verification bound: on an H200, torch's TF32 convolutions of a trained
    network gave 1.5-1.6e-3 (max error / RMS) against
    ``max_verification_error`` = 1e-3, FP32 2e-6, FP16 3-3.6
    (``bench/bench_gpu.py``): TF32 would have refused every export.

    Args:
        onnx_path: the verified-shape ONNX graph (input ``witness``).
        plan_path: where the plan goes.
        num_witnesses: input channels.
        profile: its optimisation profile (the one Triton is told).

    Raises:
        ModelError: TensorRT is missing or the build failed.
    """
    trt = import_tensorrt()
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    shapes = builder.create_optimization_profile()
    shapes.set_shape(INPUT_NAME, *profile.shapes(num_witnesses))
    config.add_optimization_profile(shapes)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build a plan from {onnx_path}")
    write_bytes(plan_path, bytes(serialized))
    logger.info("built TensorRT plan %s", plan_path)


def make_tensorrt_runner(
    path: Path, device: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
    """TensorRT on ``model.plan``, to verify it at export (GPU; needs
    tensorrt and torch). Triton serves the plan with its own backend.

    Args:
        path: the serialised engine.
        device: CUDA device.

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
