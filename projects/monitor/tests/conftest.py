"""Fixtures of the monitor tests (helpers in ``monitor_helpers``)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from monitor_helpers import GPS0
from monitor_helpers import FakeExporter
from monitor_helpers import FrameSource
from monitor_helpers import make_config

from monitor.monitor import Monitor


@pytest.fixture(autouse=True)
def seeded() -> None:
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)


@pytest.fixture
def exporter():
    """A running stand-in exporter (real HTTP on a free port)."""
    server = FakeExporter().start()
    yield server
    server.stop()


@pytest.fixture
def frames(tmp_path) -> FrameSource:
    """Writes cleaned frames into ``tmp_path/carousel``."""
    return FrameSource(tmp_path / "carousel")


@pytest.fixture
def open_monitor(tmp_path, exporter):
    """Factory of monitors on ``tmp_path`` (closed at the end); keyword
    arguments override settings per component (see make_config)."""
    monitors = []

    def factory(**parts) -> Monitor:
        monitor = Monitor(make_config(tmp_path, exporter.url, **parts))
        monitors.append(monitor)
        return monitor

    yield factory
    for monitor in monitors:
        monitor.close()


__all__ = ["GPS0"]
