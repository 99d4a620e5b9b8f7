"""Turn a training run into a verified model file.

``convert_run`` rebuilds the torch network of a run folder
(:func:`utils.nn.checkpoint.load_model`), exports it to ONNX with a dynamic
batch and time axis (the scalers are buffers, so they are in the graph),
optionally builds a TensorRT plan from it, and checks the exported model
against torch on the run's ``verify.npz`` witnesses with the very runner
that Triton will use (:mod:`exporter.model_template`). A model whose error
is above the bound raises :class:`~utils.errors.VerificationError` and
never becomes a version.

The exporter runs this module as a subprocess (``python -m
exporter.convert RUN_DIR OUT_DIR CONFIG_JSON``) so that a conversion can be
killed at its timeout; the result is ``OUT_DIR/conversion.json``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from exporter import model_template
from exporter import tensorrt_plan
from exporter.export_process import EXIT_REFUSED
from exporter.export_process import RESULT_FILE
from exporter.export_process import ExportConfig
from utils.atomic import write_text
from utils.contracts import witness_mismatch
from utils.errors import DeepCleanError
from utils.errors import ModelError
from utils.errors import VerificationError
from utils.inference import SIZE_MULTIPLE
from utils.nn.architecture import DeepClean
from utils.nn.checkpoint import load_model
from utils.pipeline import FILE_OF_BACKEND
from utils.runs import VERIFY_FILE


def load_verify_witness(run_dir: Path, num_witnesses: int) -> np.ndarray:
    """The run's verification witnesses, ``(num_witnesses, size)``.

    Raises:
        ModelError: missing, malformed, non-finite or too short.
    """
    path = Path(run_dir) / VERIFY_FILE
    try:
        with np.load(path) as data:
            witness = np.asarray(data["witness"], dtype=np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(
            f"cannot read verification data {path}: {exc}"
        ) from exc
    multiple = SIZE_MULTIPLE
    size = witness.shape[-1] // multiple * multiple if witness.ndim else 0
    if witness.ndim != 2 or witness.shape[0] != num_witnesses or size < 32:
        raise ModelError(
            f"{path}: witness must be ({num_witnesses}, >= 32), got "
            f"{witness.shape}"
        )
    if not np.isfinite(witness).all():
        raise ModelError(f"{path}: witness holds NaN or inf")
    return witness[:, :size]


def export_onnx(
    model: DeepClean, path: Path, config: ExportConfig, size: int = 4096
) -> None:
    """Export ``model`` to ``path`` with dynamic batch and time axes.

    Args:
        model: the network (eval mode).
        path: the ONNX file to write.
        config: ``opset``.
        size: samples of the example input (a multiple of 16).
    """
    example = torch.zeros(1, model.num_witnesses, size)
    names = {"input_names": ["witness"], "output_names": ["noise"]}
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter (deprecated in torch 2.9+, still in 2.13)
        # rather than the default dynamo one: here it is ~10x faster (1.7 s
        # vs 5-20 s), and the dynamo one with its optimiser on dropped the
        # "+ strain_mean" (~1e-22) of the output scaler: 8% error, caught
        # by the verification. If a torch release removes it, switch to
        # dynamo=True, optimize=False, dynamic_shapes=... (verified 7e-7).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=config.opset,
            **names,
            dynamic_axes={
                "witness": {0: "batch", 2: "size"},
                "noise": {0: "batch", 1: "size"},
            },
        )


def relative_error(exported: np.ndarray, reference: np.ndarray) -> float:
    """max |exported - reference| / RMS(reference) (0 if both are 0)."""
    if exported.shape != reference.shape:
        return float("inf")
    worst = float(np.max(np.abs(exported.astype(np.float64) - reference)))
    rms = float(np.sqrt(np.mean(np.square(reference.astype(np.float64)))))
    if rms == 0.0:
        return 0.0 if worst == 0.0 else float("inf")
    return worst / rms


def largest_batch(
    witness: np.ndarray, batch_size: int, item_size: int
) -> np.ndarray:
    """The largest call the served network gets, cut from ``witness``.

    Args:
        witness: ``(C, size)`` verification witnesses.
        batch_size: items of the batch.
        item_size: samples per item (0: the whole window).

    Returns:
        ``(batch_size, C, item_size)`` float32: windows spread evenly over
        ``witness`` (overlapping, as the kernels of one call do).

    Raises:
        ModelError: ``witness`` is shorter than one item.
    """
    size = witness.shape[-1]
    item_size = item_size or size
    if item_size > size:
        raise ModelError(
            f"verification data of {size} samples is shorter than one "
            f"item of the largest batch ({item_size} samples)"
        )
    starts = np.linspace(0, size - item_size, batch_size).astype(int)
    return np.stack([witness[:, s : s + item_size] for s in starts])


def verify(
    model: DeepClean,
    run: model_template.Runner,
    witness: np.ndarray,
    bound: float,
    what: str,
    largest: tuple[int, int] = (1, 0),
    profile: tensorrt_plan.PlanProfile | None = None,
) -> float:
    """Compare ``run`` with the torch network on ``witness``.

    Three inputs: the whole window (batch 1), its two halves as a batch
    of 2 (both dynamic axes), and the largest batch the cleaner's calls
    make (``largest``: batch size, samples per item, see
    :func:`largest_batch`), so that a model that cannot take it (a
    TensorRT profile too small) is never served. A plan whose
    ``profile`` takes whole items only (``kernels``) is verified on what
    Triton sends it: one item and the largest batch.

    Returns:
        The relative error (see :func:`relative_error`).

    Raises:
        VerificationError: the error is above ``bound`` (or not finite),
            or the runner fails on one of the inputs.
    """
    if profile is not None and profile.item_size:
        one_item = largest_batch(witness, 1, profile.item_size)
        inputs = [one_item, largest_batch(witness, *largest)]
    else:
        half = witness.shape[-1] // 32 * 16
        inputs = [
            witness[None],
            np.stack([witness[:, :half], witness[:, half : 2 * half]]),
            largest_batch(witness, *largest),
        ]
    error = 0.0
    for batch in inputs:
        with torch.no_grad():
            reference = model(torch.from_numpy(batch)).numpy()
        try:
            exported = np.asarray(run(batch))
        except Exception as exc:  # any runner failure
            raise VerificationError(
                f"{what} fails on a batch of shape {list(batch.shape)}: {exc}"
            ) from exc
        error = max(error, relative_error(exported, reference))
    if not error <= bound:
        raise VerificationError(
            f"{what} disagrees with its torch network: max abs error / RMS "
            f"= {error:.3g} > max_verification_error {bound:.3g}"
        )
    return error


def check_profile(config: ExportConfig, batch: int, size: int) -> None:
    """The plan's profile takes the largest call of the served network.

    Raises:
        ModelError: it does not (a plan that would fail in Triton).
    """
    profile = config.plan_profile()
    if not profile.covers(batch, size):
        raise ModelError(
            f"the TensorRT profile {profile} does not take the largest "
            f"call: {batch} items of {size} samples"
        )


def convert_run(run_dir: Path, out_dir: Path, config: ExportConfig) -> dict:
    """Export, verify and describe one run; files go to ``out_dir``.

    Returns:
        What ``version.json`` needs: backend, verification error, channels,
        sample rate, GPS span, exporter, seconds taken.

    Raises:
        ModelError: unreadable run, TensorRT missing or build failed.
        VerificationError: the export disagrees with torch.
    """
    start = time.monotonic()
    model, meta = load_model(run_dir)
    mismatch = witness_mismatch(meta.witness_channels, config.witness_channels)
    if mismatch is not None:  # it would be fed the wrong channels
        raise ModelError(f"the run {mismatch}")
    witness = load_verify_witness(run_dir, len(meta.witness_channels))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / FILE_OF_BACKEND["onnx-python"]
    largest = (config.max_batch_size, config.max_batch_item_size)
    if config.backend == "tensorrt":  # fail before exporting anything
        tensorrt_plan.check_version(config.tensorrt_version)
        check_profile(config, largest[0], largest[1] or witness.shape[-1])
    export_onnx(model, onnx_path, config)
    run = model_template.make_onnx_runner(onnx_path)
    error = verify(
        model,
        run,
        witness,
        config.max_verification_error,
        f"ONNX export of {run_dir}",
        largest,
    )
    if config.backend == "tensorrt":
        plan_path = out_dir / FILE_OF_BACKEND["tensorrt"]
        tensorrt_plan.build_plan(
            onnx_path,
            plan_path,
            len(meta.witness_channels),
            config.plan_profile(),
        )
        try:
            run = tensorrt_plan.make_tensorrt_runner(plan_path)
        except RuntimeError as exc:
            raise ModelError(str(exc)) from exc
        error = verify(
            model,
            run,
            witness,
            config.max_verification_error,
            f"TensorRT plan of {run_dir}",
            largest,
            config.plan_profile(),
        )
    return {
        "backend": config.backend,
        "verification_error": error,
        "verified_largest_batch": [
            config.max_batch_size,
            len(meta.witness_channels),
            config.max_batch_item_size or int(witness.shape[-1]),
        ],
        "max_verification_error": config.max_verification_error,
        "onnx_exporter": "torchscript",
        "opset": config.opset,
        "strain_channel": meta.strain_channel,
        "witness_channels": list(meta.witness_channels),
        "sample_rate": meta.sample_rate,
        "gps_start": meta.gps_start,
        "gps_stop": meta.gps_stop,
        "torch_version": torch.__version__,
        "conversion_seconds": time.monotonic() - start,
    }


def main(argv: list[str]) -> int:
    """Subprocess entry: ``RUN_DIR OUT_DIR CONFIG_JSON``.

    Writes ``OUT_DIR/conversion.json`` and returns 0, or prints one JSON
    line ``{"error", "detail"}`` and returns :data:`EXIT_REFUSED`.
    """
    run_dir, out_dir, raw = Path(argv[0]), Path(argv[1]), argv[2]
    torch.set_num_threads(1)
    try:
        config = ExportConfig(**json.loads(raw))
        result = convert_run(run_dir, out_dir, config)
    except DeepCleanError as exc:
        print(json.dumps({"error": type(exc).__name__, "detail": str(exc)}))
        return EXIT_REFUSED
    write_text(out_dir / RESULT_FILE, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
