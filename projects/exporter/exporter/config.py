"""The exporter's settings, read from ``[tool.typeo.scripts.exporter]`` of
the root ``pyproject.toml``, with ``exporter-production`` laid over it
(:func:`utils.config.parse_settings`).

:class:`ExporterSettings` is the typed, documented entry point (its
``Args:`` are ``exporter --help``); it validates every value at start-up
and builds each component's frozen sub-config by keyword, which lives next
to its component: :class:`~exporter.export_process.ExportConfig`,
:class:`~exporter.layout.ServingConfig`,
:class:`~exporter.triton.TritonConfig`,
:class:`~exporter.repository.RepositoryConfig`,
:class:`~exporter.server.ServerConfig` and
:class:`~exporter.service.AppConfig` (the API, holding the others).
:func:`cleaner_settings` finds the cleaner's window, for the contract of
:func:`utils.contracts.check_window_fits_scheme`, and the witnesses it
sends, which every exported run must take. No ``from __future__
import annotations`` here: typeo reads the real annotation objects.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Literal, Mapping, Sequence

from exporter.export_process import BACKENDS
from exporter.export_process import ExportConfig
from exporter.layout import ServingConfig
from exporter.repository import RepositoryConfig
from exporter.server import ServerConfig
from exporter.service import AppConfig
from exporter.triton import TritonConfig
from utils.config import companion_values
from utils.contracts import check_window_fits_batch
from utils.contracts import check_window_fits_scheme
from utils.fields import ProjectFields
from utils.fields import documented
from utils.inference import Scheme
from utils.settings import check_rules
from utils.settings import check_sub_configs
from utils.settings import convert_fields
from utils.settings import port_rule
from utils.settings import sub_config

SCHEMES = ("window", "kernels")
# the cleaner's settings of the same profile (run.sh: one file, one profile
# for every service): its window must fit the scheme served here, and every
# exported run must take its witnesses, in its order
CLEANER_SECTION = "cleaner"
WINDOW_KEYS = (
    "inference_window_length",
    "prediction_edge_length",
    "sample_rate",
)
CLEANER_KEYS = (*WINDOW_KEYS, "witness_channels")


@documented
@dataclass(frozen=True)
class ExporterSettings(ProjectFields):
    """Turn training runs into verified versions of the Triton repository
    and keep the pipeline served; an HTTP API until SIGTERM/SIGINT.

    Args:
        project_dir:
            DeepClean project folder: runs are read from its train/, the
            log goes to its logs/exporter.log.
        model_repo:
            The Triton model repository (the one Triton serves).
        triton_url:
            host:port of Triton's HTTP endpoint.
        address:
            Address the API binds to.
        port:
            Port of the API.
        metrics_port:
            Prometheus port on 127.0.0.1; 0 disables.
        backend:
            onnx-python (ONNX Runtime, CPU) or tensorrt (GPU nodes).
        max_verification_error:
            Bound on max |export - torch| / RMS(torch) on the run's
            verify.npz; a worse export never becomes a version.
        export_timeout:
            Seconds one conversion may take.
        trt_max_batch_size:
            tensorrt: largest batch of the plan's profile and Triton's
            max_batch_size of the plan model (at least
            inference_batch_size for the kernels scheme).
        tensorrt_version:
            tensorrt: the TensorRT release of the Triton container that
            serves the plans (e.g. 10.5 for the NGC 24.10 image); export
            refuses to build a plan with another.
        max_versions:
            Versions kept on disk (production and canary always).
        scheme:
            Inference scheme: window (one pass over the cleaner's window)
            or kernels (the seed's).
        sample_rate:
            Hz of the witness data the cleaner sends.
        kernel_length:
            kernels scheme: seconds per kernel.
        inference_sampling_rate:
            kernels scheme: kernels per second.
        aggregation_length:
            kernels scheme: seconds averaged at the end of each kernel.
        inference_batch_size:
            kernels scheme: kernels per network call (tensorrt: the
            pipeline sends all kernels of a window in one call, so at
            least the kernels of the cleaner's window).
        intra_op_num_threads:
            ONNX Runtime threads per model instance.
        instance_count:
            Triton instances per loaded version.
        load_timeout:
            Seconds for Triton to load a model.
        reconcile_interval:
            Seconds between checks that Triton serves the repository's
            versions (re-loads after a Triton restart).
        max_content_length:
            Largest request body, bytes.
        threads:
            HTTP worker threads (requests handled at once).
        connection_limit:
            HTTP connections held at most, idle ones included (one open
            file each; the soft limit is raised to fit).
        channel_timeout:
            Seconds an HTTP connection may stay idle before it is closed.
        cleanup_interval:
            Seconds between checks for idle connections.
        verbose:
            Log at DEBUG.
    """

    model_repo: Path
    triton_url: str
    address: str
    port: int
    metrics_port: int
    backend: Literal["onnx-python", "tensorrt"]
    max_verification_error: float
    export_timeout: float
    trt_max_batch_size: int
    tensorrt_version: str
    max_versions: int
    scheme: Literal["window", "kernels"]
    sample_rate: int
    kernel_length: float
    inference_sampling_rate: float
    aggregation_length: float
    inference_batch_size: int
    intra_op_num_threads: int
    instance_count: int
    load_timeout: float
    reconcile_interval: float
    max_content_length: int
    threads: int
    connection_limit: int
    channel_timeout: int
    cleanup_interval: int
    verbose: bool = False

    def __post_init__(self) -> None:
        convert_fields(self)
        check_rules(self, self._rules())
        check_sub_configs(
            "exporter settings",
            self.export_config,
            self.serving_config,
            self.triton_config,
            self.repository_config,
            self.server_config,
        )

    def _rules(self) -> list[tuple[str, bool, str]]:
        """(setting, whether its rule holds, the rule), in checking order."""
        kernels, fs = self.scheme == "kernels", self.sample_rate
        rate = self.inference_sampling_rate
        trt = self.backend == "tensorrt"
        return [
            (
                "triton_url",
                "://" not in self.triton_url and ":" in self.triton_url,
                "host:port without a scheme",
            ),
            port_rule("metrics_port", self.metrics_port),
            ("backend", self.backend in BACKENDS, f"one of {BACKENDS}"),
            ("export_timeout", self.export_timeout > 0, "> 0 s"),
            ("max_content_length", self.max_content_length > 0, "> 0 bytes"),
            ("scheme", self.scheme in SCHEMES, f"one of {SCHEMES}"),
            ("sample_rate", fs > 0, "> 0 Hz"),
            ("kernel_length", self.kernel_length > 0, "> 0 s"),
            (
                "inference_sampling_rate",
                rate > 0 and (not kernels or fs / rate % 1 == 0),
                f"> 0 Hz and (kernels scheme) divides "
                f"sample_rate={fs!r}: whole samples between kernels",
            ),
            (
                "aggregation_length",
                not kernels
                or 0 < self.aggregation_length <= self.kernel_length,
                f"in (0, kernel_length={self.kernel_length!r}] s",
            ),
            ("inference_batch_size", self.inference_batch_size >= 1, ">= 1"),
            (
                "trt_max_batch_size",
                not (trt and kernels)
                or self.inference_batch_size <= self.trt_max_batch_size,
                "the TensorRT profile takes the kernels of one call: >= "
                f"inference_batch_size={self.inference_batch_size!r}",
            ),
        ]

    def inference_scheme(self) -> Scheme:
        return sub_config(
            Scheme,
            self,
            defaults=False,
            name=self.scheme,
            max_batch_size=self.inference_batch_size,
        )

    def largest_batch(self) -> tuple[int, int]:
        """``(batch, samples per item)`` of the largest call the served
        network gets: the kernels scheme's ``inference_batch_size``
        kernels; the window scheme's one window (0: the verification
        window, as long as the cleaner's or longer)."""
        if self.scheme == "kernels":
            scheme = self.inference_scheme()
            return self.inference_batch_size, scheme.kernel_size
        return 1, 0

    def export_config(
        self, witness_channels: Sequence[str] = ()
    ) -> ExportConfig:
        """``witness_channels``: what the cleaner sends (empty: not
        known, not checked)."""
        batch, item_size = self.largest_batch()
        return ExportConfig(
            backend=self.backend,
            max_verification_error=self.max_verification_error,
            timeout=self.export_timeout,
            trt_max_batch_size=self.trt_max_batch_size,
            max_batch_size=batch,
            max_batch_item_size=item_size,
            tensorrt_version=self.tensorrt_version,
            witness_channels=tuple(witness_channels),
        )

    def serving_config(self) -> ServingConfig:
        return ServingConfig(
            scheme=self.inference_scheme(),
            intra_op_num_threads=self.intra_op_num_threads,
            instance_count=self.instance_count,
            plan=self.export_config().plan_profile(),
        )

    def triton_config(self) -> TritonConfig:
        return sub_config(TritonConfig, self, url=self.triton_url)

    def repository_config(self) -> RepositoryConfig:
        return sub_config(RepositoryConfig, self, path=self.model_repo)

    def server_config(self) -> ServerConfig:
        return sub_config(ServerConfig, self)

    def app_config(
        self, api_token: str, witness_channels: Sequence[str] = ()
    ) -> AppConfig:
        """The API's config; ``api_token`` comes from the environment,
        ``witness_channels`` from the cleaner's settings (empty: not
        known, exported runs' witnesses not checked).

        Raises:
            ConfigError: the token is shorter than 8 characters.
        """
        return AppConfig(
            project_dir=self.project_dir,
            api_token=api_token,
            repository=self.repository_config(),
            export=self.export_config(witness_channels),
            serving=self.serving_config(),
            triton=self.triton_config(),
            max_content_length=self.max_content_length,
        )

    def check_window(self, window: Mapping[str, float]) -> None:
        """The cleaner's window fits the inference scheme served here, and
        (backend tensorrt) its one batch fits the plan's profile: the
        pipeline sends every kernel of a window in one call.

        Args:
            window: the cleaner's :data:`WINDOW_KEYS` settings.

        Raises:
            ConfigError: it does not (:mod:`utils.contracts`).
        """
        scheme = self.inference_scheme()
        length = window["inference_window_length"]
        check_window_fits_scheme(
            length,
            window["prediction_edge_length"],
            window["sample_rate"],
            scheme,
        )
        if self.backend != "tensorrt":
            return
        plan = self.serving_config().plan
        check_window_fits_batch(
            length,
            scheme,
            lambda batch, item_size: (
                batch <= self.inference_batch_size
                and plan.covers(batch, item_size)
            ),
            f"inference_batch_size={self.inference_batch_size!r} or the "
            f"TensorRT profile (trt_max_batch_size="
            f"{self.trt_max_batch_size!r})",
        )


def cleaner_settings(
    argv: List[str], environ: Mapping[str, str] | None = None
) -> tuple[str, dict] | None:
    """The settings of the cleaner that goes with ``argv``'s ``--typeo
    FILE:SECTION`` that the exporter must agree with (its window and its
    witnesses): section ``cleaner-<profile>`` of the same file for
    ``exporter-<profile>`` if there is one, else ``cleaner``.

    Returns:
        ``(section, {key: value})`` of :data:`CLEANER_KEYS`; None without
        ``--typeo`` or a cleaner section in the file.

    Raises:
        ConfigError: the cleaner section lacks a key or cannot be read.
    """
    found = companion_values(
        argv, "exporter", CLEANER_SECTION, CLEANER_KEYS, environ
    )
    if found is None:
        return None
    _, name, values = found
    return name, values
