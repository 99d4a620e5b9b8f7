"""The ``config.pbtxt`` files of the model repository.

Built as ``ModelConfig`` protobuf messages (the schema Triton parses) and
written as text. Tensors of docs/architecture.md, "Triton pipeline"
(:mod:`utils.pipeline`, the names the cleaner calls): the ensemble
``deepclean-pipeline`` takes ``WITNESS`` FP32 ``[1, C, size]`` and gives
``PRODUCTION``, ``PRODUCTION_VERSION``, ``CANARY`` and
``CANARY_VERSION``. ``deepclean-null`` (production 0) takes ``WITNESS``
and gives ``NOISE`` FP32 ``[1, size]`` and ``VERSION`` INT64 ``[1]``.

Backend ``onnx-python``: each ``deepclean`` version is a python model with
the same tensors as ``deepclean-null`` (:mod:`exporter.model_template`).

Backend ``tensorrt``: each ``deepclean`` version is a ``tensorrt_plan``
model (``witness`` ``[n, C, item]`` -> ``noise`` ``[n, item]``, sizes of
:class:`~exporter.tensorrt_plan.PlanProfile`) between two python steps:
``deepclean-kernels`` (``WITNESS`` -> ``KERNELS``, the window as one batch
of :func:`utils.inference.network_input`, and ``WINDOW_SIZE``) and
``deepclean-aggregate`` (``KERNEL_NOISE``, ``WINDOW_SIZE`` -> ``NOISE``,
``VERSION``), whose versions are those of ``deepclean``: the version of
the step is the tag it gives (:mod:`exporter.kernels_template`,
:mod:`exporter.aggregate_template`).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from exporter.tensorrt_plan import PlanProfile
from utils.inference import Scheme
from utils.pipeline import BRANCHES
from utils.pipeline import CANARY
from utils.pipeline import KERNEL_NOISE
from utils.pipeline import KERNELS
from utils.pipeline import MODEL_NAME
from utils.pipeline import NOISE
from utils.pipeline import PIPELINE_NAME
from utils.pipeline import PRODUCTION
from utils.pipeline import VERSION
from utils.pipeline import WINDOW_SIZE
from utils.pipeline import WITNESS
from utils.pipeline import version_output
from utils.runners import INPUT_NAME
from utils.runners import OUTPUT_NAME
from utils.settings import require_counts

NULL_MODEL_NAME = "deepclean-null"
KERNELS_MODEL_NAME = "deepclean-kernels"  # backend tensorrt only
AGGREGATE_MODEL_NAME = "deepclean-aggregate"  # backend tensorrt only
FP32, INT64 = mc.TYPE_FP32, mc.TYPE_INT64


@dataclass(frozen=True)
class ServingConfig:
    """What every version's python model is told by ``config.pbtxt``.

    Attributes:
        scheme: the inference scheme (:class:`utils.inference.Scheme`).
        intra_op_num_threads: ONNX Runtime threads per model instance.
        instance_count: model instances per loaded version.
        plan: the TensorRT profile (backend ``tensorrt``).
    """

    scheme: Scheme
    intra_op_num_threads: int
    instance_count: int
    plan: PlanProfile

    def __post_init__(self) -> None:
        require_counts(self, "intra_op_num_threads", "instance_count")


def _io(config: mc.ModelConfig, num_witnesses: int) -> None:
    config.input.add(name=WITNESS, data_type=FP32, dims=[1, num_witnesses, -1])
    config.output.add(name=NOISE, data_type=FP32, dims=[1, -1])
    config.output.add(name=VERSION, data_type=INT64, dims=[1])


def _text(config: mc.ModelConfig) -> str:
    return text_format.MessageToString(config)


def _scheme_parameters(config: mc.ModelConfig, serving: ServingConfig) -> None:
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


def model_config(
    versions: list[int],
    num_witnesses: int,
    serving: ServingConfig,
    backend: str,
) -> str:
    """``deepclean/config.pbtxt`` keeping exactly ``versions``.

    Args:
        versions: the versions Triton keeps loaded (production, canary).
        num_witnesses: input channels.
        serving: scheme, threads, instance count and TensorRT profile.
        backend: ``onnx-python`` (python models on CPU) or ``tensorrt``
            (:func:`plan_config`).
    """
    if backend == "tensorrt":
        return plan_config(versions, num_witnesses, serving)
    config = mc.ModelConfig(
        name=MODEL_NAME, backend="python", max_batch_size=0
    )
    _io(config, num_witnesses)
    config.version_policy.specific.versions.extend(sorted(set(versions)))
    config.instance_group.add(
        count=serving.instance_count, kind=mc.ModelInstanceGroup.KIND_CPU
    )
    _scheme_parameters(config, serving)
    return _text(config)


def plan_config(
    versions: list[int], num_witnesses: int, serving: ServingConfig
) -> str:
    """``deepclean/config.pbtxt`` of backend ``tensorrt``: Triton's
    TensorRT backend on ``<v>/model.plan``, GPU instances.

    ``max_batch_size`` and the item dims are those of the plan's profile
    (:class:`~exporter.tensorrt_plan.PlanProfile`); the scheme's
    parameters are kept for readers of the repository (the TensorRT
    backend ignores them).
    """
    plan = serving.plan
    config = mc.ModelConfig(
        name=MODEL_NAME,
        platform="tensorrt_plan",
        max_batch_size=plan.max_batch_size,
    )
    config.input.add(
        name=INPUT_NAME, data_type=FP32, dims=plan.item_dims(num_witnesses)
    )
    config.output.add(
        name=OUTPUT_NAME, data_type=FP32, dims=[plan.item_size or -1]
    )
    config.version_policy.specific.versions.extend(sorted(set(versions)))
    config.instance_group.add(
        count=serving.instance_count, kind=mc.ModelInstanceGroup.KIND_GPU
    )
    _scheme_parameters(config, serving)
    return _text(config)


def kernels_config(num_witnesses: int, serving: ServingConfig) -> str:
    """``deepclean-kernels/config.pbtxt``: a window -> one batch."""
    config = mc.ModelConfig(
        name=KERNELS_MODEL_NAME, backend="python", max_batch_size=0
    )
    config.input.add(name=WITNESS, data_type=FP32, dims=[1, num_witnesses, -1])
    config.output.add(
        name=KERNELS,
        data_type=FP32,
        dims=[-1, *serving.plan.item_dims(num_witnesses)],
    )
    config.output.add(name=WINDOW_SIZE, data_type=INT64, dims=[1])
    config.instance_group.add(count=1, kind=mc.ModelInstanceGroup.KIND_CPU)
    _scheme_parameters(config, serving)
    return _text(config)


def aggregate_config(versions: list[int], serving: ServingConfig) -> str:
    """``deepclean-aggregate/config.pbtxt``: a batch's output -> the
    window's noise, tagged with the step's version (``versions``: those of
    ``deepclean``)."""
    config = mc.ModelConfig(
        name=AGGREGATE_MODEL_NAME, backend="python", max_batch_size=0
    )
    config.input.add(
        name=KERNEL_NOISE,
        data_type=FP32,
        dims=[-1, serving.plan.item_size or -1],
    )
    config.input.add(name=WINDOW_SIZE, data_type=INT64, dims=[1])
    config.output.add(name=NOISE, data_type=FP32, dims=[1, -1])
    config.output.add(name=VERSION, data_type=INT64, dims=[1])
    config.version_policy.specific.versions.extend(sorted(set(versions)))
    config.instance_group.add(count=1, kind=mc.ModelInstanceGroup.KIND_CPU)
    _scheme_parameters(config, serving)
    return _text(config)


def null_config() -> str:
    """``deepclean-null/config.pbtxt`` (any number of witnesses)."""
    config = mc.ModelConfig(
        name=NULL_MODEL_NAME, backend="python", max_batch_size=0
    )
    _io(config, -1)
    config.instance_group.add(count=1, kind=mc.ModelInstanceGroup.KIND_CPU)
    return _text(config)


def _step(
    config: mc.ModelConfig,
    name: str,
    version: int,
    inputs: dict[str, str],
    outputs: dict[str, str],
) -> None:
    step = config.ensemble_scheduling.step.add()
    step.model_name, step.model_version = name, version
    step.input_map.update(inputs)
    step.output_map.update(outputs)


def _branch(
    config: mc.ModelConfig, version: int, prefix: str, backend: str
) -> None:
    tagged = {NOISE: prefix, VERSION: version_output(prefix)}
    if version == 0:
        _step(config, NULL_MODEL_NAME, 1, {WITNESS: WITNESS}, tagged)
    elif backend != "tensorrt":
        _step(config, MODEL_NAME, version, {WITNESS: WITNESS}, tagged)
    else:
        noise = f"{prefix}_{KERNEL_NOISE}"
        inputs = {INPUT_NAME: KERNELS}
        _step(config, MODEL_NAME, version, inputs, {OUTPUT_NAME: noise})
        inputs = {KERNEL_NOISE: noise, WINDOW_SIZE: WINDOW_SIZE}
        _step(config, AGGREGATE_MODEL_NAME, version, inputs, tagged)


def pipeline_config(
    production: int,
    canary: int,
    num_witnesses: int,
    backend: str = "onnx-python",
) -> str:
    """``deepclean-pipeline/config.pbtxt``: the ensemble the cleaner calls.

    Args:
        production: version of the production step (0: ``deepclean-null``).
        canary: version of the canary step (> 0).
        num_witnesses: input channels.
        backend: ``tensorrt``: the window goes through
            ``deepclean-kernels`` once, then each branch through the plan
            and ``deepclean-aggregate`` at its version.
    """
    config = mc.ModelConfig(
        name=PIPELINE_NAME, platform="ensemble", max_batch_size=0
    )
    config.input.add(name=WITNESS, data_type=FP32, dims=[1, num_witnesses, -1])
    for branch in BRANCHES:
        config.output.add(name=branch, data_type=FP32, dims=[1, -1])
        version = version_output(branch)
        config.output.add(name=version, data_type=INT64, dims=[1])
    if backend == "tensorrt":
        outputs = {KERNELS: KERNELS, WINDOW_SIZE: WINDOW_SIZE}
        _step(config, KERNELS_MODEL_NAME, 1, {WITNESS: WITNESS}, outputs)
    _branch(config, production, PRODUCTION, backend)
    _branch(config, canary, CANARY, backend)
    return _text(config)


def parse_config(text: str) -> mc.ModelConfig:
    """Parse a ``config.pbtxt`` text back into its message."""
    return text_format.Parse(text, mc.ModelConfig())


def production_of(text: str) -> int:
    """The production version a ``deepclean-pipeline`` config routes to
    (0: ``deepclean-null``): the version of the step that gives
    ``PRODUCTION_VERSION`` (``deepclean``'s, or with backend ``tensorrt``
    ``deepclean-aggregate``'s, which is the same).

    Raises:
        ValueError: ``text`` is not a pipeline config.
    """
    try:
        config = parse_config(text)
    except text_format.ParseError as exc:
        raise ValueError(f"not a model config: {exc}") from exc
    tag = version_output(PRODUCTION)
    for step in config.ensemble_scheduling.step:
        if tag in step.output_map.values():
            if step.model_name == NULL_MODEL_NAME:
                return 0
            return step.model_version
    raise ValueError(f"no step gives {tag}")
