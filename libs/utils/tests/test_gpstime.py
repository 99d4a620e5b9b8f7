"""GPS time from the system clock."""

from __future__ import annotations

import logging
import time

import pytest

from utils.gpstime import BUILTIN_LEAPS
from utils.gpstime import LEAP_SECONDS_LIST
from utils.gpstime import NTP_EPOCH_UNIX
from utils.gpstime import gps_now
from utils.gpstime import gps_to_unix
from utils.gpstime import leap_table
from utils.gpstime import unix_to_gps


def test_known_epochs() -> None:
    # GPS 1400000000 = 2024-05-17T16:53:02 UTC (astropy's Time agrees)
    assert gps_to_unix(1400000000) == 1715964782
    assert unix_to_gps(1715964782) == 1400000000


def test_round_trip_and_now() -> None:
    now = time.time()
    assert gps_to_unix(unix_to_gps(now)) == pytest.approx(now)
    assert gps_now() == pytest.approx(unix_to_gps(time.time()), abs=1.0)


@pytest.mark.parametrize(
    "unix, gps",
    [
        (315964800, 0),  # the GPS epoch
        (362793599, 362793599 - 315964800),  # before the first leap second
        (362793600, 362793601 - 315964800),  # 1981-07-01: GPS - UTC = 1
        (1483228800, 1483228818 - 315964800),  # 2017-01-01: 18
    ],
)
def test_leap_seconds_step_where_the_table_says(unix, gps) -> None:
    assert unix_to_gps(unix) == gps
    assert gps_to_unix(gps) == unix


def test_system_list_agrees_with_the_builtin_table(tmp_path) -> None:
    """The system's IERS list (tzdata) and the built-in table give the same
    offsets over their common span; a list with a later leap second is
    followed."""
    builtin = dict(BUILTIN_LEAPS)
    if LEAP_SECONDS_LIST.exists():
        system = leap_table.__wrapped__(LEAP_SECONDS_LIST)
        common = {
            u: o
            for u, o in zip(system.unix_starts, system.offsets, strict=True)
            if u in builtin
        }
        assert common == builtin
    later = tmp_path / "leap-seconds.list"
    text = "".join(
        f"{u - NTP_EPOCH_UNIX}\t{o + 19}\n" for u, o in BUILTIN_LEAPS
    )
    later.write_text(
        text + f"{1900000000 - NTP_EPOCH_UNIX}\t38\n"
        f"#@\t{2000000000 - NTP_EPOCH_UNIX}\n"
    )
    table = leap_table.__wrapped__(later)
    assert table.offset_at_unix(1899999999) == 18
    assert table.offset_at_unix(1900000000) == 19
    assert table.offset_at_gps(1900000000 - 315964800 + 19) == 19


def test_a_missing_list_falls_back_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="utils.gpstime"):
        table = leap_table.__wrapped__(tmp_path / "nothing")
    assert table.source == "built-in" and table.offsets[-1] == 18
    assert "no usable leap-second list" in caplog.text
