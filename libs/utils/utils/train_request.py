"""The "train now" request: the monitor asks the trainer for a run on the
newest data, ahead of its cadence, when production no longer matches the
coupling (docs/architecture.md, section ``$PROJECT_DIR``).

One file, ``$PROJECT_DIR/requests/train-now.json``, written atomically by
the monitor: a JSON object with ``gps`` (the newest second the monitor
judged), ``production_version``, ``ratio`` (production's ASD ratio against
raw over its window), ``baseline`` (the ratio it was validated with) and
``reason`` (one line for the logs). The trainer takes it (reads and
removes it) when it next looks; a later request replaces an earlier one
that was not taken yet. A file is a claim, not a proof: one that is not
such an object is moved aside (``.bad-<time>``), logged, and ignored.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from utils.atomic import move_aside
from utils.atomic import write_json

logger = logging.getLogger(__name__)

REQUEST_FOLDER = "requests"  # under $PROJECT_DIR
REQUEST_FILE = "train-now.json"
MAX_REQUEST_BYTES = 4096
FIELDS = {
    "gps": int,
    "production_version": int,
    "ratio": float,
    "baseline": float,
    "reason": str,
}


def request_path(project_dir: Path) -> Path:
    """``project_dir/requests/train-now.json``."""
    return Path(project_dir) / REQUEST_FOLDER / REQUEST_FILE


def write_request(
    project_dir: Path,
    gps: int,
    production_version: int,
    ratio: float,
    baseline: float,
    reason: str,
) -> Path:
    """Ask for a run now (atomically; replaces a request not yet taken)."""
    path = request_path(project_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(
        path,
        {
            "gps": int(gps),
            "production_version": int(production_version),
            "ratio": float(ratio),
            "baseline": float(baseline),
            "reason": str(reason),
        },
    )


def take_request(project_dir: Path) -> dict | None:
    """The pending request, removed from disk; None when there is none or
    it is malformed (then moved aside and logged)."""
    path = request_path(project_dir)
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_REQUEST_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.error("cannot read the train-now request %s: %s", path, exc)
        return None
    request = _parse(raw)
    if request is None:
        aside = move_aside(path)
        logger.error(
            "ignoring %s: not a train-now request (a JSON object with %s, "
            "at most %d bytes); %s",
            path,
            ", ".join(FIELDS),
            MAX_REQUEST_BYTES,
            f"moved aside to {aside.name}" if aside else "left in place",
        )
        return None
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    return request


def _parse(raw: bytes) -> dict | None:
    if len(raw) > MAX_REQUEST_BYTES:
        return None
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    out = {}
    for name, kind in FIELDS.items():
        value = obj.get(name)
        if isinstance(value, bool) or not isinstance(
            value, (int, float) if kind is float else kind
        ):
            return None
        out[name] = kind(value)
    return out
