"""The Triton client: one noise prediction per witness window.

:class:`PipelineClient` calls the ensemble ``deepclean-pipeline``
(docs/architecture.md) over gRPC with a finite timeout and never names a
model version. It never raises for a failed call and never blocks the
per-second path for longer than one call's timeout: when Triton is
unreachable, slow or the pipeline is not loaded, :meth:`predict` returns
``None`` ("no model"), logs one WARNING per change of state, and tries again
no sooner than a bounded, doubling back-off (``retry_min_length`` ..
``retry_max_length`` seconds, :class:`utils.retry.RetrySchedule`); between
tries it returns ``None`` at once.
A failed channel is thrown away, so a restarted server is reached through a
fresh connection instead of gRPC's own (up to 2 minutes) reconnect back-off.

States::

    up --(call fails)--> down --(a try succeeds)--> up
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from cleaner.prediction import Prediction
from utils.errors import ConfigError
from utils.errors import ServiceError
from utils.pipeline import BRANCHES
from utils.pipeline import CANARY
from utils.pipeline import OUTPUTS
from utils.pipeline import PIPELINE_NAME
from utils.pipeline import PRODUCTION
from utils.pipeline import WITNESS
from utils.pipeline import version_output
from utils.retry import Backoff
from utils.retry import RetrySchedule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientConfig:
    """Where the pipeline is and how long to wait for it.

    Attributes:
        url: gRPC address of Triton, ``host:port``.
        timeout: seconds one call may take (client side).
        retry_min_length: seconds before the first try after a failure.
        retry_max_length: cap of the doubling back-off, seconds.
    """

    url: str
    timeout: float
    retry_min_length: float
    retry_max_length: float

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= 1.0:
            raise ConfigError(
                f"timeout {self.timeout} s: must be in (0, 1] so a call "
                "never holds up the per-second loop"
            )
        if not 0 < self.retry_min_length <= self.retry_max_length:
            raise ConfigError("0 < retry_min_length <= retry_max_length")


def parse_response(result: grpcclient.InferResult, size: int) -> Prediction:
    """Check a response against the pipeline contract.

    Raises:
        ServiceError: an output is missing or has the wrong shape, a
            prediction holds a non-finite sample (a network's overflow:
            never subtracted, the second is cleaned as without a model),
            or a version output is not one finite number.
    """
    arrays = {}
    for name in OUTPUTS:
        value = result.as_numpy(name)
        if value is None:
            raise ServiceError(f"pipeline response lacks output {name}")
        arrays[name] = value
    for name in BRANCHES:
        if arrays[name].shape != (1, size):
            raise ServiceError(
                f"pipeline output {name} has shape {arrays[name].shape}, "
                f"expected (1, {size})"
            )
        bad = int(np.count_nonzero(~np.isfinite(arrays[name])))
        if bad:
            raise ServiceError(
                f"pipeline output {name} holds {bad} non-finite samples"
            )
    versions = {}
    for branch in BRANCHES:
        value = arrays[version_output(branch)]
        if value.size != 1 or not np.isfinite(value).all():
            raise ServiceError(
                f"pipeline output {version_output(branch)} is {value!r}, "
                "not one version number"
            )
        versions[branch] = int(value.ravel()[0])
    return Prediction(
        production=arrays[PRODUCTION][0].astype(np.float64),
        canary=arrays[CANARY][0].astype(np.float64),
        production_version=versions[PRODUCTION],
        canary_version=versions[CANARY],
    )


class PipelineClient:
    """Bounded, self-healing calls of the Triton pipeline.

    Args:
        config: address, timeout and back-off.
        clock: monotonic clock; injectable for tests.
    """

    def __init__(
        self,
        config: ClientConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock
        self._client: grpcclient.InferenceServerClient | None = None
        self._up: bool | None = None  # None: never tried
        self._retry = RetrySchedule(
            Backoff(
                initial=config.retry_min_length,
                maximum=config.retry_max_length,
            )
        )
        self._outputs = [grpcclient.InferRequestedOutput(n) for n in OUTPUTS]

    @property
    def up(self) -> bool:
        """The last call succeeded."""
        return bool(self._up)

    def predict(self, witness: np.ndarray) -> Prediction | None:
        """Noise predictions for one window of raw witnesses.

        Args:
            witness: ``(num_witnesses, size)`` at 4096 Hz, unscaled.

        Returns:
            The prediction, or ``None`` when the pipeline cannot answer now
            (unreachable, timed out, not loaded, malformed answer, or still
            backing off after such a failure).
        """
        if not self._retry.due(self._clock()):
            return None
        try:
            prediction = self._infer(witness)
        except (InferenceServerException, ServiceError) as exc:
            self._fail(exc)
            return None
        if self._up is not True:
            logger.info(
                "Triton pipeline %s at %s answers",
                PIPELINE_NAME,
                self.config.url,
            )
        self._up = True
        self._retry.succeeded()
        return prediction

    def _infer(self, witness: np.ndarray) -> Prediction:
        if self._client is None:
            self._client = grpcclient.InferenceServerClient(self.config.url)
        data = np.ascontiguousarray(witness[None], dtype=np.float32)
        tensor = grpcclient.InferInput(WITNESS, list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        result = self._client.infer(
            PIPELINE_NAME,
            [tensor],
            outputs=self._outputs,
            client_timeout=self.config.timeout,
        )
        return parse_response(result, data.shape[-1])

    def _fail(self, exc: Exception) -> None:
        if self._up is not False:
            logger.warning(
                "Triton pipeline %s at %s unavailable (%s); cleaning "
                "without a model, retrying every <= %.1f s",
                PIPELINE_NAME,
                self.config.url,
                exc,
                self.config.retry_max_length,
            )
        else:
            logger.debug("Triton retry failed: %s", exc)
        self._up = False
        self._retry.failed(self._clock())
        self.close()

    def close(self) -> None:
        """Drop the connection (a new one is made on the next call)."""
        if self._client is not None:
            try:
                self._client.close()
            except InferenceServerException as exc:  # closing a dead channel
                logger.debug("closing the Triton client: %s", exc)
            self._client = None
