"""Entry point of the cleaner: ``cleaner --typeo pyproject.toml:cleaner``.

Parses the configuration, builds the components and runs the per-second
loop (:mod:`cleaner.stream`) until SIGTERM/SIGINT, which finish the current
second and exit 0.
"""

import logging
import threading
from pathlib import Path
from typing import List

from hermes.typeo import typeo
from utils.errors import ConfigError
from utils.follower import StreamConfig
from utils.logging import configure_logging

from cleaner import metrics
from cleaner.cleaning import WindowConfig
from cleaner.client import ClientConfig
from cleaner.gate import GateConfig
from cleaner.postprocess import FilterConfig
from cleaner.service import CleanerConfig, PreprocessConfig, build
from cleaner.stream import stop_on_signals
from cleaner.writer import WriterConfig

logger = logging.getLogger("cleaner")


@typeo
def main(
    ifo: str,
    project_dir: Path,
    data_dir: Path,
    strain_channel: str,
    state_channel: str,
    witness_channels: List[str],
    triton_grpc_url: str,
    sample_rate: int = 4096,
    freq_low: float = 58.0,
    freq_high: float = 62.0,
    filter_order: int = 8,
    ready_mask: int = 3,
    frame_timeout: float = 2.0,
    max_consecutive_drops: int = 30,
    start_timeout: float = 600.0,
    resample_context_length: int = 1,
    drop_lookahead_length: int = 1,
    drop_taper_length: float = 0.5,
    model_name: str = "deepclean-pipeline",
    inference_timeout: float = 0.5,
    retry_max_length: float = 8.0,
    inference_window_length: float = 2.0,
    prediction_edge_length: float = 0.25,
    filter_memory_length: float = 2.0,
    filter_pad_length: float = 0.75,
    filter_extrapolation_order: int = 32,
    gate_length: int = 8,
    gate_lookahead_length: int = 1,
    gate_threshold: float = 1.0,
    gate_hysteresis: float = 0.01,
    metrics_port: int = 9103,
    verbose: bool = False,
) -> int:
    """Clean low-latency strain with DeepClean, one frame per second.

    Args:
        ifo: Interferometer, e.g. L1.
        project_dir: DeepClean project folder (carousel/, logs/).
        data_dir: Root of the raw frames (kafka/IFO, lldetchar/IFO).
        strain_channel: Full name of the strain channel cleaned.
        state_channel: Full name of the raw state vector.
        witness_channels: Full witness names, in the network's order.
        triton_grpc_url: Triton gRPC address, host:port.
        sample_rate: Hz everything is resampled to.
        freq_low: Hz, lower edge of the cleaned band.
        freq_high: Hz, upper edge of the cleaned band.
        filter_order: Butterworth order of the band-pass.
        ready_mask: State-vector bits meaning analysis ready.
        frame_timeout: Seconds after a frame is due before it is dropped.
        max_consecutive_drops: Drops in a row reported as stream down.
        start_timeout: Seconds to wait for the first raw frame.
        resample_context_length: Whole seconds of resampling context on
            each side of a second (adds as much latency).
        drop_lookahead_length: 1: hold a second to taper it before a
            dropped one (1 s latency); 0: no taper out.
        drop_taper_length: Seconds of the Hann ramps next to a drop.
        model_name: Triton ensemble returning both predictions.
        inference_timeout: Seconds one Triton call may take.
        retry_max_length: Longest back-off between Triton retries, s.
        inference_window_length: W, seconds of witnesses per request.
        prediction_edge_length: E, seconds at the window end not trusted.
        filter_memory_length: P, seconds of past prediction filtered.
        filter_pad_length: F, seconds of future prediction filtered;
            ceil(E + F) seconds of latency.
        filter_extrapolation_order: AR lags extending the prediction
            before filtering (0: off).
        gate_length: Seconds of the OUT_DQ gate's ASD-ratio buffer.
        gate_lookahead_length: Seconds after the written one in it.
        gate_threshold: ASD ratio above which OUT_DQ is raw strain.
        gate_hysteresis: Added to the threshold for closing.
        metrics_port: Prometheus port on 127.0.0.1; 0 disables.
        verbose: Log every frame (DEBUG).
    """
    configure_logging("cleaner", Path(project_dir) / "logs", verbose)
    try:
        config = CleanerConfig(
            stream=StreamConfig(
                Path(data_dir), ifo, strain_channel, state_channel,
                tuple(witness_channels), frame_timeout,
                max_consecutive_drops=max_consecutive_drops,
                start_timeout=start_timeout,
            ),
            preprocess=PreprocessConfig(
                sample_rate, resample_context_length, drop_lookahead_length,
                drop_taper_length, ready_mask,
            ),
            client=ClientConfig(
                triton_grpc_url, model_name, inference_timeout,
                retry_max_length=retry_max_length,
            ),
            window=WindowConfig(
                sample_rate, inference_window_length,
                prediction_edge_length, drop_taper_length,
            ),
            filter=FilterConfig(
                sample_rate, freq_low, freq_high, filter_order,
                filter_memory_length, filter_pad_length,
                filter_extrapolation_order,
            ),
            gate=GateConfig(
                sample_rate, freq_low, freq_high, gate_length,
                gate_lookahead_length, gate_threshold, gate_hysteresis,
            ),
            writer=WriterConfig(Path(project_dir) / "carousel", ifo),
        )  # fmt: skip
        stream, client = build(config)
    except (ConfigError, TimeoutError):
        logger.exception("cannot start")
        return 2
    metrics.serve_metrics(metrics_port)
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        stream.run(stop)
    except TimeoutError:
        logger.exception("no raw frames")
        return 1
    finally:
        client.close()
    return 0
