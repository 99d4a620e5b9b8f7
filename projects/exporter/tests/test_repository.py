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
from exporter import repository as repository_module
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


def test_lost_state_is_rebuilt_from_the_versions(tmp_path, caplog):
    """No pipeline config says which version was production: production
    falls back to deepclean-null, and an ERROR says what was lost."""
    repo = repository(tmp_path)
    repo.ensure()
    for version in (1, 2, 5):
        add_version(repo, version, f"{version}00-{version}99")
    repo.state_path.unlink()
    with caplog.at_level(logging.WARNING, logger="exporter.repository"):
        state = repo.ensure()
    assert (state.production, state.canary, state.next_version) == (0, 5, 6)
    assert state.num_witnesses == 2
    assert json.loads(repo.state_path.read_text())["canary"] == 5
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert str(repo.state_path) in errors[0]
    assert "which version was production is lost" in errors[0]


def served(repo: ModelRepository, production: int, canary: int) -> None:
    """Versions 1..canary on disk, ``production`` and ``canary`` recorded
    and their configs written (as after a switch)."""
    repo.ensure()
    for version in range(1, canary + 1):
        add_version(repo, version, f"{version}00-{version}99")
    state = RepositoryState(
        production=production,
        canary=canary,
        next_version=canary + 1,
        num_witnesses=2,
    )
    repo.write_state(state)
    repo.write_configs(state)


def test_lost_state_rebuilds_production_from_the_pipeline_config(
    tmp_path, caplog
):
    """repository.json lost (a disk fault, a hand): production is not
    silently turned off; the ensemble's config, what Triton was told to
    serve, says which version it was."""
    repo = repository(tmp_path)
    served(repo, production=2, canary=3)
    repo.state_path.unlink()
    with caplog.at_level(logging.WARNING, logger="exporter.repository"):
        state = repo.ensure()
    assert (state.production, state.canary, state.next_version) == (2, 3, 4)
    assert json.loads(repo.state_path.read_text())["production"] == 2
    assert "production 2 rebuilt from" in caplog.text
    assert "ERROR" not in [r.levelname for r in caplog.records]


def test_the_state_and_the_pipeline_config_are_flushed_to_disk(
    tmp_path, monkeypatch
):
    """Both are the record of which version is production: written with
    fsync, so a power cut cannot leave them empty."""
    repo = repository(tmp_path)
    flushed = []
    original = repository_module.write_text

    def write_text(path, text, **options):
        if options.get("fsync"):
            flushed.append(str(path.relative_to(repo.root)))
        return original(path, text, **options)

    monkeypatch.setattr(repository_module, "write_text", write_text)
    served(repo, production=1, canary=1)
    assert "repository.json" in flushed
    assert f"{PIPELINE_NAME}/config.pbtxt" in flushed


@pytest.mark.parametrize(
    "text",
    [
        "",  # a power cut before the data reached the disk
        '{"production": 2, "ca',
        "[]",
        '{"production": 2, "canary": 3, "next_version": 4, "note": "x"}',
        '{"production": "2", "canary": 3, "next_version": 4}',
        '{"production": 2, "canary": 3, "next_version": 4, "history": 5}',
    ],
)
def test_an_unreadable_state_is_moved_aside_and_rebuilt(
    tmp_path, caplog, text
):
    """A start must not die on repository.json (it would die at every
    start): the file is kept aside with an ERROR, and the state rebuilt."""
    repo = repository(tmp_path)
    served(repo, production=2, canary=3)
    repo.state_path.write_text(text)
    with caplog.at_level(logging.ERROR, logger="exporter.repository"):
        state = repo.ensure()
    assert (state.production, state.canary, state.next_version) == (2, 3, 4)
    aside = list(repo.root.glob("repository.json.bad-*"))
    assert [p.read_text() for p in aside] == [text]
    assert f"moved aside to {aside[0].name}" in caplog.text
    assert repo.read_state() == state


def test_an_unreadable_version_file_is_skipped_with_a_warning(
    tmp_path, caplog
):
    """One torn version.json (even of an old version) must not stop every
    export: the search for a run's version skips it, warning once."""
    repo = repository(tmp_path)
    served(repo, production=1, canary=3)
    (repo.model_dir / "1" / "version.json").write_text('{"version": 1, "ru')
    with caplog.at_level(logging.WARNING, logger="exporter.repository"):
        assert repo.find_run("300-399") == 3
        assert repo.find_run("100-199") is None
        assert repo.find_run("400-499") is None
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1, warned
    assert "1/version.json" in warned[0] and "left out" in warned[0]
    state = repo.ensure()  # nor a start
    assert (state.production, state.canary) == (1, 3)


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


def test_an_entry_that_is_not_a_version_blocks_no_export(tmp_path, caplog):
    """A folder named as the next version without its version.json (a
    hand copy, a half-done rsync) is left alone and its number skipped
    (found by review: every later export failed on it, 'already
    exists'); a name of non-ASCII digits is not a number at all (it
    stopped the exporter's start)."""
    repo = repository(tmp_path)
    repo.ensure()
    add_version(repo, 1, "100-200")
    repo.write_state(RepositoryState(production=1, next_version=2))
    (repo.model_dir / "2").mkdir()
    (repo.model_dir / "2" / "model.onnx").write_bytes(b"half")
    (repo.model_dir / "\u00b2").mkdir()  # a superscript two
    (repo.model_dir / "\u00b2" / "version.json").write_text("{}")
    state = repo.ensure()
    assert repo.versions() == [1] and state.next_version == 3
    with caplog.at_level(logging.WARNING, logger="exporter.repository"):
        assert repo.free_number(2) == 3
    assert "in the way of version 2" in caplog.text
    add_version(repo, repo.free_number(3), "200-300")
    assert repo.versions() == [1, 3]


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
