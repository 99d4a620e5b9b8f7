"""GPS time from the system clock.

GPS = Unix time - 315964800 s (the GPS epoch, 1980-01-06 UTC, in Unix time)
+ the leap seconds since then (18 since 2017-01-01; no leap second has been
announced since).
"""

from __future__ import annotations

import time

GPS_EPOCH_UNIX = 315964800  # s, 1980-01-06T00:00:00Z in Unix time
LEAP_SECONDS = 18  # s, GPS - UTC since 2017-01-01


def unix_to_gps(unix: float) -> float:
    """GPS time of a Unix time (seconds)."""
    return unix - GPS_EPOCH_UNIX + LEAP_SECONDS


def gps_to_unix(gps: float) -> float:
    """Unix time of a GPS time (seconds)."""
    return gps + GPS_EPOCH_UNIX - LEAP_SECONDS


def gps_now() -> float:
    """The current GPS time from the system clock."""
    return unix_to_gps(time.time())
