"""Security of the running pipeline (the session's, before the chaos tests
break it): what listens where, who may change state, what the API refuses,
that idle connections cannot block the API nor control characters in a
request forge a log line, that weights are loaded as data only, and that
the API token never leaks.

Nothing is mocked: real sockets in /proc, the exporter over real HTTP.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pipeline import ROOT
from pipeline import wait_until
from utils.testing import ensure_open_files
from utils.testing import idle_connections
from utils.testing import raw_get
from utils.testing import status_line
from utils.testing import still_open

pytestmark = pytest.mark.timeout(600)

FUZZ_EXAMPLES = 300  # requests; ~10-20 s over loopback on 2 cores
JOB_TIMEOUT = 180.0  # s for an export job to end (conversion subprocess)
IDLE_CONNECTIONS = 1000  # held open to the exporter, nothing sent
HEALTH_DEADLINE = 1.0  # s: /health answers within it while they are held
ACCEPT_TIMEOUT = 60.0  # s for the exporter to accept them all
SPARE_FILES = 256  # descriptors this process needs besides those
RAW_TIMEOUT = 10.0  # s for a raw request's answer
# a well-formed log line, to be smuggled in through a request path
FORGED = (
    "2024-01-01T00:00:00Z exporter INFO exporter: FORGED-"
    + os.urandom(4).hex()
)


# -- helpers -------------------------------------------------------------
def listening_sockets() -> dict[int, tuple[str, int]]:
    """inode -> (address, port) of every listening TCP socket."""
    out = {}
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = socket.inet_ntop(family, raw)
            out[int(fields[9])] = (address, int(port, 16))
    return out


def loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or 127.x mapped into IPv6 (gRPC's dual-stack
    sockets bind ``::ffff:127.0.0.1``)."""
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # exited
        return inodes
    for fd in fds:
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def api_state(pipe) -> tuple:
    """Everything a state change could alter, as GET /versions shows it."""
    v = pipe.versions()
    return (
        v["production"],
        v["canary"],
        sorted(
            (x["version"], x["run"], x["exported_at"]) for x in v["versions"]
        ),
    )


def post(pipe, path: str, token: str | None = "", **kwargs):
    """POST with the right token (``""``), none (None) or another one."""
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token or pipe.token}"
    return requests.post(
        pipe.exporter_url + path, headers=headers, timeout=10, **kwargs
    )


def newest_run(pipe) -> Path:
    runs = [
        p
        for p in (pipe.project_dir / "train").iterdir()
        if (p / "DONE").exists()
    ]
    return max(runs, key=lambda p: int(p.name.split("-")[1]))


@pytest.fixture
def spare_run(pipeline):
    """A finished run the exporter has never seen (a copy of the newest,
    marked exported so that the trainer leaves it alone)."""
    source = newest_run(pipeline)
    start, stop = map(int, source.name.split("-"))
    run = source.parent / f"{start - 1000}-{stop - 1000}"
    shutil.copytree(source, run)
    (run / "exported.json").write_text("{}")
    yield run
    shutil.rmtree(run, ignore_errors=True)


# -- sockets ---------------------------------------------------------------
def test_every_listening_socket_is_on_loopback(pipeline):
    sockets = listening_sockets()
    found: dict[int, tuple[str, str]] = {}
    for service in pipeline.services():
        for pid in pipeline.process_tree(service):
            for inode in socket_inodes(pid) & set(sockets):
                address, port = sockets[inode]
                found[port] = (address, service)
    exposed = {p: a for p, a in found.items() if not loopback(a[0])}
    assert not exposed, f"listening beyond loopback: {exposed}"
    expected = set(pipeline.ports.values()) | {
        pipeline.setting(s, "metrics_port")
        for s in ("trainer", "exporter", "cleaner", "monitor", "replay")
    }
    assert expected <= set(found), f"not found: {expected - set(found)}"


# -- the API: authorisation and input ---------------------------------------
@pytest.mark.parametrize("token", [None, "wrong-token", "Bearer", " "])
def test_state_changes_need_the_token(pipeline, spare_run, token):
    before = api_state(pipeline)
    header = {} if token is None else {"Authorization": f"Bearer {token}"}
    for bad in (
        header,
        {"Authorization": pipeline.token},  # no scheme
        {"Authorization": f"Basic {pipeline.token}"},
    ):
        for path, body in (
            ("/versions", {"run": spare_run.name}),
            ("/production", {"version": 2}),
        ):
            r = post(pipeline, path, None, json=body, headers=dict(bad))
            assert r.status_code == 401, (path, bad, r.text)
            assert r.json()["error"] and "WWW-Authenticate" in r.headers
    time.sleep(1.0)  # an export would have been queued by now
    assert api_state(pipeline) == before


def test_runs_outside_train_are_refused(pipeline, tmp_path):
    train = pipeline.project_dir / "train"
    run = newest_run(pipeline).name
    outside = tmp_path / "outside"
    shutil.copytree(train / run, outside)
    link = train / "1000000000-1000000001"
    link.symlink_to(outside, target_is_directory=True)
    before = api_state(pipeline)
    try:
        for name in (
            "../../etc",
            "/etc",
            str(train / run),
            f"{run}/../{run}",
            f"../train/{run}",
            "%2e%2e%2fetc",
            link.name,
            f"{run}\x00",
            123,
            ["x"],
            None,
        ):
            r = post(pipeline, "/versions", json={"run": name})
            assert 400 <= r.status_code < 500, (name, r.text)
            assert set(r.json()) >= {"error", "detail"}
    finally:
        link.unlink()
    assert api_state(pipeline) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"version": "1"},
        {"version": -1},
        {"version": 0},
        {"version": 10**30},
        {"version": True},
        {"version": 1.5},
        {"version": 999},
        {"version": 1, "extra": 0},
        [1],
        "1",
    ],
)
def test_bad_promotions_are_refused(pipeline, body):
    before = api_state(pipeline)
    r = post(pipeline, "/production", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert api_state(pipeline) == before


def test_oversized_and_non_json_bodies_are_refused(pipeline):
    before = api_state(pipeline)
    limit = pipeline.setting("exporter", "max_content_length")
    big = json.dumps({"run": "1-2", "pad": "x" * limit}).encode()
    assert (
        post(
            pipeline,
            "/versions",
            data=big,
            headers={"Content-Type": "application/json"},
        ).status_code
        == 413
    )
    chunks = (big[i : i + 4096] for i in range(0, len(big), 4096))  # chunked
    assert (
        post(
            pipeline,
            "/versions",
            data=chunks,
            headers={"Content-Type": "application/json"},
        ).status_code
        == 413
    )
    for kind in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": kind} if kind else {}
        r = post(
            pipeline, "/production", data=b'{"version": 1}', headers=headers
        )
        assert r.status_code == 415, (kind, r.text)
    assert api_state(pipeline) == before


# -- hostile clients: idle connections, control characters --------------------
def test_exporter_answers_while_1000_idle_connections_are_held(pipeline):
    ensure_open_files(IDLE_CONNECTIONS + SPARE_FILES)
    port = pipeline.ports["exporter"]
    health = pipeline.exporter_url + "/health"
    with idle_connections(port, IDLE_CONNECTIONS) as idle:
        # accepted in order: once this one answers, all of them are held
        assert requests.get(health, timeout=ACCEPT_TIMEOUT).ok
        for _ in range(3):
            start = time.monotonic()
            r = requests.get(health, timeout=HEALTH_DEADLINE)
            assert r.ok and r.json()["alive"], r.text
            assert time.monotonic() - start < HEALTH_DEADLINE
        assert all(still_open(sock) for sock in idle)


def http_ports(pipe) -> dict[str, int]:
    """Every HTTP port the project's own code serves. Triton's ports are
    left out: that is NVIDIA's server, not ours."""
    ports = {name: pipe.ports[name] for name in ("exporter", "status")}
    for service in ("trainer", "exporter", "cleaner", "monitor", "replay"):
        ports[f"{service} metrics"] = pipe.setting(service, "metrics_port")
    return ports


def test_control_characters_in_paths_are_answered_and_never_forge_logs(
    pipeline,
):
    forged = FORGED.replace(" ", "%20").encode()
    targets = [
        b"/jobs/x%0D%0A" + forged,
        b"/jobs/x%0A" + forged,
        b"/%0D%0A" + forged,
        b"/jobs/x%00y",
        b"/%00",
        b"/x\x00y",
        b"/jobs/x\r" + forged,
        b"/jobs/%E2%80%A8" + forged,
    ]
    for name, port in http_ports(pipeline).items():
        metrics = name.endswith("metrics")  # any path answers the metrics
        for target in targets:
            status = status_line(raw_get(port, target, RAW_TIMEOUT))
            code = int(status.split()[1]) if status else 0
            assert 400 <= code < 500 or (metrics and code == 200), (
                name,
                target,
                status,
            )
        page = {"exporter": b"/health", "status": b"/"}.get(name, b"/metrics")
        alive = status_line(raw_get(port, page, RAW_TIMEOUT))
        assert alive.split()[1:2] == [b"200"], (name, alive)
    time.sleep(1.0)  # let every service write its log
    for log in (pipeline.project_dir / "logs").glob("*.log"):
        raw = log.read_bytes()
        assert b"\x00" not in raw, f"NUL byte in {log.name}"
        forged_lines = [
            line
            for line in raw.splitlines()
            if line.startswith(FORGED.encode())
        ]
        assert not forged_lines, (log.name, forged_lines[:3])


# -- weights are data --------------------------------------------------------
PAYLOAD = """
import os, sys, torch
class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
torch.save({"weight": Payload()}, sys.argv[1])
"""


def test_weights_are_loaded_without_running_code(
    pipeline, spare_run, tmp_path
):
    """A run whose weights.pt is a pickle that would run a shell command
    when unpickled: the export fails and the command never runs."""
    marker = tmp_path / "payload-ran"
    python = ROOT / ".venv" / "trainer" / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-c",
            PAYLOAD,
            str(spare_run / "weights.pt"),
            str(marker),
        ],
        check=True,
        timeout=120,
    )
    before = api_state(pipeline)
    r = post(pipeline, "/versions", json={"run": spare_run.name})
    assert r.status_code == 202, r.text
    job_url = f"{pipeline.exporter_url}/jobs/{r.json()['id']}"
    job = wait_until(
        lambda: (
            (j := requests.get(job_url, timeout=5).json())["status"]
            in ("done", "failed")
            and j
        ),
        "the export job",
        JOB_TIMEOUT,
    )
    assert job["status"] == "failed", job
    assert "weights" in (job["detail"] or "") + (job["error"] or "")
    assert not marker.exists(), "unpickling ran the payload"
    assert api_state(pipeline) == before


# -- the token never leaks ---------------------------------------------
def test_token_never_reaches_logs_output_or_command_lines(pipeline):
    token = pipeline.token
    for path in (pipeline.project_dir / "logs").rglob("*"):
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path
    assert token not in pipeline.run_sh_output
    panes = subprocess.run(
        [
            "tmux",
            "list-panes",
            "-s",
            "-t",
            f"deepclean-{pipeline.name}",
            "-F",
            "#{pane_id}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for pane in panes:
        screen = subprocess.run(
            ["tmux", "capture-pane", "-p", "-J", "-S", "-", "-t", pane],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert token not in screen, pane
    for service in pipeline.services():
        for pid in pipeline.process_tree(service):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert token.encode() not in cmdline, (service, pid)
    page = requests.get(pipeline.status_url + "/", timeout=5).text
    assert token not in page
    assert token not in pipeline.config.read_text()


# -- fuzz over real HTTP ------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_state(pipeline):
    """The API state before the fuzz (compared after it)."""
    return api_state(pipeline)


TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | TEXT,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4)
    ),
    max_leaves=10,
)
BODIES = st.one_of(
    st.binary(max_size=2000),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"run": TEXT | st.integers()}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.fixed_dictionaries({"version": st.integers()}).map(
        lambda v: json.dumps(v).encode()
    ),
)
PATHS = st.sampled_from(
    [
        "/health",
        "/versions",
        "/production",
        "/jobs/",
        "/openapi.yaml",
        "/",
        "/versions/1",
        "/jobs/../versions",
        "//versions",
        "/production?x=1",
    ]
) | TEXT.map(lambda t: "/" + t.replace("#", "").replace("?", ""))


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=PATHS,
    body=BODIES,
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "",
            "application/json; charset=utf-8",
        ]
    )
    | TEXT,
    auth=st.none() | TEXT | TEXT.map(lambda t: "Bearer " + t),
)
def test_fuzz_never_5xx_nor_changes_state(
    pipeline, fuzz_state, method, path, body, content_type, auth
):
    headers = {"Content-Type": content_type}
    if auth is not None:
        assert pipeline.token not in auth
        headers["Authorization"] = auth
    r = requests.request(
        method,
        pipeline.exporter_url + path,
        data=body,
        headers=headers,
        timeout=10,
    )
    assert r.status_code < 500, (method, path, r.status_code, r.text[:300])


def test_fuzz_changed_nothing(pipeline, fuzz_state):
    assert api_state(pipeline) == fuzz_state
