"""Fixtures of the reprocessing tests: stored frames (1-s and 32-s files,
a LAL cache) and a model repository, built once per session."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import stored


@pytest.fixture(autouse=True)
def seeded() -> None:
    np.random.seed(0)


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="reprocess")


@dataclass(frozen=True)
class StoredData:
    """``one_second``: a DATA_DIR (kafka/L1, lldetchar/L1) of 1-s frames;
    ``archive``: the same data in 32-s files; ``cache``: a LAL cache of
    them; ``repo``: the model repository; ``root``: their folder."""

    root: Path
    one_second: Path
    archive: list[Path]
    cache: Path
    repo: Path


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> StoredData:
    root = tmp_path_factory.mktemp("stored")
    sim = stored.simulator()
    archive = stored.write_archive(
        sim, root / "data", root / "archive", stored.GPS, stored.NUM_FILES
    )
    cache = stored.write_cache(archive, root / "frames.cache")
    repo = stored.write_repository(
        root / "model_repo", sim, stored.fit_coefficients(sim)
    )
    return StoredData(root, root / "data", archive, cache, repo)
