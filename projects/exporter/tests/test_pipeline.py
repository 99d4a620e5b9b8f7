"""The pipeline on the real tritonserver: export, serve, promote, restart.

One deployment per module (exports take seconds): run A exported as
version 1 and promoted, run B exported as version 2 (canary). The tests run
in file order; each leaves production 1 / canary 2 unless it says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from exporter_settings import SETTINGS
from serving import BOUND
from serving import Deployment
from serving import Stream
from serving import assert_served
from serving import infer

from conftest import AUTH
from conftest import app_config
from conftest import export_run
from conftest import make_run
from conftest import repo_snapshot
from conftest import simulated_witness
from conftest import torch_noise
from exporter.app import create_app
from exporter.app import service_of
from exporter.convert import relative_error
from utils.inference import predict
from utils.waiting import wait_for

WINDOW_LENGTH = 2  # s per request, as the cleaner's default window


@pytest.fixture(scope="module")
def deployment(triton, tmp_path_factory):
    triton.clear()
    project = tmp_path_factory.mktemp("project")
    runs = {
        1: make_run(project / "train", 1_000_000_000, 1_000_000_256, 1),
        2: make_run(project / "train", 1_000_000_512, 1_000_000_768, 2),
    }
    config = app_config(project, triton, max_versions=2)
    app = create_app(config)
    client = app.test_client()
    witness = simulated_witness(1_000_001_000, WINDOW_LENGTH, seed=7)
    deploy = Deployment(triton, project, runs, app, client, witness)
    deploy.recorded["health_empty"] = client.get("/health").get_json()
    deploy.recorded["job1"] = export_run(client, runs[1].name)
    deploy.recorded["before_promotion"] = infer(triton.grpc_url, witness)
    deploy.recorded["promote"] = client.post(
        "/production", json={"version": 1}, headers=AUTH
    ).get_json()
    deploy.recorded["job2"] = export_run(client, runs[2].name)
    yield deploy
    service_of(deploy.app).close()


def test_first_export_is_canary_with_null_production(deployment):
    recorded = deployment.recorded
    assert recorded["health_empty"]["pipeline_ready"] is False
    assert recorded["job1"]["status"] == "done"
    assert recorded["job1"]["version"] == 1
    before = recorded["before_promotion"]
    assert int(before["PRODUCTION_VERSION"][0]) == 0
    assert not before["PRODUCTION"].any()  # deepclean-null: zeros
    expected = torch_noise(deployment.runs[1].model, deployment.witness)
    assert relative_error(before["CANARY"][0], expected) <= BOUND
    assert recorded["promote"] == {"production": 1, "canary": 1}


def test_production_and_canary_on_different_versions(deployment):
    assert deployment.recorded["job2"]["version"] == 2
    out = infer(deployment.triton.grpc_url, deployment.witness)
    assert_served(out, deployment.runs, deployment.witness, 1, 2)
    # different networks give different predictions on the same input
    assert relative_error(out["PRODUCTION"][0], out["CANARY"][0]) > 0.1
    listing = deployment.client.get("/versions").get_json()
    assert (listing["production"], listing["canary"]) == (1, 2)
    rows = {row["version"]: row for row in listing["versions"]}
    assert rows[1]["production"] and rows[1]["loaded"]
    assert rows[2]["canary"] and rows[2]["loaded"]
    assert (rows[1]["gps_start"], rows[1]["gps_stop"]) == (
        1_000_000_000,
        1_000_000_256,
    )
    assert rows[2]["backend"] == "onnx-python"
    assert 0 <= rows[2]["verification_error"] <= BOUND
    health = deployment.client.get("/health").get_json()
    assert health["pipeline_ready"] and health["triton_ready"]


def test_exporting_a_run_twice_returns_its_version(deployment):
    before = deployment.state()
    response = deployment.client.post(
        "/versions", json={"run": deployment.runs[1].name}, headers=AUTH
    )
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/jobs/{job['id']}"
    assert (job["status"], job["version"]) == ("done", 1)
    assert deployment.state() == before


def test_promotion_during_a_stream_fails_no_request(deployment):
    client, runs, witness = (
        deployment.client,
        deployment.runs,
        (deployment.witness),
    )
    with Stream(deployment.triton.grpc_url, witness) as stream:
        # promote 2, then roll back to 1, which is no longer loaded: it
        # loads first
        for version in (2, 1):
            time.sleep(0.5)
            body = {"version": version}
            response = client.post("/production", json=body, headers=AUTH)
            assert response.status_code == 200
        time.sleep(0.5)
    errors = [o for o in stream.outcomes if isinstance(o, Exception)]
    assert not errors, errors[:3]
    tags = [int(o["PRODUCTION_VERSION"][0]) for o in stream.outcomes]
    switches = [t for i, t in enumerate(tags) if i == 0 or t != tags[i - 1]]
    assert switches == [1, 2, 1]
    assert {int(o["CANARY_VERSION"][0]) for o in stream.outcomes} == {2}
    for outcome in (stream.outcomes[0], stream.outcomes[-1]):
        assert_served(outcome, runs, witness, 1, 2)
    middle = next(
        o for o in stream.outcomes if int(o["PRODUCTION_VERSION"][0]) == 2
    )
    assert_served(middle, runs, witness, 2, 2)
    history = json.loads(
        (deployment.triton.repo / "repository.json").read_text()
    )["history"]
    assert [e["version"] for e in history if e["event"] == "promote"] == [
        1,
        2,
        1,
    ]


def test_roll_back_with_a_reason_shows_why_production_is_live(deployment):
    """An operator rolls back with one request; ``GET /versions`` says
    which version is live, since when, after which, and why."""
    client = deployment.client
    for version, reason in ((2, ""), (1, "roll back: v2 rings at 60 Hz")):
        body = (
            {"version": version, "reason": reason}
            if reason
            else {"version": version}
        )
        response = client.post("/production", json=body, headers=AUTH)
        assert response.status_code == 200
    listing = client.get("/versions").get_json()
    since = listing["production_since"]
    assert listing["production"] == since["version"] == 1
    assert since["previous"] == 2
    assert since["reason"] == "roll back: v2 rings at 60 Hz"
    assert since["time"]


def test_restarting_the_exporter_keeps_everything(deployment):
    before = deployment.state()
    deployment.restart_exporter(max_versions=2)
    assert deployment.state() == before
    assert deployment.client.get("/health").get_json()["pipeline_ready"]
    out = infer(deployment.triton.grpc_url, deployment.witness)
    assert_served(out, deployment.runs, deployment.witness, 1, 2)


def test_restarting_triton_keeps_everything(deployment):
    before = deployment.state()
    deployment.triton.restart()
    # the exporter's reconciler re-loads the pipeline (bounded wait)
    wait_for(
        lambda: deployment.client.get("/health").get_json()["pipeline_ready"],
        "pipeline ready after Triton restart",
        60.0,
        interval=0.2,
    )
    out = infer(deployment.triton.grpc_url, deployment.witness)
    assert_served(out, deployment.runs, deployment.witness, 1, 2)
    assert deployment.state() == before


def test_failed_verification_leaves_the_repository_untouched(deployment):
    run = make_run(
        deployment.project / "train", 1_000_001_024, 1_000_001_280, 3
    )
    before, files = deployment.state(), repo_snapshot(deployment.triton.repo)
    strict = create_app(
        app_config(
            deployment.project, deployment.triton, max_verification_error=0.0
        )
    )
    try:
        job = export_run(strict.test_client(), run.name)
    finally:
        service_of(strict).close()
    assert job["status"] == "failed"
    assert job["error"] == "VerificationError"
    assert "max_verification_error" in job["detail"]
    assert deployment.state() == before
    assert repo_snapshot(deployment.triton.repo) == files


def test_new_export_replaces_canary_and_prunes_old_versions(deployment):
    run = make_run(
        deployment.project / "train", 1_000_001_024, 1_000_001_280, 3
    )
    deployment.runs[3] = run
    job = export_run(deployment.client, run.name)
    assert (job["status"], job["version"]) == ("done", 3)
    listing = deployment.client.get("/versions").get_json()
    # max_versions 2: version 2 (neither production nor canary) is gone
    assert [row["version"] for row in listing["versions"]] == [1, 3]
    assert (listing["production"], listing["canary"]) == (1, 3)
    out = infer(deployment.triton.grpc_url, deployment.witness)
    assert_served(out, deployment.runs, deployment.witness, 1, 3)


def bad_requests(deployment) -> list[tuple[str, str, dict, int]]:
    """(method, path, request kwargs, expected status) that must fail."""
    train = deployment.project / "train"
    outside = deployment.project / "outside" / "1100000000-1100000100"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "DONE").write_text("")
    (train / "1100000000-1100000100").symlink_to(outside)
    (train / "1100000200-1100000300").mkdir()  # not finished: no DONE
    auth = {"headers": AUTH}
    return [
        ("POST", "/production", {"json": {"version": 99}, **auth}, 404),
        ("POST", "/production", {"json": {"version": 0}, **auth}, 400),
        ("POST", "/production", {"json": {"version": "2"}, **auth}, 400),
        ("POST", "/production", {"json": {"version": True}, **auth}, 400),
        ("POST", "/production", {"json": {"version": 2.0}, **auth}, 400),
        ("POST", "/production", {"json": {"version": 2, "x": 1}, **auth}, 400),
        (
            "POST",
            "/production",
            {"json": {"version": 2, "reason": 1}, **auth},
            400,
        ),
        (
            "POST",
            "/production",
            {"json": {"version": 2, "reason": "a\nforged"}, **auth},
            400,
        ),
        (
            "POST",
            "/production",
            {"json": {"version": 2, "reason": "x" * 501}, **auth},
            400,
        ),
        ("POST", "/versions", {"json": {"run": str(outside)}, **auth}, 400),
        ("POST", "/versions", {"json": {"run": "../outside"}, **auth}, 400),
        ("POST", "/versions", {"json": {"run": "1-2/../../x"}, **auth}, 400),
        (
            "POST",
            "/versions",
            {"json": {"run": "1100000000-1100000100"}, **auth},
            400,
        ),  # symlink leading outside
        ("POST", "/versions", {"json": {"run": "200-100"}, **auth}, 400),
        ("POST", "/versions", {"json": {"run": 100}, **auth}, 400),
        (
            "POST",
            "/versions",
            {"json": {"run": "1100000200-1100000300"}, **auth},
            409,
        ),
        (
            "POST",
            "/versions",
            {"json": {"run": "1200000000-1200000001"}, **auth},
            404,
        ),
        (
            "POST",
            "/versions",
            {"data": b'{"run": ', **auth, "content_type": "application/json"},
            400,
        ),
        (
            "POST",
            "/versions",
            {"data": b"[1, 2]", **auth, "content_type": "application/json"},
            400,
        ),
        (
            "POST",
            "/versions",
            {
                "data": b"[" * 5000 + b"]" * 5000,
                **auth,
                "content_type": "application/json",
            },
            400,
        ),
        ("POST", "/versions", {"json": {"run": "1" * 20_000}, **auth}, 413),
        (
            "POST",
            "/versions",
            {"data": "run=1-2", **auth, "content_type": "text/plain"},
            415,
        ),
        ("POST", "/production", {"json": {"version": 2}}, 401),
        (
            "POST",
            "/production",
            {
                "json": {"version": 2},
                "headers": {"Authorization": "Bearer wrong-secret-token"},
            },
            401,
        ),
        (
            "POST",
            "/production",
            {
                "json": {"version": 2},
                "headers": {"Authorization": "Basic dXNlcjpwYXNz"},
            },
            401,
        ),
        ("GET", "/jobs/no-such-job", {}, 404),
        ("GET", "/nowhere", {}, 404),
        ("DELETE", "/versions", {**auth}, 405),
        ("GET", "/production", {}, 405),
    ]


def test_bad_requests_get_4xx_json_and_change_nothing(deployment, caplog):
    cases = bad_requests(deployment)
    before, files = deployment.state(), repo_snapshot(deployment.triton.repo)
    caplog.set_level("DEBUG")
    for method, path, kwargs, status in cases:
        response = deployment.client.open(path, method=method, **kwargs)
        body = response.get_json()
        assert response.status_code == status, (method, path, body)
        assert set(body) == {"error", "detail"}, body
        assert body["detail"]
    assert deployment.state() == before
    assert repo_snapshot(deployment.triton.repo) == files
    assert "test-token" not in caplog.text  # the token is never logged
    assert "wrong-secret" not in caplog.text


# the seed's scheme: 1 s kernels at 512 Hz, 0.5 s aggregation
SEED = dict(
    scheme="kernels",
    kernel_length=1.0,
    inference_sampling_rate=512.0,
    aggregation_length=0.5,
)
SEED_SCHEME = replace(SETTINGS, **SEED).inference_scheme()


def test_seed_kernels_scheme_by_configuration(deployment):
    """A restarted exporter with the seed's scheme (1 s kernels at 512 Hz,
    0.5 s aggregation) makes Triton serve it for the same versions."""
    before = deployment.state()
    deployment.restart_exporter(max_versions=2, **SEED)
    out = infer(deployment.triton.grpc_url, deployment.witness)
    assert deployment.state() == before
    listing = before[0]
    for name in ("PRODUCTION", "CANARY"):
        version = listing[name.lower()]
        assert int(out[f"{name}_VERSION"][0]) == version
        model = deployment.runs[version].model

        def torch_run(batch: np.ndarray, model=model) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(batch)).numpy()

        expected = predict(deployment.witness, torch_run, SEED_SCHEME)
        got = out[name][0]
        # complete samples: 1 s .. 1.5 s of the 2 s window (256 kernels)
        complete = slice(4096, 4096 + 2048)
        assert np.all(got[:4000] == 0)  # incomplete samples are zero
        assert relative_error(got[complete], expected[complete]) <= BOUND
        # averaged kernels differ from one pass: the scheme really changed
        one_pass = torch_noise(model, deployment.witness)
        assert relative_error(got[complete], one_pass[complete]) > 10 * BOUND
