"""The Triton client against the real CPU tritonserver: answers, version
tags, bounded failure when Triton is absent or the pipeline not loaded,
and recovery."""

import logging
import time
from dataclasses import replace

import numpy as np
import pytest
from configs import SETTINGS
from simdata import GPS
from simdata import LocalModel
from simdata import resampled

from cleaner.client import PipelineClient
from cleaner.client import parse_response
from utils.errors import ServiceError
from utils.pipeline import BRANCHES
from utils.pipeline import CANARY
from utils.pipeline import PRODUCTION
from utils.pipeline import version_output
from utils.testing import free_port
from utils.waiting import wait_for

WINDOW = 2  # s
CLIENT = SETTINGS.client_config()  # the repository's [cleaner] client


def window(sim) -> np.ndarray:
    _, witness, _ = resampled(sim, GPS, WINDOW)
    return witness.astype(np.float32)


def test_prediction_from_triton(triton, sim, coefficients):
    client = PipelineClient(replace(CLIENT, url=triton.url))
    witness = window(sim)
    prediction = client.predict(witness)
    assert prediction is not None and client.up
    assert (prediction.production_version, prediction.canary_version) == (1, 2)
    local = LocalModel(coefficients)(witness)
    scale = np.abs(local.production).max()
    # the served model is the local one, to float32 precision
    np.testing.assert_allclose(
        prediction.production, local.production, atol=1e-6 * scale
    )
    np.testing.assert_allclose(
        prediction.canary, 0.5 * prediction.production, atol=1e-6 * scale
    )
    client.close()


def test_absent_triton_costs_at_most_one_timeout(sim, caplog):
    config = replace(CLIENT, url=f"127.0.0.1:{free_port()}", timeout=0.5)
    client = PipelineClient(config)
    witness = window(sim)
    with caplog.at_level(logging.WARNING):
        start = time.monotonic()
        assert client.predict(witness) is None
        first = time.monotonic() - start
        start = time.monotonic()
        for _ in range(5):  # backing off: no network call at all
            assert client.predict(witness) is None
        backing_off = time.monotonic() - start
    assert first < config.timeout + 0.2
    assert backing_off < 0.01
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unavailable" in warnings[0].message


def test_unloaded_pipeline_then_recovery(triton, sim, caplog):
    config = replace(
        CLIENT, url=triton.url, retry_min_length=0.2, retry_max_length=0.4
    )
    client = PipelineClient(config)
    witness = window(sim)
    assert client.predict(witness) is not None
    triton.unload()
    with caplog.at_level(logging.INFO, logger="cleaner"):
        assert client.predict(witness) is None
        triton.configure(1, 2)  # loads it again
        prediction = wait_for(
            lambda: client.predict(witness),
            "the pipeline back",
            timeout=10,
            interval=0.1,
        )
    assert prediction.production_version == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("unavailable" in m for m in messages)
    assert any("answers" in m for m in messages)
    client.close()


class Answer:
    """What ``InferResult.as_numpy`` gives, from arrays (the parsing of an
    answer is tested here; the real Triton's answers above)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def as_numpy(self, name: str) -> np.ndarray | None:
        return self.arrays.get(name)


def answer(size: int) -> dict[str, np.ndarray]:
    arrays = {b: np.ones((1, size), np.float32) for b in BRANCHES}
    for number, branch in enumerate(BRANCHES, start=3):
        arrays[version_output(branch)] = np.array([number], np.int64)
    return arrays


@pytest.mark.parametrize(
    "output, value, error",
    [
        (PRODUCTION, np.nan, "PRODUCTION holds 1 non-finite"),
        (CANARY, np.inf, "CANARY holds 1 non-finite"),
        (version_output(PRODUCTION), np.zeros(0, np.int64), "not one"),
        (version_output(CANARY), np.array([1, 2]), "not one"),
    ],
)
def test_a_non_finite_or_malformed_answer_is_refused(output, value, error):
    """A network's overflow (one NaN or inf) is never subtracted, and an
    empty version is refused, not a crash: ServiceError, which the client
    treats as no answer (found by review: NaN was written into OUT_DQ with
    the gate open, or the AR extrapolation raised and the cleaner exited)."""
    arrays = answer(64)
    assert parse_response(Answer(arrays), 64).production_version == 3
    if output in BRANCHES:
        arrays[output][0, 40] = value
    else:
        arrays[output] = value
    with pytest.raises(ServiceError, match=error):
        parse_response(Answer(arrays), 64)
