"""Checks of API input: token, JSON body, run names, versions.

Each check raises a :mod:`exporter.errors` request error before anything
changes. Runs are named ``<gpsstart>-<gpsstop>`` relative to
``$PROJECT_DIR/train`` (:mod:`utils.runs`); absolute paths, ``..``, other
names and symlinks that lead outside it are refused.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from flask import Request

from exporter.errors import BadRequest
from exporter.errors import Conflict
from exporter.errors import NotFound
from exporter.errors import PayloadTooLarge
from exporter.errors import Unauthorized
from exporter.errors import UnsupportedMedia
from utils.runs import DONE_FILE
from utils.runs import parse_run_name

MAX_REASON_LENGTH = 500  # characters of a promotion's reason
MAX_VERSION = 2**31 - 1  # Triton version numbers are int64; be modest


def check_token(header: str | None, token: str) -> None:
    """Check ``Authorization: Bearer <token>`` in constant time.

    Raises:
        Unauthorized: missing, malformed or wrong.
    """
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("missing 'Authorization: Bearer <token>' header")
    encode = lambda text: text.encode("utf-8", "surrogatepass")  # noqa: E731
    if not hmac.compare_digest(encode(given.strip()), encode(token)):
        raise Unauthorized("wrong bearer token")


def json_object(request: Request, max_length: int) -> dict:
    """The request body as a JSON object.

    Raises:
        UnsupportedMedia: the content type is not application/json.
        PayloadTooLarge: the body is over ``max_length`` bytes.
        BadRequest: not valid JSON, or not an object.
    """
    if request.mimetype != "application/json":
        raise UnsupportedMedia(
            f"content type must be application/json, got "
            f"{request.mimetype or 'none'!r}"
        )
    length = request.content_length
    if length is not None and length > max_length:
        raise PayloadTooLarge(f"body of {length} bytes > {max_length}")
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def only_keys(body: dict, required: str) -> object:
    """The value of the one allowed key ``required``.

    Raises:
        BadRequest: it is missing or other keys are present.
    """
    extra = sorted(str(key) for key in body if key != required)
    if required not in body or extra:
        raise BadRequest(
            f'body must be {{"{required}": ...}}; missing or unknown '
            f"keys {extra}"[:300]
        )
    return body[required]


def resolve_run(name: object, train_dir: Path) -> Path:
    """The folder of a finished run named relative to ``train_dir``.

    Raises:
        BadRequest: not a string ``<start>-<stop>`` with start < stop, or a
            path that leads outside ``train_dir``.
        NotFound: no such run folder.
        Conflict: the run has no ``DONE`` file yet.
    """
    if not isinstance(name, str):
        raise BadRequest("run must be a string '<gpsstart>-<gpsstop>'")
    if parse_run_name(name) is None:
        raise BadRequest(
            f"run must be '<gpsstart>-<gpsstop>' (start before stop) "
            f"relative to {train_dir}, got {name[:100]!r}"
        )
    root = Path(train_dir).resolve()
    path = Path(train_dir) / name
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise NotFound(f"no training run {name} in {train_dir}") from exc
    if resolved.parent != root:
        raise BadRequest(f"run {name} leads outside {train_dir}")
    if not resolved.is_dir():
        raise NotFound(f"{path} is not a run folder")
    if not (resolved / DONE_FILE).is_file():
        raise Conflict(
            f"run {name} is not finished (no {DONE_FILE} in {path})"
        )
    return resolved


def keys_of(body: dict, required: str, optional: tuple[str, ...]) -> dict:
    """``body`` with key ``required`` and only keys of ``optional`` besides.

    Raises:
        BadRequest: ``required`` is missing or another key is present.
    """
    allowed = {required, *optional}
    extra = sorted(str(key) for key in body if key not in allowed)
    if required not in body or extra:
        names = ", ".join(f'"{k}"' for k in (required, *optional))
        raise BadRequest(
            f"body must be {{{names}}} ({required!r} required); missing "
            f"or unknown keys {extra}"[:300]
        )
    return body


def reason_text(value: object) -> str:
    """The operator's or monitor's reason for a promotion: printable text,
    at most :data:`MAX_REASON_LENGTH` characters ("" when absent).

    Raises:
        BadRequest: not a string, too long, or with control characters.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("reason must be a string")
    if len(value) > MAX_REASON_LENGTH:
        raise BadRequest(f"reason longer than {MAX_REASON_LENGTH} characters")
    if not value.isprintable():
        raise BadRequest("reason must be printable text on one line")
    return value


def positive_version(value: object) -> int:
    """A version number from JSON.

    Raises:
        BadRequest: not an integer in 1..2**31-1.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("version must be an integer")
    if not 1 <= value <= MAX_VERSION:
        raise BadRequest(f"version must be in 1..{MAX_VERSION}")
    return value
