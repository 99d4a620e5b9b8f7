"""The exporter as an operator runs it, and with Triton down."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import toml

from conftest import AUTH
from conftest import JOB_TIMEOUT
from conftest import TOKEN
from conftest import WITNESSES
from conftest import TritonServer
from conftest import app_config
from conftest import export_run
from conftest import make_run
from conftest import offline_config
from conftest import wait_job
from exporter.app import create_app
from exporter.app import service_of
from exporter.service import AppConfig
from exporter.triton import TritonConfig
from exporter.triton import TritonControl
from utils.errors import ServiceError
from utils.runs import DONE_FILE
from utils.testing import free_port
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]


def test_triton_down_changes_no_version_and_the_export_waits_for_it(
    fresh_repo: TritonServer, tmp_path, caplog
):
    """Triton down when a run's export is accepted (the trainer will not
    ask again): nothing changes, the job waits for Triton, not failing,
    and an exporter that finds Triton live exports the run."""
    run = make_run(tmp_path / "train", 1_000_000_000, 1_000_000_256)
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    config = app_config(
        tmp_path, fresh_repo, triton_url=dead, load_timeout=5.0
    )
    config = replace(
        config, triton=replace(config.triton, request_timeout=1.0)
    )
    app = create_app(config)
    try:
        client = app.test_client()
        health = client.get("/health").get_json()
        assert (health["triton_live"], health["pipeline_ready"]) == (
            False,
            False,
        )
        with caplog.at_level(logging.WARNING, logger="exporter.jobs"):
            response = client.post(
                "/versions", json={"run": run.name}, headers=AUTH
            )
            assert response.status_code == 202
            wait_for(
                lambda: "Triton is not live" in caplog.text,
                "the export to wait for Triton",
                JOB_TIMEOUT,
                interval=0.2,
            )
        job = client.get(response.headers["Location"]).get_json()
        assert job["status"] == "running"
        assert client.get("/versions").get_json()["versions"] == []
    finally:
        service_of(app).close()
    assert not (fresh_repo.repo / "deepclean" / "1").exists()
    state = json.loads((fresh_repo.repo / "repository.json").read_text())
    assert (state["production"], state["canary"]) == (0, 0)
    assert state["history"][-1]["event"] == "export-failed"
    # Triton live (the real one): the accepted job is run again, and the
    # run exported
    app = create_app(app_config(tmp_path, fresh_repo))
    try:
        client = app.test_client()
        job = wait_job(client, job["id"])
        assert (job["status"], job["version"]) == ("done", 2)
        assert client.get("/health").get_json()["pipeline_ready"]
    finally:
        service_of(app).close()


def recorded_versions(repo: Path, runs: dict[int, str]) -> None:
    """Version folders of ``runs`` (version -> run), the first production
    and the last canary, as an earlier exporter left them."""
    for version, run in runs.items():
        folder = repo / "deepclean" / str(version)
        folder.mkdir(parents=True)
        info = {"version": version, "run": run, "witness_channels": WITNESSES}
        (folder / "version.json").write_text(json.dumps(info))
        (repo.parent / "train" / run).mkdir(parents=True)
        (repo.parent / "train" / run / DONE_FILE).write_text("")
    state = {
        "production": min(runs),
        "canary": max(runs),
        "next_version": max(runs) + 1,
        "num_witnesses": len(WITNESSES),
    }
    (repo / "repository.json").write_text(json.dumps(state))


def test_an_unreadable_version_file_blocks_no_request(
    tmp_path, make_app, caplog
):
    """A torn version.json of one version (here production's) is logged
    and that version left out: the exporter starts, lists the others and
    still finds a run's version (the trainer retries a 409 for ever)."""
    config = offline_config(tmp_path)
    repo = config.repository.path
    recorded_versions(repo, {1: "1000-2000", 2: "3000-4000"})
    (repo / "deepclean" / "1" / "version.json").write_text('{"version": 1')
    with caplog.at_level(logging.WARNING, logger="exporter.repository"):
        client = make_app(config).test_client()
        listed = client.get("/versions")
        exported = client.post(
            "/versions", json={"run": "3000-4000"}, headers=AUTH
        )
    assert listed.status_code == 200
    body = listed.get_json()
    assert (body["production"], body["canary"]) == (1, 2)
    assert [v["version"] for v in body["versions"]] == [2]
    assert exported.status_code == 202
    assert exported.get_json()["status"] == "done"
    assert exported.get_json()["version"] == 2
    assert caplog.text.count("1/version.json") == 1  # once per file


def sending(config: AppConfig, witnesses: tuple[str, ...]) -> AppConfig:
    """``config`` of an exporter whose cleaner sends ``witnesses``."""
    return replace(
        config, export=replace(config.export, witness_channels=witnesses)
    )


def test_a_run_on_other_witnesses_than_the_cleaner_sends_is_refused(
    fresh_repo: TritonServer, tmp_path, caplog
):
    """A run trained on the cleaner's witnesses in another order would be
    fed the wrong channels: its export fails, named, and nothing changes.
    When the cleaner's list changes, the version served is named at
    start-up, and a run on the new list is exported (not held to the
    order of what is served); a version on the old list is not promoted
    (a roll-back to it would feed it the wrong channels)."""
    swapped = tuple(reversed(WITNESSES))
    first = make_run(tmp_path / "train", 1_000_000_000, 1_000_000_256)
    second = make_run(
        tmp_path / "train", 1_000_000_256, 1_000_000_512, witnesses=swapped
    )
    config = app_config(tmp_path, fresh_repo)
    app = create_app(sending(config, WITNESSES))
    try:
        client = app.test_client()
        assert export_run(client, first.name)["status"] == "done"
        job = export_run(client, second.name)
    finally:
        service_of(app).close()
    assert (job["status"], job["error"]) == ("failed", "ModelError")
    assert "than the cleaner sends" in job["detail"]
    assert str(list(swapped)) in job["detail"]

    caplog.clear()
    app = create_app(sending(config, swapped))  # the cleaner's list changed
    try:
        client = app.test_client()
        assert export_run(client, second.name)["status"] == "done"
        versions = client.get("/versions").get_json()["versions"]
        promote = [
            client.post("/production", json={"version": v}, headers=AUTH)
            for v in (2, 1)
        ]
        production = client.get("/versions").get_json()["production"]
    finally:
        service_of(app).close()
    assert [r.status_code for r in promote] == [200, 409]
    refusal = promote[1].get_json()["detail"]
    assert "version 1 not promoted" in refusal, refusal
    assert str(list(swapped)) in refusal
    assert production == 2
    named = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(
        m.startswith("version 1 takes its witnesses in another order")
        for m in named
    ), named
    assert [v["version"] for v in versions] == [1, 2]


def test_a_triton_that_dies_mid_request_is_a_service_error():
    """A server that closes the connection without answering (Triton
    killed while it loads a model): the HTTP client's "connection closed"
    becomes the ServiceError the export rolls back on, not a crash that
    left a committed version unrecorded (seen in the chaos suite)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:
        for _ in range(4):
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    control = TritonControl(
        TritonConfig(f"127.0.0.1:{port}", 5.0, 1.0, request_timeout=2.0)
    )
    try:
        with pytest.raises(ServiceError, match="could not load"):
            control.load("deepclean", [1])
        with pytest.raises(ServiceError, match="could not unload"):
            control.unload("deepclean")
    finally:
        listener.close()


def test_entry_point_serves_and_stops_on_sigterm(fresh_repo, tmp_path):
    root = toml.load(ROOT / "pyproject.toml")
    section = root["tool"]["typeo"]["scripts"]["exporter"]
    port = free_port()
    section.update(
        port=port,
        metrics_port=free_port(),
        triton_url=fresh_repo.url,
        model_repo=str(fresh_repo.repo),
    )
    config = {
        "tool": {
            "typeo": {
                "base": root["tool"]["typeo"]["base"],
                "scripts": {"exporter": section},
            }
        }
    }
    (tmp_path / "pyproject.toml").write_text(toml.dumps(config))
    env = {
        **os.environ,
        "DEEPCLEAN_API_TOKEN": TOKEN,
        "PROJECT_DIR": str(tmp_path),
        "IFO": "L1",
        "DATA_DIR": str(tmp_path / "data"),
    }
    exporter = Path(sys.executable).parent / "exporter"
    process = subprocess.Popen(
        [str(exporter), "--typeo", f"{tmp_path}/pyproject.toml:exporter"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> dict | None:
            try:
                return requests.get(url + "/health", timeout=2).json()
            except requests.ConnectionError:
                return None

        health = wait_for(
            healthy,
            "exporter /health",
            60.0,
            interval=0.2,
            alive=lambda: process.poll() is None,
        )
        assert health["triton_live"] and not health["pipeline_ready"]
        wrong = requests.post(
            url + "/production",
            json={"version": 1},
            headers={"Authorization": "Bearer nope-nope"},
            timeout=5,
        )
        assert wrong.status_code == 401
        right = requests.post(
            url + "/production", json={"version": 1}, headers=AUTH, timeout=5
        )
        assert right.status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    log = (tmp_path / "logs" / "exporter.log").read_text()
    assert "serving on" in log and "stopped" in log
    assert TOKEN not in log


def test_entry_point_refuses_to_start_without_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DEEPCLEAN_API_TOKEN"}
    env.update(
        PROJECT_DIR=str(tmp_path), IFO="L1", DATA_DIR=str(tmp_path / "data")
    )
    exporter = Path(sys.executable).parent / "exporter"
    done = subprocess.run(
        [str(exporter), "--typeo", f"{ROOT}/pyproject.toml:exporter"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "DEEPCLEAN_API_TOKEN" in done.stdout
