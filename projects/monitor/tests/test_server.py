"""The status page server against odd paths and silent clients (real
sockets on 127.0.0.1, a real folder)."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest

from monitor.server import MAX_PATH_LENGTH
from monitor.server import StatusServer
from utils.testing import logging_to
from utils.testing import raw_get
from utils.testing import status_line

REQUEST_TIMEOUT = 0.5  # s: short, so that the test takes seconds
FORGED = "2024-01-01T00:00:00Z monitor INFO monitor: FORGED"
LINE = re.compile(r"\d{4}-\d\d-\d\dT[\d:]{8}Z monitor ")
ODD_TARGETS = [
    b"/%00",
    b"/index.html%00.png",
    b"/x\x00y",  # NUL, encoded and raw
    b"/%0D%0A" + FORGED.replace(" ", "%20").encode(),
    b"/%0A" + FORGED.replace(" ", "%20").encode(),
    b"/a\r" + FORGED.replace(" ", "%20").encode(),  # a raw CR
    b"/%E2%80%A8x",
    b"/%C2%85x",
    b"/%7Fx",  # U+2028, NEL, DEL
    b"/../index.html",
    b"/%2e%2e/%2e%2e/etc/passwd",
    b"/a/..%2F..%2Fx",
    b"/%FF",
    b"/%ED%A0%80",  # not UTF-8, an encoded surrogate
    b"/" + b"a" * (MAX_PATH_LENGTH + 1),
]


@pytest.fixture
def monitor_log(tmp_path: Path) -> Iterator[Path]:
    """``configure_logging("monitor", ...)``'s file (DEBUG); the root
    logger is restored at the end."""
    with logging_to("monitor", tmp_path / "logs") as path:
        yield path


@pytest.fixture
def status(tmp_path: Path) -> Iterator[StatusServer]:
    folder = tmp_path / "status"
    folder.mkdir()
    (folder / "index.html").write_text("<html>status</html>")
    server = StatusServer(folder, 0, request_timeout=REQUEST_TIMEOUT)
    yield server
    server.close()


def test_odd_paths_are_answered_400_and_logged_escaped(
    status, monitor_log: Path, capfd
):
    for target in ODD_TARGETS:
        response = raw_get(status.port, target)
        assert status_line(response).startswith(b"HTTP/1.0 4"), (
            target[:40],
            response[:200],
        )
    page = raw_get(status.port, b"/")
    assert page.startswith(b"HTTP/1.0 200 ") and b"status" in page
    assert capfd.readouterr().err == ""  # no traceback in the pane
    raw = monitor_log.read_bytes()
    assert b"\x00" not in raw
    lines = raw.decode().splitlines()
    assert any("FORGED" in line for line in lines)  # requests are logged
    assert not [line for line in lines if line.startswith(FORGED)]
    assert all(LINE.match(line) for line in lines), lines


def test_a_silent_client_is_dropped_and_others_served(status):
    with socket.create_connection(("127.0.0.1", status.port), 5) as idle:
        start = time.monotonic()
        assert raw_get(status.port, b"/").startswith(b"HTTP/1.0 200 ")
        assert time.monotonic() - start < 1.0
        idle.settimeout(REQUEST_TIMEOUT + 5.0)
        assert idle.recv(1) == b""  # closed by the server
        assert time.monotonic() - start >= REQUEST_TIMEOUT
