"""The shared test helpers."""

from __future__ import annotations

import socket

from utils.testing import free_port


def test_free_port_can_be_bound_and_differs() -> None:
    ports = {free_port() for _ in range(5)}
    assert len(ports) > 1
    port = ports.pop()
    assert 1024 <= port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
