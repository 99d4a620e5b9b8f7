"""One real pipeline per test session, shared by the end-to-end and chaos
tests: ``run.sh`` headless on simulated frames, with CPU settings scaled
down so that a first model is trained, exported, validated and promoted
within a few minutes."""

from __future__ import annotations

import pytest

from pipeline import Pipeline, wait_until

# Scaled-down settings (everything else is the embedded default).
OVERRIDES = {
    "replay": {"prefill_length": 200, "seed": 7},
    "trainer": {
        "train_duration": 128,
        "retrain_cadence": 100000,  # one run is enough here
        "max_epochs": 12,
        "num_threads": 1,
    },
    "monitor": {
        "window_length": 20,
        "archive_length": 60,
        "status_interval": 5.0,
        "max_frames": 300,
    },
}
TRAIN_TIMEOUT = 900  # s: first version exported (2 cores, CI)
PROMOTE_TIMEOUT = 300  # s: the canary validated and promoted


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    pipe = Pipeline(tmp_path_factory.mktemp("e2e"), OVERRIDES)
    pipe.start()
    try:
        wait_until(
            lambda: pipe.versions()["versions"],
            "a first exported version",
            TRAIN_TIMEOUT,
            interval=5,
        )
        wait_until(
            lambda: pipe.versions()["production"],
            "the canary to be promoted",
            PROMOTE_TIMEOUT,
            interval=2,
        )
        yield pipe
    except BaseException:
        print(pipe.logs_tail(60))
        raise
    finally:
        pipe.stop()
