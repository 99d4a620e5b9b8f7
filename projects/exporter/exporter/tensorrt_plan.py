"""Build a TensorRT plan from the exported ONNX graph (GPU nodes only).

``tensorrt`` is imported lazily inside :func:`import_tensorrt`, so this
module imports everywhere; on a machine without TensorRT, building a plan
raises :class:`~utils.errors.ModelError` naming the missing package.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType

from utils.atomic import write_bytes
from utils.errors import ModelError

logger = logging.getLogger(__name__)
MIN_SIZE = 16  # smallest window the network takes (four stride-2 stages)


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
    shapes: tuple[int, int, int],
    fp16: bool = False,
) -> None:
    """Build and write (atomically) a serialised TensorRT engine.

    Args:
        onnx_path: the verified-shape ONNX graph (input ``witness``).
        plan_path: where the plan goes.
        num_witnesses: input channels.
        shapes: (max batch, optimal size, max size) of the profile.
        fp16: allow FP16 kernels.

    Raises:
        ModelError: TensorRT is missing or the build failed.
    """
    trt = import_tensorrt()
    max_batch, opt_size, max_size = shapes
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(
        "witness",
        (1, num_witnesses, MIN_SIZE),
        (1, num_witnesses, opt_size),
        (max_batch, num_witnesses, max_size),
    )
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build a plan from {onnx_path}")
    write_bytes(plan_path, bytes(serialized))
    logger.info("built TensorRT plan %s", plan_path)
