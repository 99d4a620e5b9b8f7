"""The noise model of a reprocessing: a version of a model repository.

The version folder the exporter writes (``<repo>/deepclean/<v>/``:
``model.onnx``, ``version.json``) is run as Triton's python model runs it:
ONNX Runtime on raw witnesses at the scheme's rate, under the inference
scheme of ``<repo>/deepclean/config.pbtxt`` (:mod:`utils.runners`,
:mod:`utils.inference`). Each worker process loads a version once
(:func:`load_version`) and keeps it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils.errors import ModelError
from utils.inference import Scheme
from utils.inference import predict
from utils.pipeline import CONFIG_FILE
from utils.pipeline import FILE_OF_BACKEND
from utils.pipeline import MODEL_NAME
from utils.pipeline import VERSION_FILE
from utils.runners import Runner
from utils.runners import make_onnx_runner
from utils.runners import scheme_from_parameters

ONNX_FILE = FILE_OF_BACKEND["onnx-python"]
# a string parameter of config.pbtxt (protobuf text format)
_PARAMETER = re.compile(
    r'parameters\s*\{\s*key:\s*"(?P<key>[^"]+)"\s*'
    r'value\s*\{\s*string_value:\s*"(?P<value>[^"]*)"'
)


@dataclass(frozen=True)
class ModelVersion:
    """One version of the repository, ready to predict.

    Attributes:
        version: its number (the tag of the frames it cleans).
        witness_channels: the network's input channels, in order.
        scheme: how the network is applied.
        run: ONNX Runtime on ``model.onnx``.
    """

    version: int
    witness_channels: tuple[str, ...]
    scheme: Scheme
    run: Runner

    @property
    def sample_rate(self) -> int:
        return self.scheme.sample_rate

    def __call__(self, witness: np.ndarray) -> np.ndarray:
        """Noise ``(size,)`` of raw witnesses ``(C, size)`` at
        :attr:`sample_rate`, in strain units."""
        return predict(witness.astype(np.float32), self.run, self.scheme)


def config_parameters(text: str) -> dict[str, str]:
    """The string parameters of a ``config.pbtxt``."""
    return {m["key"]: m["value"] for m in _PARAMETER.finditer(text)}


@functools.cache
def model_digest(repository: Path, version: int) -> str:
    """SHA-256 of version ``version``'s network file: what its outputs
    came from, whatever its number says (read once per process, as the
    version is loaded once: the check at start-up and the record made
    when the run computes take the same).

    Raises:
        ModelError: the file cannot be read.
    """
    path = Path(repository) / MODEL_NAME / str(version) / ONNX_FILE
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return digest.hexdigest()


@functools.cache
def load_version(repository: Path, version: int) -> ModelVersion:
    """Version ``version`` of the model repository ``repository`` (kept
    per process: each worker loads it once).

    Raises:
        ModelError: the version folder, its ONNX file or its description
            is missing or unreadable (naming the path).
    """
    model_dir = Path(repository) / MODEL_NAME
    version_dir = model_dir / str(version)
    try:
        info = json.loads((version_dir / VERSION_FILE).read_text())
        parameters = config_parameters((model_dir / CONFIG_FILE).read_text())
        scheme = scheme_from_parameters(parameters)
        witnesses = tuple(info["witness_channels"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(
            f"model version {version} in {repository}: {exc!r}"
        ) from exc
    backend = info.get("backend", "onnx-python")
    if backend != "onnx-python":
        # a TensorRT version still holds the ONNX file it was built from
        if not (version_dir / ONNX_FILE).exists():
            raise ModelError(
                f"version {version} in {repository} has backend {backend} "
                f"and no {ONNX_FILE} to run on CPU"
            )
    path = version_dir / ONNX_FILE
    try:
        run = make_onnx_runner(path)
    except Exception as exc:  # onnxruntime raises its own types
        raise ModelError(f"cannot load {path}: {exc}") from exc
    return ModelVersion(version, witnesses, scheme, run)
