"""The Triton client against the real CPU tritonserver: answers, version
tags, bounded failure when Triton is absent or the pipeline not loaded,
and recovery."""

import logging
import time
from dataclasses import replace

import numpy as np
from configs import SETTINGS
from simdata import GPS
from simdata import LocalModel
from simdata import resampled

from cleaner.client import PipelineClient
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
