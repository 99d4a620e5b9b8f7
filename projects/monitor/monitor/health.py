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

The file is what to publish: LIGO's dashboard reads such packets over
HTTPS from a site's web server, so copy or serve the status folder there.
Read from the file, a monitor that died turns UNKNOWN after ``timeout``;
the monitor's own page server (loopback) dies with it.

The verdict (:func:`judge`) is the worst of what it finds, each named in
the text, worst first:

- CRITICAL: the newest cleaned frame in the carousel was written more
  than ``frame_age`` s ago (its mtime), or there is none once the monitor
  has run that long: the product is not being written; every second of
  the window missing or unreadable; or none with raw input (a dropped
  second is written as zeros).
- WARNING: no frame or no second processed yet; the monitor more than
  ``frame_age`` s of frames behind the carousel; over the newest
  ``window_length`` processed seconds (up to the cursor, back to the
  first the history holds), seconds missing or unreadable, seconds
  without raw input; the newest second with input carrying no model:
  none is in production (OUT_DQ is the raw strain), or the exporter's
  production has not reached the frames ``PROMOTION_LAG`` s after the
  monitor first saw it, or the exporter is silent and earlier seconds had
  one (Triton down?); the OUT_DQ gate open less than ``gate_open_min`` of
  the seconds with a model, once they are half of ``window_length`` (the
  gate takes ~12 s to open after a start or a first promotion);
  production stale, or adding power outside the band (the production
  watch); the exporter not answering (cleaning goes on; promotions wait).
- OK otherwise, with the live version, how long the gate was open and
  when the newest frame was written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Sequence

from monitor.history import SecondRecord
from utils.errors import ConfigError
from utils.logging import escape_controls

FILE = "nagios.json"  # in the status page's folder
MAX_TEXT = 200  # characters of a reason quoted from elsewhere (an error)
# s the frames may lag a promotion before "not applied" (the cleaner's
# latency, a model's load in Triton)
PROMOTION_LAG = 10


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
        frame_age: s since the newest cleaned frame was written (its
            mtime) before the verdict is CRITICAL.
        gate_open_min: fraction of the window's seconds with a production
            model that the OUT_DQ gate must be fully open, else WARNING.
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
        if not self.timeout >= 1:
            raise ConfigError(f"timeout {self.timeout}: >= 1 s")


@dataclass(frozen=True)
class Watched:
    """What the monitor knows besides the per-second records.

    Attributes:
        newest_frame: GPS of the newest frame in the carousel (None: none).
        newest_written: when that frame was written (its mtime, Unix s).
        cursor: the next second the monitor processes: every second before
            it is a record, or was missing or unreadable (None: none yet).
        since: the first second the history holds (a record or a gap).
        uptime: s the monitor has run (no frame yet is CRITICAL only
            after ``frame_age`` of it).
        production: the exporter's production version (None: it did not
            answer).
        production_from: the cursor when the monitor first saw that
            production: the seconds from it on should carry it.
        exporter_error: why the exporter did not answer.
        stale: the production watch finds production stale.
        harmful: ... or adding power outside the band.
    """

    newest_frame: int | None
    newest_written: float | None
    cursor: int | None
    since: int | None
    uptime: float = 0.0
    production: int | None = None
    production_from: int | None = None
    exporter_error: str = ""
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
                    "start_sec": math.ceil(config.timeout),
                    "num_status": int(Status.UNKNOWN),
                    "txt_status": unknown,
                },
            ],
        }


def _gate(fraction: float, live: int, span: int) -> str:
    """How long the gate was open, of the seconds with a model."""
    where = (
        f"the last {span} s"
        if live == span
        else f"the {live} s with a model of the last {span} s"
    )
    return f"OUT_DQ gate open {100 * fraction:.0f} % of {where}"


def _quoted(text: str) -> str:
    """An error's text on one line, controls escaped, its end kept (where
    "Connection refused" is)."""
    text = escape_controls(" ".join(text.split()))
    return text if len(text) <= MAX_TEXT else "..." + text[-MAX_TEXT:]


def _frames(
    config: HealthConfig, now: float, watched: Watched
) -> tuple[list[tuple[Status, str]], float | None]:
    """Is the product written, and is the monitor keeping up with it?"""
    if watched.newest_frame is None or watched.newest_written is None:
        late = watched.uptime > config.frame_age
        status = Status.CRITICAL if late else Status.WARNING
        return [(status, "no cleaned frame in the carousel")], None
    problems = []
    age = max(0.0, now - watched.newest_written)
    if age > config.frame_age:
        problems.append(
            (
                Status.CRITICAL,
                f"no cleaned frame written for {age:.0f} s (newest: GPS "
                f"{watched.newest_frame})",
            )
        )
    if watched.cursor is not None:
        behind = watched.newest_frame + 1 - watched.cursor
        if behind > config.frame_age:
            problems.append(
                (
                    Status.WARNING,
                    f"the monitor is {behind} s behind the carousel (what "
                    "follows is of older seconds)",
                )
            )
    return problems, age


def _window(
    config: HealthConfig, records: Sequence[SecondRecord], watched: Watched
) -> tuple[list[SecondRecord], int]:
    """The records of the newest ``window_length`` processed seconds (no
    earlier than the history reaches), and how many seconds that span
    holds (those without a record were missing or unreadable)."""
    if watched.since is None:
        return [], 0
    if watched.cursor is not None:
        stop = watched.cursor
    elif records:
        stop = records[-1].gps + 1
    else:
        return [], 0
    start = max(stop - config.window_length, watched.since)
    window = [r for r in records if start <= r.gps < stop]
    return window, max(0, stop - start)


def _seconds(
    window: list[SecondRecord], span: int
) -> list[tuple[Status, str]]:
    """Were the window's seconds there, readable, with their raw input?"""
    last = f"the last {span} s"
    missing = span - len(window)
    if not span:
        return [(Status.WARNING, "no second processed yet")]
    if not window:
        return [
            (
                Status.CRITICAL,
                f"every second of {last} missing from the carousel or "
                "unreadable",
            )
        ]
    problems = []
    if missing:
        problems.append(
            (
                Status.WARNING,
                f"{missing} of {last} missing from the carousel or unreadable",
            )
        )
    dropped = sum(not r.input_ok for r in window)
    if dropped == len(window):
        problems.append(
            (Status.CRITICAL, f"no raw input for {last}: OUT_DQ is zeros")
        )
    elif dropped:
        problems.append(
            (Status.WARNING, f"{dropped} of {last} without raw input")
        )
    return problems


def _unapplied(with_input: list[SecondRecord], since: int | None) -> int:
    """The newest seconds with input and no model, in a row, from
    ``since`` on (None: none counted)."""
    if since is None:
        return 0
    count = 0
    for record in reversed(with_input):
        if record.production_version or record.gps < since:
            break
        count += 1
    return count


def _model(
    config: HealthConfig,
    window: list[SecondRecord],
    span: int,
    watched: Watched,
) -> tuple[list[tuple[Status, str]], int | None, str]:
    """Is a production model cleaning OUT_DQ? Its problems, the version
    to name (the frames' newest, else the exporter's) and how long the
    gate was open (for the OK text)."""
    with_input = [r for r in window if r.input_ok]
    live = [r for r in window if r.production_version]
    newest = with_input[-1].production_version if with_input else None
    version = newest or (
        live[-1].production_version if live else watched.production
    )
    gate = ""
    problems = []
    if live:
        fraction = sum(r.out_dq_on for r in live) / len(live)
        gate = _gate(fraction, len(live), span)
        if (
            newest
            and 2 * len(live) >= config.window_length  # not just started
            and fraction < config.gate_open_min
        ):
            problems.append((Status.WARNING, f"{gate} (raw strain otherwise)"))
    if newest == 0:
        unapplied = _unapplied(with_input, watched.production_from)
        if watched.production and unapplied > PROMOTION_LAG:
            problems.append(
                (
                    Status.WARNING,
                    f"production v{watched.production} not applied for "
                    f"{unapplied} s: OUT_DQ is the raw strain (Triton "
                    "down?)",
                )
            )
        elif live and not watched.production:
            problems.append(
                (
                    Status.WARNING,
                    "the newest seconds carry no model: OUT_DQ is the raw "
                    "strain (Triton down?)",
                )
            )
        elif not watched.production:
            problems.append(
                (
                    Status.WARNING,
                    "no production model: OUT_DQ is the raw strain",
                )
            )
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
    return problems, version, gate


def judge(
    config: HealthConfig,
    now: float,
    records: Sequence[SecondRecord],
    watched: Watched,
) -> Health:
    """The verdict now (see the module docstring).

    Args:
        now: the time now (Unix s, as the frames' mtimes).
        records: the processed seconds, oldest first (the history).
        watched: what the monitor knows besides them.
    """
    problems, age = _frames(config, now, watched)
    window, span = _window(config, records, watched)
    problems += _seconds(window, span)
    found, version, gate = _model(config, window, span, watched)
    problems += found
    if watched.production is None:
        reason = _quoted(watched.exporter_error) or "no answer"
        problems.append(
            (Status.WARNING, f"the exporter did not answer: {reason}")
        )
    if not problems:
        return Health(
            Status.OK,
            f"{config.ifo} DeepClean OK: production v{version}"
            f"{', ' + gate if gate else ''}, newest frame written "
            f"{age:.0f} s ago",
        )
    problems.sort(key=lambda p: -p[0])
    status = problems[0][0]
    reasons = "; ".join(text for _, text in problems)
    return Health(status, f"{config.ifo} DeepClean {status.name}: {reasons}")
