"""The HTTP API: its description, and a property-based fuzz (no 5xx, no
state change) through the Flask test client and through real HTTP to
waitress, against the real tritonserver."""

from __future__ import annotations

import json
import threading

import pytest
import requests
import waitress
import yaml
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from conftest import AUTH
from conftest import TOKEN
from conftest import app_config
from conftest import repo_snapshot
from exporter.server import close_server

ROUTES = [
    "/health",
    "/versions",
    "/production",
    "/jobs/x",
    "/openapi.yaml",
    "/",
    "/versions/1",
    "/jobs/",
    "/production?version=1",
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
CONTENT_TYPES = [
    None,
    "application/json",
    "text/plain",
    "application/json; charset=utf-8",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
]
RUN_LIKE = [
    "1000000000-1000000256",
    "1100000000-1100000100",
    "1100000200-1100000300",
    "../x",
    "/etc",
    "1-2",
    "",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(RUN_LIKE),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["run", "version", "x"]) | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"run": st.sampled_from(RUN_LIKE) | st.integers()}
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"version": st.integers(-2, 5) | st.text(max_size=3)}
    ).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.just(b"x" * 20_000),
)
authorizations = st.sampled_from(
    [
        None,
        f"Bearer {TOKEN}",
        "Bearer wrong",
        "Bearer",
        "bearer  " + TOKEN,
        "Basic abc",
        f"Bearer {TOKEN}\u00e9",
    ]
    # a header value cannot hold a line break (werkzeug's test client
    # refuses to build one; over HTTP it would end the header)
) | st.text(max_size=30).filter(
    lambda s: not set(s) & set("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
)
# what an HTTP client will send as a header value (requests refuses others)
header_values = st.text(
    st.characters(min_codepoint=33, max_codepoint=126), max_size=30
)
http_authorizations = (
    st.sampled_from([None, f"Bearer {TOKEN}", "Bearer wrong", "Basic abc"])
    | header_values
)
paths = st.sampled_from(ROUTES) | st.text(
    st.characters(
        min_codepoint=33, max_codepoint=126, blacklist_characters="?#%"
    ),
    max_size=30,
).map(lambda text: "/" + text)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def api(fresh_repo, tmp_path, make_app):
    """An exporter on an empty repository; train/ holds an unfinished run,
    a symlink leading outside, and a finished run that is only exported
    if a request asks for it with the right token."""
    train = tmp_path / "train"
    outside = tmp_path / "outside" / "1100000000-1100000100"
    outside.mkdir(parents=True)
    (outside / "DONE").write_text("")
    train.mkdir()
    (train / "1100000000-1100000100").symlink_to(outside)
    (train / "1100000200-1100000300").mkdir()
    app = make_app(app_config(tmp_path, fresh_repo))
    return app, fresh_repo


def test_openapi_documents_every_route(api):
    app, _ = api
    response = app.test_client().get("/openapi.yaml")
    assert response.status_code == 200
    spec = yaml.safe_load(response.get_data(as_text=True))
    documented = {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in item
    }
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<job_id>", "{id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)


def test_health_before_any_version(api):
    app, _ = api
    health = app.test_client().get("/health").get_json()
    assert health == {
        "alive": True,
        "triton_live": True,
        "triton_ready": True,
        "pipeline_ready": False,
        "production": 0,
        "canary": 0,
    }
    assert app.test_client().get("/versions").get_json() == {
        "production": 0,
        "canary": 0,
        "production_since": None,
        "versions": [],
    }


def check_response(status: int, body: bytes, method: str) -> None:
    assert status < 500, (status, body[:300])
    if status >= 400 and method != "HEAD":
        error = json.loads(body)
        assert set(error) == {"error", "detail"}


def test_fuzz_test_client_never_5xx_nor_changes_state(api):
    app, triton = api
    client = app.test_client()
    before = repo_snapshot(triton.repo), client.get("/versions").get_json()

    @FUZZ
    @given(
        method=st.sampled_from(METHODS)
        | st.text(
            st.characters(min_codepoint=65, max_codepoint=90),
            min_size=1,
            max_size=8,
        ),
        path=paths,
        auth=authorizations,
        body=bodies,
        content_type=st.sampled_from(CONTENT_TYPES),
    )
    def fuzz(method, path, auth, body, content_type):
        headers = {} if auth is None else {"Authorization": auth}
        response = client.open(
            path,
            method=method,
            data=body,
            headers=headers,
            content_type=content_type,
        )
        check_response(response.status_code, response.get_data(), method)

    fuzz()
    after = repo_snapshot(triton.repo), client.get("/versions").get_json()
    assert after == before


@pytest.fixture
def served(api):
    """The app behind waitress on a free port (real HTTP)."""
    app, triton = api
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", triton
    close_server(server)
    thread.join(5.0)


def test_fuzz_over_real_http_never_5xx(served):
    url, triton = served
    before = repo_snapshot(triton.repo)
    session = requests.Session()

    @settings(FUZZ, max_examples=30)
    @given(
        method=st.sampled_from(METHODS),
        path=paths,
        auth=http_authorizations,
        body=bodies,
        content_type=st.sampled_from(CONTENT_TYPES),
    )
    def fuzz(method, path, auth, body, content_type):
        headers = {}
        if auth is not None:
            headers["Authorization"] = auth
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = session.request(
            method, url + path, data=body, headers=headers, timeout=10
        )
        check_response(response.status_code, response.content, method)

    fuzz()
    assert repo_snapshot(triton.repo) == before
    ok = session.post(
        url + "/production", json={"version": 1}, headers=AUTH, timeout=10
    )
    assert ok.status_code == 404 and ok.json()["error"] == "NotFound"
    session.close()


def test_unfinished_run_over_http_is_a_conflict(served):
    url, _ = served
    name = "1100000200-1100000300"
    response = requests.post(
        url + "/versions", json={"run": name}, headers=AUTH, timeout=10
    )
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/json"
    assert "DONE" in response.json()["detail"]
