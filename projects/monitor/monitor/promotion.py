"""Promoting a validated canary through the exporter's HTTP API.

``POST /production {"version": v}`` with ``Authorization: Bearer <token>``:
200 promotes, 404 means the exporter does not know ``v``. Every request has
a timeout; a round makes at most ``attempts`` tries; a failed round is
retried ``retry_interval`` seconds later, and the pending version is part
of the saved state, so an exporter that is down loses nothing, even across
a monitor restart. Only the newest validated version is ever pending.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import requests
from utils.errors import ServiceError

from monitor.config import PromotionConfig

logger = logging.getLogger(__name__)


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

    def promote(self, version: int) -> dict:
        """``POST /production {"version": version}``.

        Raises:
            PromotionRefused: a 4xx other than 401/403 (unknown version).
            ServiceError: unreachable, timed out, 401/403 or a 5xx.
        """
        url = f"{self.config.exporter_url}/production"
        headers = {"Authorization": f"Bearer {self.config.token}"}
        try:
            response = self.session.post(
                url, json={"version": int(version)}, headers=headers,
                timeout=self.config.timeout,
            )  # fmt: skip
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


@dataclass
class Promoter:
    """Holds the pending promotion and retries it until it is done.

    Args:
        client: the exporter API.
        config: attempts, backoff and retry interval.
        pending: version validated but not yet promoted (saved state).
        history: past promotions (saved state).
    """

    client: ExporterClient
    config: PromotionConfig
    pending: int | None = None
    history: list[dict] = field(default_factory=list)
    failures: int = 0
    _next_round: float = 0.0

    def request(self, version: int, gps: int) -> None:
        """Queue ``version`` (validated at ``gps``); a newer validated
        version replaces an older pending one."""
        if self.pending is not None and self.pending > version:
            logger.info("canary %d validated but %d is pending: ignored",
                        version, self.pending)  # fmt: skip
            return
        if self.pending is not None:
            logger.info("promotion of %d superseded by %d", self.pending,
                        version)  # fmt: skip
        self.pending = version
        self._next_round = 0.0

    def observe_production(self, version: int) -> None:
        """The frames say production is ``version``: a pending promotion of
        it (or of an older one) is done, by us or by someone else."""
        if self.pending is not None and version >= self.pending:
            logger.info("production is %d: promotion of %d no longer "
                        "needed", version, self.pending)  # fmt: skip
            self.pending = None

    def tick(self, now: float, gps: int | None) -> str | None:
        """One round of attempts if one is pending and due.

        Returns:
            ``"promoted"``, ``"refused"``, ``"retry"`` or ``None``.
        """
        if self.pending is None or now < self._next_round:
            return None
        version = self.pending
        for attempt in range(1, self.config.attempts + 1):
            try:
                self.client.promote(version)
            except PromotionRefused as exc:
                logger.error("promotion of canary %d refused, giving up: "
                             "%s", version, exc)  # fmt: skip
                self.pending = None
                self.failures += 1
                return "refused"
            except ServiceError as exc:
                logger.warning(
                    "promotion of canary %d, attempt %d/%d: %s",
                    version,
                    attempt,
                    self.config.attempts,
                    exc,
                )
                if attempt < self.config.attempts:
                    time.sleep(self.config.backoff)
                continue
            logger.info("canary %d promoted to production (GPS %s)",
                        version, gps)  # fmt: skip
            self.history.append(
                {"version": version, "gps": gps, "time": time.time()}
            )
            self.pending = None
            return "promoted"
        self.failures += 1
        self._next_round = now + self.config.retry_interval
        logger.error("promotion of canary %d failed; retrying in %.0f s",
                     version, self.config.retry_interval)  # fmt: skip
        return "retry"

    def to_state(self) -> dict:
        return {"pending": self.pending, "history": self.history[-100:]}
