"""The shared test helpers."""

from __future__ import annotations

import os
import socket
import threading

from utils.testing import free_port
from utils.testing import idle_connections
from utils.testing import raw_get
from utils.testing import run_script
from utils.testing import running_script
from utils.testing import service_environ
from utils.testing import status_line
from utils.testing import still_open


def test_free_port_can_be_bound_and_differs() -> None:
    ports = {free_port() for _ in range(5)}
    assert len(ports) > 1
    port = ports.pop()
    assert 1024 <= port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_raw_requests_and_idle_connections_against_a_real_server() -> None:
    """A server that answers one request per connection and closes it:
    the raw GET gets the whole response, an idle connection stays open
    until the server closes it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with idle_connections(port, 1) as [idle]:
            held, _ = server.accept()
            assert still_open(idle)
            held.close()
            idle.settimeout(5.0)
            assert idle.recv(1) == b""  # closed by the server
        served = threading.Thread(target=_answer_once, args=(server,))
        served.start()
        response = raw_get(port, b"/x\x00y")
        served.join(5.0)
    assert status_line(response) == b"HTTP/1.0 400 Bad"
    assert response.endswith(b"GET /x\x00y HTTP/1.1")
    assert status_line(b"") == b""


def _answer_once(server: socket.socket) -> None:
    """Accept one connection, answer its request line back, close it."""
    client, _ = server.accept()
    with client:
        request = client.recv(4096)
        client.sendall(b"HTTP/1.0 400 Bad\r\n\r\n" + request.split(b"\r\n")[0])


def test_console_scripts_run_and_are_reaped() -> None:
    done = run_script("python", "-c", "print('hi')")
    assert (done.returncode, done.stdout) == (0, "hi\n")
    with running_script("python", "-c", "import time; time.sleep(60)") as p:
        assert p.poll() is None
    assert p.returncode is not None  # killed at the end of the with


def test_service_environ_is_what_run_sh_exports(tmp_path) -> None:
    env = service_environ(tmp_path, EXTRA="1")
    assert env["PROJECT_DIR"] == str(tmp_path / "project")
    assert (env["IFO"], env["EXTRA"]) == ("L1", "1")
    assert env["PATH"] == os.environ["PATH"]
