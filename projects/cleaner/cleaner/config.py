"""The cleaner's settings, read from ``[tool.typeo.scripts.cleaner]`` of the
root ``pyproject.toml`` (embedded CPU default), with the profiles
``cleaner-low-latency`` and ``cleaner-production`` laid over it
(:func:`utils.config.parse_settings`).

:class:`CleanerSettings` is the typed, documented entry point (its ``Args:``
are ``cleaner --help``); it validates every value at start-up, checks the
contracts of :mod:`utils.contracts`, and builds each component's frozen
sub-config by keyword. No ``from __future__ import annotations`` here:
typeo reads the real annotation objects.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping

from cleaner.cleaning import WindowConfig
from cleaner.client import ClientConfig
from cleaner.gate import GateConfig
from cleaner.postprocess import FilterConfig
from cleaner.service import CleanerConfig
from cleaner.tracking import TrackingConfig
from cleaner.writer import WriterConfig
from utils.config import companion_values
from utils.contracts import check_output_rate
from utils.contracts import check_window_fits_scheme
from utils.errors import ConfigError
from utils.fields import BandFields
from utils.fields import ChannelFields
from utils.fields import PreprocessFields
from utils.fields import ProjectFields
from utils.fields import StreamFields
from utils.fields import documented
from utils.follower import StreamConfig
from utils.inference import SIZE_MULTIPLE
from utils.inference import Scheme
from utils.settings import check_rules
from utils.settings import check_sub_configs
from utils.settings import convert_fields
from utils.settings import port_rule
from utils.settings import sub_config
from utils.settings import subband_rules

# the exporter's settings of the same profile (run.sh: one file, one
# profile for every service): their keys -> fields of utils.inference.Scheme
EXPORTER_SECTION = "exporter"
SCHEME_KEYS = {
    "scheme": "name",
    "sample_rate": "sample_rate",
    "kernel_length": "kernel_length",
    "inference_sampling_rate": "inference_sampling_rate",
    "aggregation_length": "aggregation_length",
}


@documented
@dataclass(frozen=True)
class CleanerSettings(
    PreprocessFields, StreamFields, BandFields, ChannelFields, ProjectFields
):
    """Clean low-latency strain with DeepClean, one frame per second.

    Args:
        project_dir:
            DeepClean project folder (carousel/, logs/).
        data_dir:
            Root of the raw frames (kafka/IFO, lldetchar/IFO).
        triton_grpc_url:
            Triton gRPC address, host:port.
        sample_rate:
            Hz everything is resampled to; the output frames' rate.
        inference_timeout:
            Seconds one Triton call may take.
        retry_min_length:
            Seconds before the first Triton retry after a failure.
        retry_max_length:
            Longest back-off between Triton retries (doubling), s.
        inference_window_length:
            W, seconds of witnesses per request.
        prediction_edge_length:
            E, seconds at the window end not trusted.
        filter_memory_length:
            P, seconds of past prediction filtered.
        filter_pad_length:
            F, seconds of future prediction filtered; ceil(E + F) seconds
            of latency.
        filter_extrapolation_order:
            AR lags extending the prediction before filtering (0: off).
        subband_edges:
            Hz where the band is split into the sub-bands the OUT_DQ gate
            judges one by one (besides the whole band).
        gate_length:
            Seconds of the OUT_DQ gate's ASD-ratio buffer.
        gate_lookahead_length:
            Seconds after the written one in it.
        gate_threshold:
            The band's ASD ratio (PRODUCTION / RAW) above which OUT_DQ is
            raw strain (1: never worse than raw).
        gate_hysteresis:
            How far below gate_threshold that ratio must fall for a closed
            gate to reopen (calm near the threshold).
        gate_margin:
            How far above gate_threshold a sub-band's ratio, or one
            second's alone, may measure before OUT_DQ is raw strain (a
            sub-band with nothing coupled in it measures 1 within the
            estimate's noise).
        gate_fftlength:
            Welch segment of the gate's ASDs, s (the validation's too).
        gate_overlap:
            Welch overlap of the gate's ASDs, s.
        gate_transition_length:
            Seconds OUT_DQ takes to open, or to close for a sub-band's
            ratio, along a raised cosine (a subtraction of the line
            stopped or started within one second leaks it over +-1 Hz);
            a close that cannot wait takes one second.
        tracking_length:
            Seconds of the past on which the size and phase of each
            model's line and sidebands are fitted between trainings (a
            drifting coupling); 0: no tracking.
        tracking_min_length:
            Fewest seconds of a model version before its first fit.
        tracking_min_improvement:
            Fraction of the residual's in-band power a fit must remove to
            be used (a model of nothing on clean data is left alone).
        tracking_max_gain:
            Largest gain a fit may give the line or the sidebands.
        tracking_line_width:
            Hz around the band's centre tracked as the line, apart from
            the sidebands; 0: one gain for the whole band.
        tracking_margin_min_improvement:
            Fraction of the strain's power in the band's margins
            (filter_margin) a fit of the prediction's margins must remove
            for them to be subtracted at all.
        max_backlog:
            Frames held back while the carousel cannot be written (the
            carousel's bound, the monitor's max_frames); past it the
            oldest is lost.
        metrics_port:
            Prometheus port on 127.0.0.1; 0 disables.
        verbose:
            Log every frame (DEBUG).
    """

    data_dir: Path
    triton_grpc_url: str
    inference_timeout: float
    retry_min_length: float
    retry_max_length: float
    inference_window_length: float
    prediction_edge_length: float
    filter_memory_length: float
    filter_pad_length: float
    filter_extrapolation_order: int
    subband_edges: List[float]
    gate_length: int
    gate_lookahead_length: int
    gate_threshold: float
    gate_hysteresis: float
    gate_margin: float
    gate_fftlength: float
    gate_overlap: float
    gate_transition_length: int
    tracking_length: int
    tracking_min_length: int
    tracking_min_improvement: float
    tracking_max_gain: float
    tracking_line_width: float
    tracking_margin_min_improvement: float
    max_backlog: int
    metrics_port: int
    verbose: bool = False

    def __post_init__(self) -> None:
        convert_fields(self)
        check_output_rate(self.sample_rate)
        check_rules(self, self._rules())
        check_sub_configs("cleaner settings", self.cleaner_config)

    def _rules(self) -> list[tuple[str, bool, str]]:
        """(setting, whether its rule holds, the rule), in checking order."""
        fs = self.sample_rate
        window = self.inference_window_length
        edge = self.prediction_edge_length
        memory, pad = self.filter_memory_length, self.filter_pad_length
        lookahead, retry = self.gate_lookahead_length, self.retry_min_length
        return [
            *self.channel_rules(),
            *self.band_rules(),
            *subband_rules(self),
            *self.stream_rules(),
            *self.preprocess_rules(),
            (
                "inference_timeout",
                0 < self.inference_timeout <= 1,
                "in (0, 1] s, so a call never holds up the per-second loop",
            ),
            (
                "retry_min_length",
                0 < retry <= self.retry_max_length,
                f"in (0, retry_max_length={self.retry_max_length!r}] s",
            ),
            (
                "inference_window_length",
                window > 0 and window * fs % SIZE_MULTIPLE == 0,
                f"a positive multiple of {SIZE_MULTIPLE} samples at "
                f"sample_rate={fs}",
            ),
            (
                "prediction_edge_length",
                edge * fs % 1 == 0 and 0 < edge <= window - 1,
                "whole samples, 0 < it <= "
                f"inference_window_length - 1 = {window - 1:g} s",
            ),
            (
                "filter_memory_length",
                memory * fs % 1 == 0 and memory >= 0,
                "whole samples, >= 0 s",
            ),
            (
                "filter_pad_length",
                pad * fs % 1 == 0 and pad >= 0,
                "whole samples, >= 0 s",
            ),
            (
                "filter_extrapolation_order",
                self.filter_extrapolation_order >= 0,
                ">= 0",
            ),
            ("gate_length", self.gate_length > 0, "> 0 s"),
            (
                "gate_lookahead_length",
                0 <= lookahead < self.gate_length,
                f"0 <= it < gate_length={self.gate_length!r}",
            ),
            ("gate_threshold", self.gate_threshold > 0, "> 0"),
            ("gate_hysteresis", self.gate_hysteresis >= 0, ">= 0"),
            ("gate_margin", self.gate_margin >= 0, ">= 0"),
            (
                "gate_transition_length",
                self.gate_transition_length >= 1,
                ">= 1 s",
            ),
            ("max_backlog", self.max_backlog >= 1, ">= 1"),
            port_rule("metrics_port", self.metrics_port),
        ]

    def check_scheme(self, scheme: Scheme) -> None:
        """The window and edge fit the exporter's inference scheme.

        Raises:
            ConfigError: they do not (:mod:`utils.contracts`).
        """
        check_window_fits_scheme(
            self.inference_window_length,
            self.prediction_edge_length,
            self.sample_rate,
            scheme,
        )

    def stream_config(self) -> StreamConfig:
        witnesses = tuple(self.witness_channels)
        return sub_config(StreamConfig, self, witness_channels=witnesses)

    def client_config(self) -> ClientConfig:
        return sub_config(
            ClientConfig,
            self,
            url=self.triton_grpc_url,
            timeout=self.inference_timeout,
        )

    def window_config(self) -> WindowConfig:
        return WindowConfig(
            sample_rate=self.sample_rate,
            window_length=self.inference_window_length,
            edge_length=self.prediction_edge_length,
            taper_length=self.drop_taper_length,
        )

    def filter_config(self) -> FilterConfig:
        return sub_config(FilterConfig, self, prefix="filter_")

    def gate_config(self) -> GateConfig:
        edges = tuple(self.subband_edges)
        return sub_config(
            GateConfig, self, prefix="gate_", subband_edges=edges
        )

    def tracking_config(self) -> TrackingConfig:
        return sub_config(
            TrackingConfig, self, prefix="tracking_", margin=self.filter_margin
        )

    def writer_config(self) -> WriterConfig:
        return sub_config(WriterConfig, self, directory=self.carousel_dir)

    def cleaner_config(self) -> CleanerConfig:
        """Every component's sub-config, for :func:`cleaner.service.build`."""
        return CleanerConfig(
            stream=self.stream_config(),
            preprocess=self.preprocess_config(),
            client=self.client_config(),
            window=self.window_config(),
            filter=self.filter_config(),
            gate=self.gate_config(),
            tracking=self.tracking_config(),
            writer=self.writer_config(),
        )


def exporter_scheme(
    argv: List[str], environ: Mapping[str, str] | None = None
) -> Scheme | None:
    """The inference scheme of the exporter that goes with ``argv``'s
    ``--typeo FILE:SECTION``: section ``exporter-<profile>`` of the same
    file for ``cleaner-<profile>`` if there is one, else ``exporter``.

    Returns:
        None without ``--typeo`` or an exporter section in the file.

    Raises:
        ConfigError: the exporter section lacks a key of the scheme (its
            code defaults would stand in unnoticed) or names an
            impossible one.
    """
    found = companion_values(
        argv, "cleaner", EXPORTER_SECTION, list(SCHEME_KEYS), environ
    )
    if found is None:
        return None
    path, name, values = found
    kwargs = {SCHEME_KEYS[k]: v for k, v in values.items()}
    try:
        return Scheme(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{name}] of {path}: {exc}") from exc
