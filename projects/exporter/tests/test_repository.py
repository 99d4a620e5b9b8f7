"""The model repository on disk, read back with Triton's ModelConfig."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace

import pytest
from exporter_settings import SETTINGS

from exporter import layout
from exporter.layout import NULL_MODEL_NAME
from exporter.layout import PIPELINE_NAME
from exporter.lock import RepositoryLock
from exporter.repository import ModelRepository
from exporter.repository import RepositoryState
from utils.errors import ServiceError


def repository(tmp_path, **changes) -> ModelRepository:
    settings = replace(SETTINGS, model_repo=tmp_path / "model_repo", **changes)
    return ModelRepository(
        settings.repository_config(),
        settings.serving_config(),
        settings.backend,
    )


def add_version(repo: ModelRepository, version: int, run: str) -> None:
    staging = repo.new_staging()
    (staging / "model.onnx").write_bytes(b"onnx")
    repo.commit_version(
        staging,
        version,
        {"version": version, "run": run, "witness_channels": ["a", "b"]},
    )


def test_model_config_lists_exactly_the_loaded_versions():
    serving = replace(
        SETTINGS,
        scheme="kernels",
        inference_sampling_rate=512.0,
        intra_op_num_threads=2,
    ).serving_config()
    config = layout.parse_config(
        layout.model_config([3, 1, 3], 18, serving, "onnx-python")
    )
    assert config.name == "deepclean" and config.backend == "python"
    assert list(config.version_policy.specific.versions) == [1, 3]
    assert list(config.input[0].dims) == [1, 18, -1]
    assert [o.name for o in config.output] == ["NOISE", "VERSION"]
    params = {k: v.string_value for k, v in config.parameters.items()}
    assert params["scheme"] == "kernels"
    assert float(params["inference_sampling_rate"]) == 512.0
    assert params["intra_op_num_threads"] == "2"
    gpu = layout.parse_config(
        layout.model_config([1], 18, serving, "tensorrt")
    )
    assert gpu.instance_group[0].kind == gpu.instance_group[0].KIND_GPU


def test_pipeline_routes_production_and_canary():
    config = layout.parse_config(layout.pipeline_config(0, 4, 18))
    assert config.name == PIPELINE_NAME and config.platform == "ensemble"
    assert [o.name for o in config.output] == [
        "PRODUCTION",
        "PRODUCTION_VERSION",
        "CANARY",
        "CANARY_VERSION",
    ]
    production, canary = config.ensemble_scheduling.step
    assert production.model_name == NULL_MODEL_NAME
    assert dict(production.output_map) == {
        "NOISE": "PRODUCTION",
        "VERSION": "PRODUCTION_VERSION",
    }
    assert (canary.model_name, canary.model_version) == ("deepclean", 4)
    promoted = layout.parse_config(layout.pipeline_config(4, 4, 18))
    assert promoted.ensemble_scheduling.step[0].model_version == 4


def test_ensure_creates_null_model_and_never_wipes(tmp_path):
    repo = repository(tmp_path)
    state = repo.ensure()
    assert state == RepositoryState()
    assert (repo.root / NULL_MODEL_NAME / "1" / "model.py").is_file()
    assert not (repo.model_dir / "config.pbtxt").exists()  # no version yet
    add_version(repo, 1, "100-200")
    repo.write_state(
        RepositoryState(
            production=0, canary=1, next_version=2, num_witnesses=2
        )
    )
    state = repo.ensure()
    assert (state.production, state.canary) == (0, 1)
    assert repo.versions() == [1]
    config = layout.parse_config((repo.model_dir / "config.pbtxt").read_text())
    assert list(config.version_policy.specific.versions) == [1]


def test_lost_state_is_rebuilt_from_the_versions(tmp_path):
    repo = repository(tmp_path)
    repo.ensure()
    for version in (1, 2, 5):
        add_version(repo, version, f"{version}00-{version}99")
    repo.state_path.unlink()
    state = repo.ensure()
    assert (state.production, state.canary, state.next_version) == (0, 5, 6)
    assert state.num_witnesses == 2
    assert json.loads(repo.state_path.read_text())["canary"] == 5


def test_vanished_production_falls_back_to_null(tmp_path):
    repo = repository(tmp_path)
    repo.ensure()
    add_version(repo, 1, "100-200")
    add_version(repo, 2, "200-300")
    repo.write_state(
        RepositoryState(
            production=7, canary=2, next_version=8, num_witnesses=2
        )
    )
    state = repo.ensure()
    assert (state.production, state.canary, state.next_version) == (0, 2, 8)


def test_a_version_committed_but_never_recorded_is_removed(tmp_path, caplog):
    """A version committed but not yet recorded in repository.json is not
    listed (Triton may still refuse it). The exporter killed there: the
    start removes the folder (its job, kept in jobs.json, exports the run
    again and makes it the canary; finding it instead would leave a
    version no one validates), and its number is not used again."""
    repo = repository(tmp_path)
    repo.ensure()
    add_version(repo, 1, "100-200")
    repo.write_state(
        RepositoryState(
            production=1, canary=1, next_version=2, num_witnesses=2
        )
    )
    add_version(repo, 2, "200-300")  # being exported (or SIGKILL here)
    # not a version yet: not listed (GET /versions), not found for its run
    assert (repo.versions(), repo.recorded_versions()) == ([1, 2], [1])
    assert repo.find_run("200-300") is None
    with caplog.at_level(logging.WARNING, logger="exporter.repository"):
        state = repo.ensure()
    assert repo.versions() == [1]
    assert repo.find_run("200-300") is None
    assert (state.production, state.canary, state.next_version) == (1, 1, 3)
    assert "version 2 is on disk but not in repository.json" in caplog.text


def test_prune_keeps_production_and_canary(tmp_path):
    repo = repository(tmp_path, max_versions=2)
    repo.ensure()
    for version in range(1, 6):
        add_version(repo, version, f"{version}00-{version}99")
    state = RepositoryState(production=1, canary=5, next_version=6)
    repo.write_state(state)
    assert repo.prune(state) == [2, 3, 4]
    assert repo.versions() == [1, 5]
    assert repo.find_run("500-599") == 5 and repo.find_run("200-299") is None


def test_version_folders_starting_with_zero_are_not_versions(tmp_path):
    repo = repository(tmp_path)
    repo.ensure()
    add_version(repo, 1, "100-200")
    (repo.model_dir / "01").mkdir()
    (repo.model_dir / "01" / "version.json").write_text("{}")
    assert repo.versions() == [1]


def test_lock_serialises_and_times_out(tmp_path):
    path = tmp_path / ".lock"
    first, second = RepositoryLock(path, 5.0), RepositoryLock(path, 0.2)
    events = []
    with first:
        # another holder of the same file (as a second process would be)
        with pytest.raises(ServiceError, match="busy"):
            second.acquire()

        def contend() -> None:
            with RepositoryLock(path, 5.0):
                events.append("second")

        thread = threading.Thread(target=contend)
        thread.start()
        time.sleep(0.2)
        events.append("first")
    thread.join(5.0)
    assert events == ["first", "second"]
