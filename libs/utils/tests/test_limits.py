"""Raising the open-file limit (this process's own, restored after)."""

from __future__ import annotations

import logging
import resource

import pytest

from utils.limits import raise_open_file_limit

LOW = 256  # descriptors: a soft limit below every one wanted here


@pytest.fixture
def low_soft_limit():
    """The soft RLIMIT_NOFILE lowered to ``LOW``; restored at the end."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_raises_the_soft_limit_to_what_is_wanted(low_soft_limit, caplog):
    hard = low_soft_limit
    wanted = LOW + 1  # below any real hard limit (Linux: >= 1024)
    with caplog.at_level(logging.INFO, logger="utils.limits"):
        assert raise_open_file_limit(wanted) == wanted
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (wanted, hard)
    assert f"from {LOW} to {wanted}" in caplog.text
    assert raise_open_file_limit(LOW) == LOW  # never lowered
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == wanted


def test_stops_at_the_hard_limit_with_a_warning(low_soft_limit, caplog):
    hard = low_soft_limit
    with caplog.at_level(logging.INFO, logger="utils.limits"):
        assert raise_open_file_limit(hard + 1) == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    assert any(r.levelno == logging.WARNING for r in caplog.records)
