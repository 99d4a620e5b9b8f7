"""GPS time from the system clock."""

from __future__ import annotations

import time

import pytest
from utils.gpstime import gps_now, gps_to_unix, unix_to_gps


def test_known_epochs() -> None:
    # GPS 1400000000 = 2024-05-17T16:53:02 UTC (astropy's Time agrees)
    assert gps_to_unix(1400000000) == 1715964782
    assert unix_to_gps(1715964782) == 1400000000


def test_round_trip_and_now() -> None:
    now = time.time()
    assert gps_to_unix(unix_to_gps(now)) == pytest.approx(now)
    assert gps_now() == pytest.approx(unix_to_gps(time.time()), abs=1.0)
