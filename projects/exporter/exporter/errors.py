"""Errors of the exporter's HTTP API, children of the shared tree.

::

    utils.errors.DeepCleanError
     └── RequestError            a request the API refuses (4xx)
          ├── BadRequest          400 malformed or invalid input
          ├── Unauthorized        401 missing or wrong bearer token
          ├── NotFound            404 unknown run, version or job
          ├── Conflict            409 valid, but not now (run not DONE,
          │                       version on other witnesses)
          ├── PayloadTooLarge     413 body over the size limit
          ├── UnsupportedMedia    415 not JSON
          └── TooManyJobs         429 the export queue is full

Domain errors of :mod:`utils.errors` raised below the API are mapped to
statuses by :data:`STATUS_OF` (``exporter.app``'s one error handler).
"""

from __future__ import annotations

from utils.errors import ConfigError
from utils.errors import DeepCleanError
from utils.errors import ModelError
from utils.errors import ServiceError
from utils.errors import VerificationError


class RequestError(DeepCleanError):
    """A request the API refuses; ``status`` is its HTTP status."""

    status = 400


class BadRequest(RequestError):
    """Malformed JSON, wrong types or values, a path outside train/."""

    status = 400


class Unauthorized(RequestError):
    """Missing or wrong ``Authorization: Bearer`` token."""

    status = 401


class NotFound(RequestError):
    """The named run, version or job does not exist."""

    status = 404


class Conflict(RequestError):
    """The request is valid but cannot be done in the current state."""

    status = 409


class PayloadTooLarge(RequestError):
    """The body is larger than the configured limit."""

    status = 413


class UnsupportedMedia(RequestError):
    """The body is not ``application/json``."""

    status = 415


class TooManyJobs(RequestError):
    """The export queue is full; retry later."""

    status = 429


# statuses of the shared domain errors when they reach the API
STATUS_OF: dict[type[DeepCleanError], int] = {
    VerificationError: 422,
    ModelError: 409,
    ConfigError: 400,
    ServiceError: 503,
}


def status_of(error: DeepCleanError) -> int:
    """HTTP status for a domain error (most specific class wins).

    Args:
        error: the error raised while handling a request.

    Returns:
        The status code.
    """
    if isinstance(error, RequestError):
        return error.status
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 500
