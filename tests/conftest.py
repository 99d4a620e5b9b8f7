"""One real pipeline per test session, shared by the end-to-end, security
and chaos tests: ``run.sh`` headless on simulated frames, with CPU settings
scaled down so that a first model is trained, exported, validated and
promoted within a few minutes. The chaos tests break it, so they run last
(:func:`pytest_collection_modifyitems`)."""

from __future__ import annotations

import pytest

from faults import OUTCOMES
from faults import TABLE_HEADER
from pipeline import Pipeline
from pipeline import wait_until

# Scaled-down settings (everything else is the embedded default).
OVERRIDES = {
    "base": {"max_consecutive_drops": 10},  # s: a short "stream down"
    "replay": {"prefill_length": 200, "seed": 7},
    "trainer": {
        "train_duration": 128,
        "retrain_cadence": 100000,  # one run is enough here
        "max_epochs": 12,
        "num_threads": 1,
        "export_rescan_interval": 10.0,  # s: finds runs made by the chaos
    },
    "monitor": {
        "window_length": 20,
        "archive_length": 60,
        "archive_retry_interval": 10.0,
        "status_interval": 5.0,
        "max_frames": 300,
    },
}
# MiB of the tmpfs mounted on the carousel (300 frames of ~147 kB, their
# temporary files and the chaos tests' filler), so that a full disk can be
# made without filling the machine's; without mount rights the carousel is
# a plain folder and the full-disk test is skipped
CAROUSEL_TMPFS_SIZE = 64
# test modules in the order they may run: the chaos tests break the
# pipeline, so they come last
MODULE_ORDER = ("test_end_to_end", "test_security", "test_chaos")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the modules in :data:`MODULE_ORDER` (others first), keeping the
    order of the tests within each module."""

    def rank(item: pytest.Item) -> int:
        name = item.module.__name__ if item.module else ""
        return MODULE_ORDER.index(name) + 1 if name in MODULE_ORDER else 0

    items.sort(key=rank)  # stable: the order within a module is kept


def pytest_terminal_summary(terminalreporter) -> None:
    """The fault table of the chaos tests that ran, in every log."""
    if OUTCOMES:
        terminalreporter.section("chaos fault table")
        terminalreporter.write_line(TABLE_HEADER)
        for outcome in OUTCOMES:
            terminalreporter.write_line(outcome.row())


TRAIN_TIMEOUT = 900  # s: first version exported (2 cores, CI)
PROMOTE_TIMEOUT = 300  # s: the canary validated and promoted


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    pipe = Pipeline(
        tmp_path_factory.mktemp("e2e"),
        OVERRIDES,
        carousel_tmpfs_size=CAROUSEL_TMPFS_SIZE,
    )
    try:
        pipe.start()
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
