"""Entry point of the monitor: ``monitor --typeo pyproject.toml:monitor``.

Validates the canary on the cleaned frames and asks the exporter to promote
it, keeps the carousel bounded, archives longer stretches and serves a
status page and Prometheus metrics. SIGTERM/SIGINT stop it cleanly.
"""

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

from hermes.typeo import typeo
from utils.errors import ConfigError
from utils.logging import configure_logging

from monitor.config import (
    ArchiveConfig,
    CarouselConfig,
    MonitorConfig,
    PromotionConfig,
    Settings,
    StatusConfig,
    ValidationConfig,
)
from monitor.monitor import Monitor

logger = logging.getLogger("monitor")


@typeo
def main(
    ifo: str,
    project_dir: Path,
    exporter_url: str = "http://127.0.0.1:5000",
    archive_dir: Optional[Path] = None,
    window_length: int = 100,
    ratio_threshold: float = 1.0,
    freq_low: float = 58.0,
    freq_high: float = 62.0,
    fftlength: float = 2.0,
    overlap: float = 1.0,
    max_frames: int = 300,
    archive_length: int = 1000,
    archive_compress: bool = False,
    missing_timeout: float = 5.0,
    poll_interval: float = 0.5,
    promotion_timeout: float = 5.0,
    promotion_retry_interval: float = 30.0,
    archive_retry_interval: float = 60.0,
    max_spool_length: int = 21600,
    status_interval: float = 15.0,
    status_port: int = 8010,
    history_length: int = 3600,
    psd_length: int = 64,
    metrics_port: int = 9104,
    run_length: float = 0.0,
    verbose: bool = False,
) -> int:
    """Validate and promote canaries, prune the carousel, archive, report.

    Args:
        ifo:
            Interferometer, e.g. L1.
        project_dir:
            DeepClean project folder (carousel/, archive/, monitor/, logs/).
        exporter_url:
            Base URL of the exporter API.
        archive_dir:
            Cold storage folder; default $ARCHIVE_DIR, else
            PROJECT_DIR/archive.
        window_length:
            Seconds cleaned by one canary version that make its validation
            window (the one value used everywhere).
        ratio_threshold:
            Promote when the window's CANARY/RAW ASD ratio is below it.
        freq_low:
            Low edge of the validation band, Hz.
        freq_high:
            High edge of the validation band, Hz.
        fftlength:
            Welch segment of the validation ASDs, s.
        overlap:
            Welch overlap of the validation ASDs, s.
        max_frames:
            Carousel bound (frames).
        archive_length:
            Seconds per archived stretch (stretches end early at gaps).
        archive_compress:
            Gzip the archived frames.
        missing_timeout:
            Seconds a skipped second may stay missing before it is a gap.
        poll_interval:
            Seconds between ticks of the loop.
        promotion_timeout:
            Seconds per HTTP request to the exporter.
        promotion_retry_interval:
            Seconds before retrying a failed promotion.
        archive_retry_interval:
            Seconds before retrying a failed archive write.
        max_spool_length:
            Seconds of frames kept in the spool while the archive fails.
        status_interval:
            Seconds between status page renders.
        status_port:
            Port of the status page on 127.0.0.1; 0 disables.
        history_length:
            Seconds of history on the status page.
        psd_length:
            Seconds of newest data in the status page spectra.
        metrics_port:
            Prometheus port on 127.0.0.1; 0 disables.
        run_length:
            Stop after this many seconds; 0 runs until SIGTERM.
        verbose:
            Log every frame (DEBUG).
    """
    project_dir = Path(project_dir)
    configure_logging("monitor", project_dir / "logs", verbose)
    token = os.environ.get("DEEPCLEAN_API_TOKEN", "")
    if archive_dir is None:
        archive_dir = Path(
            os.environ.get("ARCHIVE_DIR") or project_dir / "archive"
        )
    state_dir = project_dir / "monitor"
    # same filesystem as the carousel (hard links), whatever ARCHIVE_DIR is
    spool_dir = project_dir / "archive" / ".spool"
    try:
        settings = Settings(
            monitor=MonitorConfig(ifo, state_dir / "state.json",
                                  poll_interval, missing_timeout,
                                  metrics_port=metrics_port),
            validation=ValidationConfig(window_length, ratio_threshold,
                                        freq_low, freq_high, fftlength,
                                        overlap),
            promotion=PromotionConfig(
                exporter_url, token, promotion_timeout,
                retry_interval=promotion_retry_interval),
            carousel=CarouselConfig(
                ifo, project_dir / "carousel", spool_dir,
                max_frames, max_spool_length=max_spool_length),
            archive=ArchiveConfig(ifo, Path(archive_dir), archive_length,
                                  archive_compress, archive_retry_interval),
            status=StatusConfig(state_dir / "status", status_interval,
                                status_port, history_length, psd_length,
                                min(32, psd_length)),
        )  # fmt: skip
    except ConfigError:
        logger.exception("bad configuration")
        return 2
    return run(settings, run_length)


def run(settings: Settings, run_length: float = 0.0) -> int:
    """Run the monitor until SIGTERM/SIGINT or ``run_length`` seconds."""
    stop = threading.Event()

    def on_signal(number: int, _frame: object) -> None:
        logger.info("signal %d: stopping", number)
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, on_signal)
    try:
        monitor = Monitor(settings)
    except OSError:  # a port in use, an unwritable project folder
        logger.exception("cannot start the monitor")
        return 1
    with monitor:
        monitor.run(stop, run_length)
    return 0


if __name__ == "__main__":
    sys.exit(main())
