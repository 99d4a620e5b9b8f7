"""Running an exported DeepClean version outside Triton's ensemble.

What a version folder of the model repository holds (``model.onnx``: raw
witnesses ``(n, C, size)`` in, raw noise ``(n, size)`` out, the scalers in
the graph) and the string parameters of ``deepclean/config.pbtxt`` that
give its inference scheme. Used by the Triton python model the exporter
copies into every version (:mod:`exporter.model_template`; numpy<2, no
torch) and by the reprocessing workers, so both run the same artefact the
same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from utils.inference import SIZE_MULTIPLE
from utils.inference import Scheme

Runner = Callable[[np.ndarray], np.ndarray]
INPUT_NAME = "witness"  # tensor names inside model.onnx / model.plan
OUTPUT_NAME = "noise"


def config_parameters(args: dict) -> dict[str, str]:
    """The string ``parameters`` of a Triton python model's config (its
    ``initialize`` ``args``)."""
    config = json.loads(args["model_config"])
    return {
        key: value["string_value"]
        for key, value in config.get("parameters", {}).items()
    }


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


def respond(
    pb_utils: object,
    requests: list,
    handle: Callable[[object], list],
    what: str,
) -> list:
    """One Triton response per request: ``handle(request)``'s output
    tensors, or an error response naming ``what`` and the exception (a
    bad request never fails the others)."""
    responses = []
    for request in requests:
        try:
            responses.append(pb_utils.InferenceResponse(handle(request)))
        except Exception as exc:  # error in its response
            error = pb_utils.TritonError(f"{what}: {exc}")
            responses.append(pb_utils.InferenceResponse([], error=error))
    return responses


def scheme_from_parameters(parameters: dict[str, str]) -> Scheme:
    """Build the scheme from ``config.pbtxt`` string parameters.

    Args:
        parameters: name -> string value (absent keys keep defaults).

    Returns:
        The scheme.
    """
    kwargs: dict[str, object] = {}
    if "scheme" in parameters:
        kwargs["name"] = parameters["scheme"]
    for key in ("sample_rate", "max_batch_size"):
        if key in parameters:
            kwargs[key] = int(parameters[key])
    for key in (
        "kernel_length",
        "inference_sampling_rate",
        "aggregation_length",
    ):
        if key in parameters:
            kwargs[key] = float(parameters[key])
    return Scheme(**kwargs)


def make_onnx_runner(path: Path, num_threads: int = 1) -> Runner:
    """ONNX Runtime (CPU) on ``model.onnx``.

    Args:
        path: the ONNX file.
        num_threads: intra-op threads (1: no thread pool, no spinning).

    Returns:
        batch ``(n, C, size)`` -> ``(n, size)`` float32.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )

    def run(batch: np.ndarray) -> np.ndarray:
        feed = {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}
        return session.run([OUTPUT_NAME], feed)[0]

    return run
