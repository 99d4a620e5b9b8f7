"""Control of the Triton server: health, loading and unloading models.

Explicit model control over HTTP (``tritonclient.http``), with a fresh
client per call (the client is not thread-safe) and finite connection and
network timeouts on every call. A load is followed by a bounded wait for
readiness. Failures raise :class:`~utils.errors.ServiceError` naming the
model, its versions and the server.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from typing import Iterator

import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from utils.errors import ServiceError
from utils.settings import require
from utils.settings import require_positive
from utils.waiting import wait_for

logger = logging.getLogger(__name__)
# what a call to an absent, dying or slow server raises (the HTTP client's
# "connection closed" of a server killed mid-request is an HTTPException)
CALL_ERRORS = (InferenceServerException, OSError, TimeoutError, HTTPException)


@dataclass(frozen=True)
class TritonConfig:
    """The Triton server the exporter controls (HTTP, explicit mode).

    Attributes:
        url: ``host:port`` of Triton's HTTP endpoint.
        load_timeout: seconds for loading a model and its readiness.
        reconcile_interval: seconds between checks that Triton serves
            what the repository says (re-loads after a Triton restart).
        request_timeout: seconds for a health or index request.
    """

    url: str
    load_timeout: float
    reconcile_interval: float
    request_timeout: float = 5.0

    def __post_init__(self) -> None:
        require(
            "://" not in self.url and ":" in self.url,
            "url",
            self.url,
            "host:port without a scheme",
        )
        require_positive(
            self, "request_timeout", "load_timeout", "reconcile_interval"
        )


class TritonControl:
    """Talks to one Triton server.

    Args:
        config: URL and timeouts.
    """

    def __init__(self, config: TritonConfig) -> None:
        self.config = config

    @contextmanager
    def _client(self, timeout: float) -> Iterator:
        client = triton_http.InferenceServerClient(
            self.config.url,
            connection_timeout=min(timeout, self.config.request_timeout),
            network_timeout=timeout,
        )
        try:
            yield client
        finally:
            client.close()

    def _ask(self, what: str, call) -> object | None:
        try:
            with self._client(self.config.request_timeout) as client:
                return call(client)
        except CALL_ERRORS as exc:
            logger.debug(
                "Triton at %s: %s failed: %s", self.config.url, what, exc
            )
            return None

    def is_live(self) -> bool:
        """Whether the server answers its liveness check."""
        return bool(self._ask("live", lambda c: c.is_server_live()))

    def is_ready(self) -> bool:
        """Whether the server says it is ready."""
        return bool(self._ask("ready", lambda c: c.is_server_ready()))

    def is_model_ready(self, name: str, version: int | None = None) -> bool:
        """Whether ``name`` (``version``, or any) is loaded and ready."""
        text = "" if version is None else str(version)
        return bool(
            self._ask(
                f"ready {name}:{text}", lambda c: c.is_model_ready(name, text)
            )
        )

    def ready_versions(self, name: str) -> set[int] | None:
        """Versions of ``name`` in state READY; None if unreachable."""
        index = self._ask(
            "repository index", lambda c: c.get_model_repository_index()
        )
        if index is None:
            return None
        return {
            int(entry["version"])
            for entry in index
            if entry.get("name") == name
            and entry.get("state") == "READY"
            and str(entry.get("version", "")).isdigit()
        }

    def load(self, name: str, versions: list[int] | None = None) -> None:
        """(Re)load ``name`` from its files and wait until it is ready.

        Args:
            name: the model.
            versions: versions that must be ready afterwards (None: any).

        Raises:
            ServiceError: the load failed or it was not ready in time.
        """
        timeout = self.config.load_timeout
        where = f"model {name!r} (versions {versions}) on {self.config.url}"
        try:
            with self._client(timeout) as client:
                client.load_model(name)
        except CALL_ERRORS as exc:
            raise ServiceError(
                f"Triton could not load {where}: {exc}"
            ) from exc

        self.wait_ready(name, versions)
        logger.info("Triton loaded %s", where)

    def wait_ready(self, name: str, versions: list[int] | None = None) -> None:
        """Wait (bounded by ``load_timeout``) until ``name`` is ready.

        Raises:
            ServiceError: not ready in time.
        """
        wanted = versions or [None]
        where = f"model {name!r} (versions {versions}) on {self.config.url}"
        try:
            wait_for(
                lambda: all(self.is_model_ready(name, v) for v in wanted),
                f"{where} to be ready",
                self.config.load_timeout,
                interval=0.1,
            )
        except TimeoutError as exc:
            raise ServiceError(str(exc)) from exc

    def unload(self, name: str) -> None:
        """Unload ``name`` (no error if it is not loaded).

        Raises:
            ServiceError: the server refused or could not be reached.
        """
        try:
            with self._client(self.config.load_timeout) as client:
                client.unload_model(name)
        except CALL_ERRORS as exc:
            raise ServiceError(
                f"Triton could not unload {name!r} on {self.config.url}: {exc}"
            ) from exc
