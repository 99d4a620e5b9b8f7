"""Frozen configuration of the exporter; ``main`` builds it from typeo.

Each component gets only its part: :class:`ExportConfig` (conversion and
verification), :class:`ServingConfig` (what goes into ``config.pbtxt``),
:class:`TritonConfig` (the control client), :class:`RepositoryConfig` (the
model repository on disk), :class:`AppConfig` (the HTTP API, which holds
the others) and :class:`ServerConfig` (the HTTP server in front of it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from utils.errors import ConfigError
from utils.inference import Scheme

# onnx-python: ONNX Runtime inside a Triton python model (CPU, default);
# tensorrt: a TensorRT plan run by the same python model (GPU)
BACKENDS = ("onnx-python", "tensorrt")
MODEL_NAME = "deepclean"
NULL_MODEL_NAME = "deepclean-null"
PIPELINE_NAME = "deepclean-pipeline"


def _require(ok: bool, name: str, value: object, rule: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r}: {rule}")


def _positive(name: str, value: float) -> None:
    _require(
        isinstance(value, (int, float)) and math.isfinite(value) and value > 0,
        name,
        value,
        "must be a positive finite number",
    )


@dataclass(frozen=True)
class ExportConfig:
    """How a training run becomes a verified model file.

    Attributes:
        backend: ``onnx-python`` or ``tensorrt``.
        max_verification_error: bound on max |exported - torch| divided by
            the RMS of the torch output on the run's ``verify.npz``.
        opset: ONNX opset of the export.
        timeout: seconds a conversion (subprocess) may take.
        trt_max_batch_size: largest batch of the TensorRT profile.
        trt_opt_size: samples the TensorRT profile is tuned for.
        trt_max_size: largest window (samples) of the TensorRT profile.
        trt_fp16: build the TensorRT plan in FP16.
    """

    backend: str = "onnx-python"
    max_verification_error: float = 1e-4
    opset: int = 17
    timeout: float = 300.0
    trt_max_batch_size: int = 128
    trt_opt_size: int = 8192
    trt_max_size: int = 65536
    trt_fp16: bool = False

    def __post_init__(self) -> None:
        _require(self.backend in BACKENDS, "backend", self.backend,
                 f"one of {BACKENDS}")
        err = self.max_verification_error
        _require(isinstance(err, (int, float)) and 0 <= err < math.inf,
                 "max_verification_error", err, "a finite number >= 0")
        _positive("timeout", self.timeout)
        for name in ("trt_max_batch_size", "trt_opt_size", "trt_max_size"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value > 0, name, value,
                     "a positive integer")


@dataclass(frozen=True)
class ServingConfig:
    """What every version's python model is told by ``config.pbtxt``.

    Attributes:
        scheme: the inference scheme (:class:`utils.inference.Scheme`).
        intra_op_num_threads: ONNX Runtime threads per model instance.
        instance_count: model instances per loaded version.
    """

    scheme: Scheme = field(default_factory=Scheme)
    intra_op_num_threads: int = 1
    instance_count: int = 1

    def __post_init__(self) -> None:
        for name in ("intra_op_num_threads", "instance_count"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value > 0, name, value,
                     "a positive integer")


@dataclass(frozen=True)
class TritonConfig:
    """The Triton server the exporter controls (HTTP, explicit mode).

    Attributes:
        url: ``host:port`` of Triton's HTTP endpoint.
        request_timeout: seconds for a health or index request.
        load_timeout: seconds for loading a model and its readiness.
        reconcile_interval: seconds between checks that Triton serves
            what the repository says (re-loads after a Triton restart).
    """

    url: str = "127.0.0.1:8000"
    request_timeout: float = 5.0
    load_timeout: float = 120.0
    reconcile_interval: float = 5.0

    def __post_init__(self) -> None:
        _require("://" not in self.url and ":" in self.url, "url", self.url,
                 "host:port without a scheme")
        for name in ("request_timeout", "load_timeout",
                     "reconcile_interval"):
            _positive(name, getattr(self, name))


@dataclass(frozen=True)
class ServerConfig:
    """The HTTP server of the API (waitress), bounded against idle clients.

    Attributes:
        address: interface to bind.
        port: TCP port (0: an ephemeral one).
        threads: worker threads (requests handled at once).
        connection_limit: connections held at most, idle ones included
            (one file descriptor each; an idle one costs no thread).
        channel_timeout: s a connection may stay idle before it is closed.
        cleanup_interval: s between checks for idle connections.
    """

    address: str
    port: int
    threads: int
    connection_limit: int
    channel_timeout: int
    cleanup_interval: int

    def __post_init__(self) -> None:
        _require(isinstance(self.port, int) and 0 <= self.port < 65536,
                 "port", self.port, "an integer 0..65535")
        for name in ("threads", "connection_limit", "channel_timeout",
                     "cleanup_interval"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value > 0, name, value,
                     "a positive integer")


@dataclass(frozen=True)
class RepositoryConfig:
    """The model repository on disk.

    Attributes:
        path: the repository folder (``$PROJECT_DIR/model_repo``).
        max_versions: versions kept on disk; production and canary are
            never deleted, even beyond this number.
        lock_timeout: seconds to wait for the repository lock.
    """

    path: Path
    max_versions: int = 10
    lock_timeout: float = 300.0

    def __post_init__(self) -> None:
        _require(isinstance(self.max_versions, int) and self.max_versions
                 >= 2, "max_versions", self.max_versions, "an integer >= 2")
        _positive("lock_timeout", self.lock_timeout)


@dataclass(frozen=True)
class AppConfig:
    """Everything ``create_app`` needs.

    Attributes:
        project_dir: ``$PROJECT_DIR``; runs are named relative to
            ``project_dir / "train"``.
        api_token: the bearer token POSTs must carry (never logged).
        repository: see :class:`RepositoryConfig`.
        export: see :class:`ExportConfig`.
        serving: see :class:`ServingConfig`.
        triton: see :class:`TritonConfig`.
        max_content_length: largest request body in bytes.
        max_queued_jobs: exports waiting or running at most.
        openapi_path: the API description served at ``/openapi.yaml``.
    """

    project_dir: Path
    api_token: str = field(repr=False)  # never shown in logs
    repository: RepositoryConfig
    export: ExportConfig = field(default_factory=ExportConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    triton: TritonConfig = field(default_factory=TritonConfig)
    max_content_length: int = 16 * 1024
    max_queued_jobs: int = 8
    openapi_path: Path = Path(__file__).resolve().parents[1] / "openapi.yaml"

    def __post_init__(self) -> None:
        _require(isinstance(self.api_token, str) and len(self.api_token)
                 >= 8, "api_token", "<hidden>", "at least 8 characters")
        _require(self.max_content_length > 0, "max_content_length",
                 self.max_content_length, "positive")
        _require(self.max_queued_jobs > 0, "max_queued_jobs",
                 self.max_queued_jobs, "positive")

    @property
    def train_dir(self) -> Path:
        return Path(self.project_dir) / "train"
