"""The run-folder contract: ``$PROJECT_DIR/train/<gpsstart>-<gpsstop>/``.

The trainer writes one folder per training run, ``DONE`` last; the exporter
reads a finished one (docs/architecture.md, section ``$PROJECT_DIR``). Both
build and parse run names here, so the two agree on what a run is:

- a name is ``<gpsstart>-<gpsstop>``: two whole GPS seconds of 1 to 10
  ASCII digits, start before stop (``1400000000-1400004096``);
- :data:`DONE_FILE` is written last: a folder without it is unfinished;
- :data:`VERIFY_FILE` holds the witnesses the exporter checks its export
  on (key ``witness``, float32, ``(num_witnesses, size)``).
"""

from __future__ import annotations

import re
from pathlib import Path

TRAIN_FOLDER = "train"  # under $PROJECT_DIR
DONE_FILE = "DONE"
VERIFY_FILE = "verify.npz"
MAX_GPS_DIGITS = 10  # GPS seconds stay below 10**10 until the year 2296
_RUN_NAME = re.compile(r"([0-9]{1,10})-([0-9]{1,10})")


def train_dir(project_dir: Path) -> Path:
    """The folder of every run: ``project_dir/train``."""
    return Path(project_dir) / TRAIN_FOLDER


def run_name(gps_start: int, gps_stop: int) -> str:
    """``<gpsstart>-<gpsstop>`` of a run of ``[gps_start, gps_stop)``.

    Raises:
        ValueError: not whole, negative, start not before stop, or more
            than :data:`MAX_GPS_DIGITS` digits.
    """
    start, stop = int(gps_start), int(gps_stop)
    if (start, stop) != (gps_start, gps_stop) or not 0 <= start < stop:
        raise ValueError(
            f"a run spans whole GPS seconds, start before "
            f"stop: got {gps_start!r}-{gps_stop!r}"
        )
    if stop >= 10**MAX_GPS_DIGITS:
        raise ValueError(f"GPS {stop} has more than {MAX_GPS_DIGITS} digits")
    return f"{start}-{stop}"


def parse_run_name(name: str) -> tuple[int, int] | None:
    """``(gps_start, gps_stop)`` of a run name; None if ``name`` is not
    one (another pattern, a path, or start not before stop)."""
    match = _RUN_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        return None
    start, stop = int(match[1]), int(match[2])
    return (start, stop) if start < stop else None
