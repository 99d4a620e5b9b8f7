"""Entry point of the exporter: ``exporter --typeo pyproject.toml:exporter``.

Builds the configuration, configures logging, starts the metrics endpoint
and serves the API (:func:`exporter.app.create_app`) with waitress until
SIGTERM/SIGINT. The API token comes from ``DEEPCLEAN_API_TOKEN``, read here
once and never logged.
"""

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Literal, Optional

from hermes.typeo import typeo
from utils.errors import ConfigError
from utils.inference import Scheme
from utils.logging import configure_logging
from utils.metrics import MetricsServer

from exporter.app import create_app, service_of
from exporter.config import (
    AppConfig,
    ExportConfig,
    RepositoryConfig,
    ServerConfig,
    ServingConfig,
    TritonConfig,
)
from exporter.server import create_server

logger = logging.getLogger("exporter")
TOKEN_VARIABLE = "DEEPCLEAN_API_TOKEN"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@typeo
def main(
    project_dir: Path,
    connection_limit: int,
    channel_timeout: int,
    cleanup_interval: int,
    triton_url: str = "127.0.0.1:8000",
    address: str = "127.0.0.1",
    port: int = 5000,
    metrics_port: int = 9102,
    model_repo: Optional[Path] = None,
    backend: Literal["onnx-python", "tensorrt"] = "onnx-python",
    max_verification_error: float = 1e-4,
    export_timeout: float = 300.0,
    max_versions: int = 10,
    scheme: Literal["window", "kernels"] = "window",
    sample_rate: int = 4096,
    kernel_length: float = 1.0,
    inference_sampling_rate: float = 512.0,
    aggregation_length: float = 0.5,
    inference_batch_size: int = 128,
    intra_op_num_threads: int = 1,
    instance_count: int = 1,
    load_timeout: float = 120.0,
    reconcile_interval: float = 5.0,
    max_content_length: int = 16384,
    threads: int = 4,
    verbose: bool = False,
) -> int:
    """Serve the exporter API until stopped.

    Args:
        project_dir: $PROJECT_DIR; runs are read from its train/ folder.
        connection_limit: HTTP connections held at most, idle ones
            included (one open file each; the soft limit is raised).
        channel_timeout: seconds an HTTP connection may stay idle.
        cleanup_interval: seconds between checks for idle connections.
        triton_url: host:port of Triton's HTTP endpoint.
        address: address the API binds to.
        port: port of the API.
        metrics_port: Prometheus port (0 disables).
        model_repo: the Triton repository (default PROJECT_DIR/model_repo).
        backend: onnx-python (CPU) or tensorrt (GPU nodes).
        max_verification_error: bound on max |export - torch| / RMS(torch).
        export_timeout: seconds one conversion may take.
        max_versions: versions kept on disk (production and canary always).
        scheme: inference scheme, window (one pass) or kernels (the seed's).
        sample_rate: Hz of the witness data.
        kernel_length: seconds per kernel (kernels scheme).
        inference_sampling_rate: kernels per second (kernels scheme).
        aggregation_length: seconds averaged per kernel (kernels scheme).
        inference_batch_size: kernels per network call (kernels scheme).
        intra_op_num_threads: ONNX Runtime threads per model instance.
        instance_count: Triton instances per loaded version.
        load_timeout: seconds for Triton to load a model.
        reconcile_interval: seconds between checks that Triton serves the
            repository's versions (re-loads after a Triton restart).
        max_content_length: largest request body, bytes.
        threads: waitress worker threads.
        verbose: log at DEBUG.
    """
    configure_logging("exporter", Path(project_dir) / "logs", verbose)
    token = os.environ.get(TOKEN_VARIABLE, "")
    try:
        config = AppConfig(
            project_dir=Path(project_dir),
            api_token=token,
            repository=RepositoryConfig(
                model_repo or Path(project_dir) / "model_repo",
                max_versions),
            export=ExportConfig(backend, max_verification_error,
                                timeout=export_timeout),
            serving=ServingConfig(
                Scheme(scheme, sample_rate, kernel_length,
                       inference_sampling_rate, aggregation_length,
                       inference_batch_size),
                intra_op_num_threads, instance_count),
            triton=TritonConfig(triton_url, load_timeout=load_timeout,
                                reconcile_interval=reconcile_interval),
            max_content_length=max_content_length,
        )
        server_config = ServerConfig(address, port, threads,
                                     connection_limit, channel_timeout,
                                     cleanup_interval)
    except (ConfigError, ValueError) as exc:
        logger.error("bad configuration (is %s set?): %s", TOKEN_VARIABLE,
                     exc)
        return 2
    logger.info("starting: %s %s", config, server_config)
    MetricsServer(metrics_port)
    app = create_app(config)
    server = create_server(app, server_config)
    signal.signal(signal.SIGTERM, _interrupt)
    logger.info("serving on http://%s:%d", address, port)
    try:
        server.run()  # waitress returns on KeyboardInterrupt (our SIGTERM)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        service_of(app).close()
        logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
