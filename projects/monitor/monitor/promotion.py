"""Promoting a validated canary through the exporter's HTTP API.

``POST /production {"version": v, "reason": why}`` with ``Authorization:
Bearer <token>``: 200 promotes, 404 means the exporter does not know ``v``.
The reason is the canary's verdict with its figures (against raw, against
production, outside the band), which the exporter keeps and shows as why
production is live. Every request has
a timeout; a tick makes at most one, and a failed one is retried after a
back-off (:class:`utils.retry.RetrySchedule`, never a sleep in the loop).
The pending version is part of the saved state, so an exporter that is down
loses nothing, even across a monitor restart. Only the newest validated
version is ever pending.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

import requests

from utils.contracts import bearer
from utils.contracts import check_api_token
from utils.errors import ServiceError
from utils.retry import Backoff
from utils.retry import RetrySchedule

logger = logging.getLogger(__name__)

KEPT_PROMOTIONS = 20  # past promotions kept (status page, state.json)


@dataclass(frozen=True)
class PromotionConfig:
    """Talking to the exporter.

    Attributes:
        exporter_url: base URL, e.g. ``http://127.0.0.1:5000``.
        token: bearer token of ``POST /production``.
        timeout: s per HTTP request.
        retry_min_interval: s before the first retry after a failure;
            doubles with each further failure.
        retry_max_interval: s between attempts at most.
    """

    exporter_url: str
    token: str
    timeout: float
    retry_min_interval: float
    retry_max_interval: float

    def __post_init__(self) -> None:
        check_api_token(self.token)


class PromotionRefused(ServiceError):
    """The exporter answered with a 4xx that retrying will not change."""


class ExporterClient:
    """The monitor's view of the exporter API (every call has a timeout).

    Args:
        config: URL, token, timeout.
    """

    def __init__(self, config: PromotionConfig) -> None:
        self.config = config
        self.session = requests.Session()

    def versions(self) -> dict:
        """``GET /versions``.

        Raises:
            ServiceError: unreachable, timed out or not a 200 with JSON.
        """
        url = f"{self.config.exporter_url}/versions"
        try:
            response = self.session.get(url, timeout=self.config.timeout)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ServiceError(f"GET {url} failed: {exc}") from exc

    def promote(self, version: int, reason: str = "") -> dict:
        """``POST /production {"version": version, "reason": reason}``.

        Raises:
            PromotionRefused: a 4xx other than 401/403 (unknown version).
            ServiceError: unreachable, timed out, 401/403 or a 5xx.
        """
        url = f"{self.config.exporter_url}/production"
        headers = bearer(self.config.token)
        try:
            response = self.session.post(
                url,
                json={"version": int(version), "reason": reason[:500]},
                headers=headers,
                timeout=self.config.timeout,
            )
        except requests.RequestException as exc:
            raise ServiceError(f"POST {url} failed: {exc}") from exc
        if response.status_code in (401, 403):
            # the exporter may be restarted with the right token: retry
            raise ServiceError(
                f"POST {url}: {response.status_code}, the "
                "token was refused (DEEPCLEAN_API_TOKEN)"
            )
        if 400 <= response.status_code < 500:
            raise PromotionRefused(
                f"POST {url} version {version}: {response.status_code} "
                f"{response.text[:200]}"
            )
        if response.status_code != 200:
            raise ServiceError(
                f"POST {url} version {version}: "
                f"{response.status_code} {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError:
            return {}

    def close(self) -> None:
        self.session.close()


class Promoter:
    """Holds the pending promotion and retries it until it is done.

    Never sleeps: :meth:`tick` makes at most one request, and only when the
    back-off after the last failure (``retry_min_interval``, doubling up to
    ``retry_max_interval``) has passed.

    Args:
        client: the exporter API.
        config: the retry back-off.
        saved: what :meth:`to_state` gave (state.json): the version
            validated but not yet promoted, its verdict (sent with the
            promotion) and past promotions, of which the newest
            :data:`KEPT_PROMOTIONS` are kept.

    Raises:
        TypeError, AttributeError: ``saved`` holds a value of the wrong
            type (a file edited by hand).
    """

    def __init__(
        self,
        client: ExporterClient,
        config: PromotionConfig,
        saved: dict | None = None,
    ) -> None:
        saved = saved or {}
        self.client = client
        self.pending: int | None = saved.get("pending")
        self.reason: str = saved.get("reason", "")
        history = list(saved.get("history", ()))
        if self.pending is not None and type(self.pending) is not int:
            raise TypeError(f"pending version {self.pending!r}")
        if not isinstance(self.reason, str):
            raise TypeError(f"reason {self.reason!r}")
        if not all(isinstance(p, dict) for p in history):
            raise TypeError(f"promotions {history!r}")
        self.history: deque[dict] = deque(history, maxlen=KEPT_PROMOTIONS)
        self.schedule = RetrySchedule(
            Backoff(
                initial=config.retry_min_interval,
                maximum=config.retry_max_interval,
            )
        )

    def request(self, version: int, reason: str = "") -> None:
        """Queue ``version`` for ``reason`` (its verdict: where it was
        validated and on what figures); a newer validated version replaces
        an older pending one and is tried at once."""
        if self.pending is not None and self.pending > version:
            logger.info(
                "canary %d validated but %d is pending: ignored",
                version,
                self.pending,
            )
            return
        if self.pending is not None:
            logger.info(
                "promotion of %d superseded by %d", self.pending, version
            )
        self.pending, self.reason = version, reason
        self.schedule.succeeded()  # nothing to wait out for a new version

    def observe_production(self, version: int) -> None:
        """The frames say production is ``version``: a pending promotion of
        it (or of an older one) is done, by us or by someone else."""
        if self.pending is not None and version >= self.pending:
            logger.info(
                "production is %d: promotion of %d no longer needed",
                version,
                self.pending,
            )
            self.pending = None

    def tick(self, now: float, gps: int | None) -> str | None:
        """One attempt, if a promotion is pending and due.

        Args:
            now: monotonic clock, s.
            gps: newest processed GPS second (for the log and history).

        Returns:
            ``"promoted"``, ``"refused"``, ``"retry"`` or ``None`` (nothing
            pending, or not due yet).
        """
        if self.pending is None or not self.schedule.due(now):
            return None
        version = self.pending
        try:
            self.client.promote(version, self.reason)
        except PromotionRefused as exc:
            logger.error(
                "promotion of canary %d refused, giving up: %s", version, exc
            )
            self.pending = None
            self.schedule.succeeded()
            return "refused"
        except ServiceError as exc:
            delay = self.schedule.failed(now)
            logger.warning(
                "promotion of canary %d failed (%d in a row); "
                "retrying in %.1f s: %s",
                version,
                self.schedule.failures,
                delay,
                exc,
            )
            return "retry"
        logger.info("canary %d promoted to production (GPS %s)", version, gps)
        self.history.append(
            {
                "version": version,
                "gps": gps,
                "time": time.time(),
                "reason": self.reason,
            }
        )
        self.pending = None
        self.schedule.succeeded()
        return "promoted"

    def to_state(self) -> dict:
        return {
            "pending": self.pending,
            "reason": self.reason,
            "history": list(self.history),
        }
