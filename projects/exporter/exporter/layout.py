"""The ``config.pbtxt`` files of the model repository.

Built as ``ModelConfig`` protobuf messages (the schema Triton parses) and
written as text. Tensors of docs/architecture.md §Triton pipeline:
``deepclean`` and ``deepclean-null`` take ``WITNESS`` FP32 ``[1, C, size]``
and give ``NOISE`` FP32 ``[1, size]`` and ``VERSION`` INT64 ``[1]``; the
ensemble ``deepclean-pipeline`` maps them to ``PRODUCTION``,
``PRODUCTION_VERSION``, ``CANARY`` and ``CANARY_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from exporter.errors import require_counts
from utils.inference import Scheme

MODEL_NAME = "deepclean"
NULL_MODEL_NAME = "deepclean-null"
PIPELINE_NAME = "deepclean-pipeline"
FP32, INT64 = mc.TYPE_FP32, mc.TYPE_INT64


@dataclass(frozen=True)
class ServingConfig:
    """What every version's python model is told by ``config.pbtxt``.

    Attributes:
        scheme: the inference scheme (:class:`utils.inference.Scheme`).
        intra_op_num_threads: ONNX Runtime threads per model instance.
        instance_count: model instances per loaded version.
    """

    scheme: Scheme
    intra_op_num_threads: int
    instance_count: int

    def __post_init__(self) -> None:
        require_counts(self, "intra_op_num_threads", "instance_count")


def _io(config: mc.ModelConfig, num_witnesses: int) -> None:
    config.input.add(
        name="WITNESS", data_type=FP32, dims=[1, num_witnesses, -1]
    )
    config.output.add(name="NOISE", data_type=FP32, dims=[1, -1])
    config.output.add(name="VERSION", data_type=INT64, dims=[1])


def _text(config: mc.ModelConfig) -> str:
    return text_format.MessageToString(config)


def model_config(
    versions: list[int],
    num_witnesses: int,
    serving: ServingConfig,
    backend: str,
) -> str:
    """``deepclean/config.pbtxt``: python backend, exactly ``versions``.

    Args:
        versions: the versions Triton keeps loaded (production, canary).
        num_witnesses: input channels.
        serving: scheme, threads and instance count.
        backend: ``onnx-python`` (CPU instances) or ``tensorrt`` (GPU).
    """
    config = mc.ModelConfig(
        name=MODEL_NAME, backend="python", max_batch_size=0
    )
    _io(config, num_witnesses)
    config.version_policy.specific.versions.extend(sorted(set(versions)))
    kind = (
        mc.ModelInstanceGroup.KIND_GPU
        if backend == "tensorrt"
        else mc.ModelInstanceGroup.KIND_CPU
    )
    config.instance_group.add(count=serving.instance_count, kind=kind)
    scheme = serving.scheme
    parameters = {
        "scheme": scheme.name,
        "sample_rate": str(scheme.sample_rate),
        "kernel_length": repr(scheme.kernel_length),
        "inference_sampling_rate": repr(scheme.inference_sampling_rate),
        "aggregation_length": repr(scheme.aggregation_length),
        "max_batch_size": str(scheme.max_batch_size),
        "intra_op_num_threads": str(serving.intra_op_num_threads),
    }
    for key, value in parameters.items():
        config.parameters[key].string_value = value
    return _text(config)


def null_config() -> str:
    """``deepclean-null/config.pbtxt`` (any number of witnesses)."""
    config = mc.ModelConfig(
        name=NULL_MODEL_NAME, backend="python", max_batch_size=0
    )
    _io(config, -1)
    config.instance_group.add(count=1, kind=mc.ModelInstanceGroup.KIND_CPU)
    return _text(config)


def _step(config: mc.ModelConfig, version: int, prefix: str) -> None:
    step = config.ensemble_scheduling.step.add()
    if version == 0:
        step.model_name, step.model_version = NULL_MODEL_NAME, 1
    else:
        step.model_name, step.model_version = MODEL_NAME, version
    step.input_map["WITNESS"] = "WITNESS"
    step.output_map["NOISE"] = prefix
    step.output_map["VERSION"] = f"{prefix}_VERSION"


def pipeline_config(production: int, canary: int, num_witnesses: int) -> str:
    """``deepclean-pipeline/config.pbtxt``: the ensemble the cleaner calls.

    Args:
        production: version of the production step (0: ``deepclean-null``).
        canary: version of the canary step (> 0).
        num_witnesses: input channels.
    """
    config = mc.ModelConfig(
        name=PIPELINE_NAME, platform="ensemble", max_batch_size=0
    )
    config.input.add(
        name="WITNESS", data_type=FP32, dims=[1, num_witnesses, -1]
    )
    for prefix in ("PRODUCTION", "CANARY"):
        config.output.add(name=prefix, data_type=FP32, dims=[1, -1])
        config.output.add(name=f"{prefix}_VERSION", data_type=INT64, dims=[1])
    _step(config, production, "PRODUCTION")
    _step(config, canary, "CANARY")
    return _text(config)


def parse_config(text: str) -> mc.ModelConfig:
    """Parse a ``config.pbtxt`` text back into its message."""
    return text_format.Parse(text, mc.ModelConfig())
