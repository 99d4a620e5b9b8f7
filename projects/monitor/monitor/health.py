"""The pipeline's health as one verdict, for LIGO's service monitoring.

LIGO watches its automated services through Nagios and its dashboard,
which read a JSON status packet from each service (the format
``gwdetchar.nagios`` writes)::

    {"created_gps": 1400000000,
     "status_intervals": [
        {"start_sec": 0, "num_status": 0,
         "txt_status": "L1 DeepClean OK: ..."},
        {"start_sec": 120, "num_status": 3,
         "txt_status": "L1 DeepClean UNKNOWN: ... not updated ..."}]}

``num_status`` is Nagios's: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; an
interval holds from ``start_sec`` seconds after ``created_gps`` on. The
monitor writes it as ``nagios.json`` beside the status page (served with
it) at every render: the verdict now, then UNKNOWN after ``timeout`` s, so
that a monitor that stopped writing it is reported too.

The verdict (:func:`judge`) is the worst of what it finds, each named in
the text, worst first:

- CRITICAL: the newest cleaned frame in the carousel ended more than
  ``frame_age`` s ago, or there is none: the product is not being
  written (the cleaner stopped, or its raw input did: seconds without
  input before it are named too).
- WARNING: no second processed yet; or, over the newest
  ``window_length`` processed seconds, seconds missing from the
  carousel; seconds without raw input (INPUT_OK off);
  no production model (OUT_DQ is the raw strain); the OUT_DQ gate open
  less than ``gate_open_min`` of the time while a model is live;
  production stale, or adding power outside the band (the production
  watch); the exporter unreachable (cleaning goes on; promotions wait).
- OK otherwise, with the live version, how long the gate was open and the
  newest frame's age.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable, Sequence

from monitor.history import SecondRecord
from utils.errors import ConfigError

FILE = "nagios.json"  # in the status page's folder
MAX_TEXT = 200  # characters of a reason quoted from elsewhere (an error)


class Status(IntEnum):
    """Nagios's codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class HealthConfig:
    """What the verdict judges.

    Attributes:
        ifo: interferometer (named in every text).
        window_length: s of the newest processed seconds judged.
        frame_age: s after its end that the newest cleaned frame may be
            before the verdict is CRITICAL.
        gate_open_min: fraction of the window the OUT_DQ gate must be fully
            open while a production model is live, else WARNING.
        timeout: s after the packet's creation that it reads UNKNOWN.
    """

    ifo: str
    window_length: int
    frame_age: float
    gate_open_min: float
    timeout: float

    def __post_init__(self) -> None:
        if not self.window_length >= 1:
            raise ConfigError(f"window_length {self.window_length}: >= 1 s")
        if not self.frame_age > 0:
            raise ConfigError(f"frame_age {self.frame_age}: > 0 s")
        if not 0 <= self.gate_open_min <= 1:
            raise ConfigError(f"gate_open_min {self.gate_open_min}: [0, 1]")
        if not self.timeout > 0:
            raise ConfigError(f"timeout {self.timeout}: > 0 s")


@dataclass(frozen=True)
class Watched:
    """What the monitor knows besides the per-second history.

    Attributes:
        newest_frame: GPS of the newest frame in the carousel (None: none).
        gaps: ``[start, stop)`` of seconds missing from the carousel.
        exporter_error: why the exporter could not be asked (None: it
            answered).
        stale: the production watch finds production stale.
        harmful: ... or adding power outside the band.
    """

    newest_frame: int | None
    gaps: Sequence[tuple[int, int]] = ()
    exporter_error: str | None = None
    stale: bool = False
    harmful: bool = False


@dataclass(frozen=True)
class Health:
    """A verdict: its status and the text that says why."""

    status: Status
    text: str

    def packet(self, created_gps: float, config: HealthConfig) -> dict:
        """The JSON status packet, created at ``created_gps``."""
        unknown = (
            f"{config.ifo} DeepClean UNKNOWN: the monitor has not updated "
            f"this status for {config.timeout:g} s (is it running?)"
        )
        return {
            "created_gps": int(created_gps),
            "status_intervals": [
                {
                    "start_sec": 0,
                    "num_status": int(self.status),
                    "txt_status": self.text,
                },
                {
                    "start_sec": int(round(config.timeout)),
                    "num_status": int(Status.UNKNOWN),
                    "txt_status": unknown,
                },
            ],
        }


def _missing(gaps: Iterable[tuple[int, int]], start: int, stop: int) -> int:
    """Seconds of ``gaps`` within ``[start, stop)``."""
    return sum(
        max(0, min(b, stop) - max(a, start)) for a, b in gaps if b > start
    )


def _gate(fraction: float, live: int, window: int) -> str:
    """How long the gate was open, of the seconds with a model."""
    where = (
        f"the last {window} s"
        if live == window
        else f"the {live} s with a model of the last {window} s"
    )
    return f"OUT_DQ gate open {100 * fraction:.0f} % of {where}"


def judge(
    config: HealthConfig,
    now_gps: float,
    records: Sequence[SecondRecord],
    watched: Watched,
) -> Health:
    """The verdict now (see the module docstring).

    Args:
        now_gps: the GPS time now.
        records: the processed seconds, oldest first (the history).
        watched: what the monitor knows besides them.
    """
    problems: list[tuple[Status, str]] = []
    age = None
    if watched.newest_frame is None:
        problems.append((Status.CRITICAL, "no cleaned frame in the carousel"))
    else:
        age = now_gps - (watched.newest_frame + 1)
        if age > config.frame_age:
            problems.append(
                (
                    Status.CRITICAL,
                    f"no cleaned frame for {age:.0f} s (newest GPS "
                    f"{watched.newest_frame})",
                )
            )
    window = []
    if not records:
        problems.append((Status.WARNING, "no second processed yet"))
    else:
        stop = records[-1].gps + 1
        start = stop - config.window_length
        window = [r for r in records if r.gps >= start]
        missing = _missing(watched.gaps, start, stop)
        if missing:
            problems.append(
                (
                    Status.WARNING,
                    f"{missing} s missing from the carousel in the last "
                    f"{config.window_length} s",
                )
            )
    span = f"the last {len(window)} s"
    dropped = sum(not r.input_ok for r in window)
    if dropped:
        problems.append(
            (Status.WARNING, f"{dropped} of {span} without raw input")
        )
    live = [r for r in window if r.production_version]
    open_fraction = (
        sum(r.out_dq_on for r in live) / len(live) if live else None
    )
    if window and not window[-1].production_version:
        problems.append(
            (
                Status.WARNING,
                "no production model: OUT_DQ is the raw strain",
            )
        )
    elif open_fraction is not None and open_fraction < config.gate_open_min:
        gate = _gate(open_fraction, len(live), len(window))
        problems.append((Status.WARNING, f"{gate} (raw strain otherwise)"))
    version = window[-1].production_version if window else None
    if watched.stale:
        problems.append(
            (Status.WARNING, f"production v{version} stale; retraining asked")
        )
    if watched.harmful:
        problems.append(
            (
                Status.WARNING,
                f"production v{version} adds power outside the band",
            )
        )
    if watched.exporter_error is not None:
        reason = watched.exporter_error[:MAX_TEXT] or "no answer"
        problems.append((Status.WARNING, f"exporter unreachable: {reason}"))
    if not problems:
        gate = (
            ""
            if open_fraction is None
            else ", " + _gate(open_fraction, len(live), len(window))
        )
        return Health(
            Status.OK,
            f"{config.ifo} DeepClean OK: production v{version}{gate}, "
            f"newest frame {age:.0f} s old",
        )
    problems.sort(key=lambda p: -p[0])
    status = problems[0][0]
    reasons = "; ".join(text for _, text in problems)
    return Health(status, f"{config.ifo} DeepClean {status.name}: {reasons}")
