"""Service logging: one line per message, whatever a client sent."""

from __future__ import annotations

import logging
from pathlib import Path

import utils.logging
from utils.logging import Once
from utils.logging import Outage
from utils.logging import escape_controls
from utils.testing import logging_to

FORGED = "2024-01-01T00:00:00Z exporter INFO exporter: FORGED"


def test_an_outage_is_said_once_until_it_ends(caplog):
    outage = Outage(logging.getLogger("outage-test"))
    assert not outage.ended()  # nothing to end
    with caplog.at_level(logging.ERROR, logger="outage-test"):
        for second in range(3):
            outage.failed("cannot write %s", second)
        assert outage.ended() and not outage.ended()
        outage.failed("cannot write %s", 9)
    assert [r.getMessage() for r in caplog.records] == [
        "cannot write 0",
        "cannot write 9",
    ]


def test_escape_controls_covers_c0_c1_del_and_separators():
    controls = [
        *map(chr, range(0x20)),
        "\x7f",
        *map(chr, range(0x80, 0xA0)),
        "\u2028",
        "\u2029",
    ]
    escaped = escape_controls("a" + "".join(controls) + "b")
    assert escaped.isprintable() and escaped.isascii()
    assert escaped.startswith("a\\x00\\x01") and escaped.endswith("b")
    assert "\\r" in escaped and "\\n" in escaped and "\\t" in escaped
    assert "\\x85" in escaped and "\\u2028" in escaped
    plain = "GPS 1400000000 L1:GDS-CALIB_STRAIN é ünïcödé"
    assert escape_controls(plain) is plain
    assert escape_controls("a\nb\r", keep_newlines=True) == "a\nb\\r"


def test_message_with_controls_is_one_escaped_line(service_log: Path):
    logger = logging.getLogger("exporter.app")
    logger.warning("GET %s -> 404", "/jobs/x\r\n" + FORGED + "\x00\u2028")
    logger.info("after")
    raw = service_log.read_bytes()
    assert b"\x00" not in raw
    lines = raw.decode().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(
        "GET /jobs/x\\r\\n" + FORGED + "\\x00\\u2028 -> 404"
    )
    assert " svc WARNING exporter.app: " in lines[0]
    assert not any(line.startswith(FORGED) for line in lines)


def test_traceback_stays_multi_line(service_log: Path):
    logger = logging.getLogger("exporter.app")
    try:
        raise ValueError("bad run\x00name")
    except ValueError:
        logger.exception("export of %r failed:\n%s", "run\r\nx", "detail")
    raw = service_log.read_bytes()
    assert b"\x00" not in raw
    lines = raw.decode().splitlines()
    assert lines[0].endswith("export of 'run\\r\\nx' failed:\\ndetail")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: bad run\\x00name"
    assert len(lines) >= 4


def test_the_log_is_moved_aside_and_bounded(tmp_path: Path, monkeypatch):
    """A service running for months keeps at most LOG_BACKUPS + 1 files
    of about LOG_MAX_BYTES each, the newest lines in ``<service>.log``
    and the older ones in order behind it."""
    monkeypatch.setattr(utils.logging, "LOG_MAX_BYTES", 2000)
    with logging_to("svc", tmp_path / "logs") as path:
        logger = logging.getLogger("svc.main")
        for number in range(200):
            logger.info("line %04d", number)
    files = sorted(path.parent.iterdir())
    names = [path.name] + [
        f"{path.name}.{n}" for n in range(1, utils.logging.LOG_BACKUPS + 1)
    ]
    assert [f.name for f in files] == sorted(names)
    assert all(f.stat().st_size <= 2000 for f in files)
    numbers = [
        int(line.rsplit(" ", 1)[1])
        for name in reversed(names)
        for line in (path.parent / name).read_text().splitlines()
    ]
    assert numbers == list(range(numbers[0], 200)), numbers
    assert numbers[0] > 0  # the oldest lines are gone


def test_once_says_each_problem_once_within_a_bound():
    """A recurring key is new once; ever new keys keep the newest
    ``kept`` (a key used again is kept as new), so the oldest may be
    said again and memory stays bounded."""
    once = Once(kept=3)
    assert [once.first(k) for k in ("a", "b", "a", "c")] == [
        True,
        True,
        False,
        True,
    ]
    assert once.first("d") and len(once) == 3  # "b" forgotten, not "a"
    assert not once.first("a") and once.first("b")
    for key in range(10_000):
        once.first(("rates", key))
    assert len(once) == 3
