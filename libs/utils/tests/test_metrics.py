"""The Prometheus endpoint against silent and hostile clients (real
sockets on 127.0.0.1)."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client import Counter

from utils.metrics import MetricsServer
from utils.testing import free_port
from utils.testing import idle_connections
from utils.testing import raw_get
from utils.testing import status_line
from utils.waiting import wait_for

REQUEST_TIMEOUT = 0.5  # s: short, so that the test takes seconds
NUM_IDLE = 50  # silent connections held at once
FORGED = "2024-01-01T00:00:00Z svc INFO x: FORGED"
HOSTILE_TARGETS = [
    b"/%0D%0A" + FORGED.replace(" ", "%20").encode(),
    b"/x%00y",
    b"/x\x00y",  # a raw NUL
    b"/a\r" + FORGED.replace(" ", "%20").encode(),  # a raw CR
    b"/" + b"%0A" * 50,
]


@pytest.fixture
def metrics():
    """A MetricsServer of one counter on a free port; closed at the end."""
    registry = CollectorRegistry()
    Counter("deepclean_test_requests", "test counter", registry=registry).inc()
    port = free_port()
    server = MetricsServer(port, registry, request_timeout=REQUEST_TIMEOUT)
    yield port
    server.close()


def scrape(port: int) -> str:
    """The body of ``GET /metrics``, checked to be a 200."""
    response = raw_get(port, b"/metrics", timeout=2.0)
    assert response.startswith(b"HTTP/1.0 200 "), response[:200]
    return response.decode()


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_address_is_served():
    registry = CollectorRegistry()
    Counter("deepclean_test_v6", "test counter", registry=registry).inc()
    port = free_port()
    server = MetricsServer(port, registry, address="::1")
    try:
        response = raw_get(port, b"/metrics", host="::1")
    finally:
        server.close()
    assert response.startswith(b"HTTP/1.0 200 ")
    assert b"deepclean_test_v6_total 1.0" in response


def test_silent_clients_are_dropped_and_others_served(metrics):
    port = metrics
    baseline = threading.active_count()
    with idle_connections(port, NUM_IDLE) as idle:
        start = time.monotonic()
        assert "deepclean_test_requests_total 1.0" in scrape(port)
        assert time.monotonic() - start < 1.0
        for sock in idle:  # the server closes each after its timeout
            sock.settimeout(REQUEST_TIMEOUT + 5.0)
            assert sock.recv(1) == b""
        wait_for(
            lambda: threading.active_count() <= baseline + 1,
            "the idle connections' threads to end",
            5.0,
            interval=0.05,
        )


def test_hostile_paths_are_answered_and_logged_escaped(
    metrics, service_log: Path, capfd
):
    port = metrics
    for target in HOSTILE_TARGETS:
        status = status_line(raw_get(port, target))
        code = int(status.split()[1])
        assert code == 200 or 400 <= code < 500, (target[:40], status)
    assert "deepclean_test_requests_total" in scrape(port)
    raw = service_log.read_bytes()
    assert b"\x00" not in raw
    lines = raw.decode().splitlines()
    # each request is logged at DEBUG, escaped: a line of the service
    assert sum("FORGED" in line for line in lines) >= 2, lines
    assert not [line for line in lines if line.startswith(FORGED)]
    assert all(
        re.match(r"\d{4}-\d\d-\d\dT[\d:]{8}Z svc ", line) for line in lines
    ), lines
    assert capfd.readouterr().err == ""


def test_event_counter_reads_the_live_counts() -> None:
    """What a scrape shows follows the owner's Counter, label by label."""
    import collections

    from prometheus_client import CollectorRegistry
    from prometheus_client import generate_latest

    from utils.metrics import EventCounter

    counts: collections.Counter[str] = collections.Counter()
    registry = CollectorRegistry()
    registry.register(
        EventCounter("deepclean_x_refused", "help", "reason", counts)
    )
    value = registry.get_sample_value
    assert (
        value("deepclean_x_refused_total", {"reason": "mislabelled"}) is None
    )
    counts["mislabelled"] += 2
    counts["future_file"] += 1
    assert value("deepclean_x_refused_total", {"reason": "mislabelled"}) == 2
    text = generate_latest(registry).decode()
    assert 'deepclean_x_refused_total{reason="future_file"} 1.0' in text
