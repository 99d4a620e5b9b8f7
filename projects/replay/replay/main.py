"""Entry point of the embedded frame source: ``replay --typeo
pyproject.toml:replay``.

Writes LIGO-like low-latency frames into ``$DATA_DIR`` when no real ones
are there: ``simulate`` makes them (:mod:`replay.simulate`), ``replay`` plays
a recording (:mod:`replay.playback`). SIGTERM/SIGINT stop it cleanly.
"""

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import List, Literal, Optional

from hermes.typeo import typeo
from utils.errors import ConfigError
from utils.logging import configure_logging
from utils.simulation import Fault, SimulationConfig

from replay.config import (
    PaceConfig,
    PlaybackConfig,
    SimulateConfig,
    parse_faults,
)
from replay.metrics import SourceMetrics
from replay.playback import Playback
from replay.simulate import SimulationSource

logger = logging.getLogger("replay")


@typeo
def main(
    data_dir: Path,
    project_dir: Path,
    ifo: str,
    mode: Literal["simulate", "replay"] = "simulate",
    witness_channels: Optional[List[str]] = None,
    strain_channel: Optional[str] = None,
    state_channel: Optional[str] = None,
    seed: int = 0,
    speed: float = 1.0,
    start_gps: int = 0,
    duration: int = 0,
    prefill_length: int = 300,
    keep_length: int = 600,
    max_lag_length: float = 60.0,
    faults: Optional[List[str]] = None,
    fault_rate: float = 0.0,
    fault_kinds: Optional[List[str]] = None,
    late_delay: float = 1.5,
    source_dir: Optional[Path] = None,
    restamp: bool = True,
    loop: bool = False,
    metrics_port: int = 9105,
    verbose: bool = False,
) -> int:
    """Write low-latency frames into DATA_DIR, simulated or replayed.

    Args:
        data_dir:
            Output root: kafka/IFO (strain), lldetchar/IFO (witnesses) and
            truth/IFO (simulated coupled noise, for evaluation only).
        project_dir:
            DeepClean project folder; the log goes to its logs/replay.log.
        ifo:
            Interferometer, e.g. L1.
        mode:
            simulate: make frames; replay: play the frames in source_dir.
        witness_channels:
            Full witness channel names to simulate (default: production).
        strain_channel:
            Full strain channel name (default IFO:GDS-CALIB_STRAIN).
        state_channel:
            Full state-vector channel (default IFO:GDS-CALIB_STATE_VECTOR).
        seed:
            Simulation seed; the data are a function of it and GPS time.
        speed:
            Seconds of data written per wall-clock second (1: real time).
        start_gps:
            GPS of the first live second; 0: the current GPS second.
        duration:
            Live seconds to write before exiting; 0: until SIGTERM.
        prefill_length:
            simulate: seconds of past data written at once at start-up.
        keep_length:
            Seconds of frames kept in each folder (LIGO shared memory keeps
            a few hundred); 0 keeps everything.
        max_lag_length:
            Wall seconds behind schedule after which overdue seconds are
            skipped (a gap); 0 never skips.
        faults:
            simulate: scheduled faults, kind:offset or kind:start-stop with
            offsets in s from the first live second, e.g. drop:120.
        fault_rate:
            simulate: probability of a random fault in any other second.
        fault_kinds:
            simulate: the kinds drawn at fault_rate (default drop, late).
        late_delay:
            simulate: seconds a late frame is held back.
        source_dir:
            replay: recorded frames laid out like data_dir.
        restamp:
            replay: rewrite frames with new GPS times starting now.
        loop:
            replay: start again at the end of the recording.
        metrics_port:
            Prometheus port on 127.0.0.1; 0 disables.
        verbose:
            Log every frame (DEBUG).
    """
    configure_logging("replay", Path(project_dir) / "logs", verbose)
    try:
        pace = PaceConfig(
            speed, start_gps, duration, keep_length, max_lag_length
        )
        if mode == "simulate":
            simulation = SimulationConfig(
                ifo=ifo,
                witness_channels=tuple(witness_channels or ()),
                seed=seed,
                strain_channel=strain_channel or "",
                state_channel=state_channel or "",
            )
            kinds = tuple(Fault(k) for k in fault_kinds or ("drop", "late"))
            config = SimulateConfig(
                Path(data_dir), simulation, pace, prefill_length,
                parse_faults(faults or ()), fault_rate, kinds, late_delay,
            )  # fmt: skip
        else:
            if source_dir is None:
                raise ConfigError("mode replay needs source_dir")
            config = PlaybackConfig(
                Path(source_dir), Path(data_dir), ifo, pace, restamp, loop
            )
    except (ConfigError, ValueError):
        logger.exception("bad configuration")
        return 2
    return run(config, metrics_port)


def run(config: SimulateConfig | PlaybackConfig, metrics_port: int) -> int:
    """Run one mode until it ends or SIGTERM/SIGINT. Returns an exit code."""
    stop = threading.Event()

    def on_signal(number: int, _frame: object) -> None:
        logger.info("signal %d: stopping", number)
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, on_signal)
    metrics = SourceMetrics(metrics_port)
    try:
        if isinstance(config, SimulateConfig):
            SimulationSource(config, stop, metrics).run()
        else:
            Playback(config, stop, metrics).run()
    except ConfigError:
        logger.exception("bad configuration")
        return 2
    finally:
        metrics.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
