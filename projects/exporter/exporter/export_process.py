"""Run a conversion (:mod:`exporter.convert`) in a subprocess.

The subprocess (``python -m exporter.convert RUN_DIR OUT_DIR CONFIG_JSON``)
keeps torch out of the web process and lets a conversion be killed at its
timeout, which a thread cannot be. It writes ``OUT_DIR/conversion.json``,
or prints one JSON line ``{"error", "detail"}`` and exits with
:data:`EXIT_REFUSED`.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

from exporter.tensorrt_plan import PlanProfile
from utils.errors import ModelError
from utils.errors import VerificationError
from utils.settings import require
from utils.settings import require_counts
from utils.settings import require_positive

RESULT_FILE = "conversion.json"
EXIT_REFUSED = 3  # the conversion was refused with a domain error
# onnx-python: ONNX Runtime inside a Triton python model (CPU, default);
# tensorrt: a TensorRT plan served by Triton's TensorRT backend (GPU)
BACKENDS = ("onnx-python", "tensorrt")


@dataclass(frozen=True)
class ExportConfig:
    """How a training run becomes a verified model file.

    Attributes:
        backend: ``onnx-python`` or ``tensorrt``.
        max_verification_error: bound on max |exported - torch| divided by
            the RMS of the torch output on the run's ``verify.npz``.
        timeout: seconds a conversion (subprocess) may take.
        trt_max_batch_size: largest batch of the TensorRT profile.
        max_batch_size: largest batch the served model is called with
            (kernels scheme: the kernels of one call; window scheme: 1);
            the verification runs one batch of that size.
        max_batch_item_size: samples per item of that batch (kernels
            scheme: one kernel); 0: the whole verification window (the
            window scheme's one pass, at least the cleaner's window).
        tensorrt_version: the TensorRT release of the Triton container
            that serves the plans ("10.5" matches 10.5.x); a plan built
            by another release does not load, so export refuses one.
        opset: ONNX opset of the export.
        trt_opt_size: samples the TensorRT profile is tuned for
            (``window`` scheme; ``kernels``: a full batch of kernels).
        trt_max_size: largest window (samples) of the TensorRT profile
            (``window`` scheme; ``kernels``: one kernel).
        witness_channels: the channels the cleaner sends, in its order: a
            run trained on others is refused before anything is exported;
            empty: not known (no cleaner settings), not checked.
    """

    backend: str
    max_verification_error: float
    timeout: float
    trt_max_batch_size: int
    max_batch_size: int
    max_batch_item_size: int
    tensorrt_version: str
    opset: int = 17
    trt_opt_size: int = 8192  # 2 s at 4096 Hz: the cleaner's window
    trt_max_size: int = 65536  # 16 s at 4096 Hz
    witness_channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # a tuple, also when read back from the subprocess's JSON
        object.__setattr__(
            self, "witness_channels", tuple(self.witness_channels)
        )
        require(
            self.backend in BACKENDS,
            "backend",
            self.backend,
            f"one of {BACKENDS}",
        )
        err = self.max_verification_error
        require(
            isinstance(err, (int, float)) and 0 <= err < math.inf,
            "max_verification_error",
            err,
            "a finite number >= 0",
        )
        require_positive(self, "timeout")
        require_counts(self, "max_batch_size")
        require(
            isinstance(self.max_batch_item_size, int)
            and self.max_batch_item_size >= 0,
            "max_batch_item_size",
            self.max_batch_item_size,
            "a whole number of samples >= 0 (0: the verification window)",
        )
        require_counts(
            self, "trt_max_batch_size", "trt_opt_size", "trt_max_size"
        )

    def plan_profile(self) -> PlanProfile:
        """The TensorRT profile of every plan (and of its Triton config)."""
        return PlanProfile(
            max_batch_size=self.trt_max_batch_size,
            item_size=self.max_batch_item_size,
            opt_size=self.trt_opt_size,
            max_size=self.trt_max_size,
        )


def config_argument(config: ExportConfig) -> str:
    """The CONFIG_JSON argument of the subprocess for ``config``."""
    return json.dumps(asdict(config))


def run_conversion(run_dir: Path, out_dir: Path, config: ExportConfig) -> dict:
    """Run :func:`exporter.convert.convert_run` in a subprocess.

    The subprocess is killed after ``config.timeout`` seconds.

    The subprocess runs in ``out_dir`` so that no folder of the caller's
    working directory can shadow a package torch's exporter imports.

    Returns:
        The result of :func:`exporter.convert.convert_run`.

    Raises:
        ModelError: conversion failed or timed out.
        VerificationError: the export disagrees with torch.
    """
    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir).resolve()
    command = [
        sys.executable,
        "-m",
        "exporter.convert",
        str(run_dir),
        str(out_dir),
        config_argument(config),
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=config.timeout,
            check=False,
            cwd=out_dir,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelError(
            f"export of {run_dir} took longer than "
            f"{config.timeout:.0f} s; stopped"
        ) from exc
    if done.returncode == EXIT_REFUSED:
        lines = done.stdout.strip().splitlines() or ["{}"]
        try:
            refusal = json.loads(lines[-1])
        except ValueError:
            refusal = {"detail": lines[-1][:500]}
        cls = (
            VerificationError
            if refusal.get("error") == "VerificationError"
            else ModelError
        )
        raise cls(refusal.get("detail", f"export of {run_dir} refused"))
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise ModelError(
            f"export of {run_dir} failed (exit "
            f"{done.returncode}): {' | '.join(tail)}"
        )
    return json.loads((Path(out_dir) / RESULT_FILE).read_text())
