"""GPS time from the system clock, with leap seconds from a maintained table.

GPS = Unix time - 315964800 s (the GPS epoch, 1980-01-06 UTC, in Unix time)
+ the leap seconds inserted since then. The leap seconds come from the
IERS list that the operating system's tzdata keeps up to date
(``/usr/share/zoneinfo/leap-seconds.list``: NTP time of each leap second
and TAI - UTC after it; GPS - UTC = TAI - UTC - 19 s). Where that file is
missing the table below, complete to its date, is used. When the list has
expired (a leap second could have been announced since) a WARNING says so
once: the clock may then be off by the unannounced seconds.
"""

from __future__ import annotations

import bisect
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

GPS_EPOCH_UNIX = 315964800  # s, 1980-01-06T00:00:00Z in Unix time
NTP_EPOCH_UNIX = -2208988800  # s, 1900-01-01T00:00:00Z in Unix time
TAI_MINUS_GPS = 19  # s, fixed since the GPS epoch
LEAP_SECONDS_LIST = Path("/usr/share/zoneinfo/leap-seconds.list")
# Unix times from which GPS - UTC took each value (IERS Bulletin C, up to
# the 2017-01-01 leap second; expires 2026-06-28 like the list it is from)
BUILTIN_LEAPS = (
    (362793600, 1),
    (394329600, 2),
    (425865600, 3),
    (489024000, 4),
    (567993600, 5),
    (631152000, 6),
    (662688000, 7),
    (709948800, 8),
    (741484800, 9),
    (773020800, 10),
    (820454400, 11),
    (867715200, 12),
    (915148800, 13),
    (1136073600, 14),
    (1230768000, 15),
    (1341100800, 16),
    (1435708800, 17),
    (1483228800, 18),
)
BUILTIN_EXPIRES = 1782604800  # s, Unix time


@dataclass(frozen=True)
class LeapTable:
    """GPS - UTC as a step function of Unix time.

    Attributes:
        unix_starts: sorted Unix times at which each offset starts.
        offsets: GPS - UTC in seconds from each start on.
        expires: Unix time after which the table may miss a leap second.
        source: where the table came from.
    """

    unix_starts: tuple[int, ...]
    offsets: tuple[int, ...]
    expires: float
    source: str

    @property
    def gps_starts(self) -> tuple[int, ...]:
        """GPS times at which each offset starts."""
        return tuple(
            u - GPS_EPOCH_UNIX + o
            for u, o in zip(self.unix_starts, self.offsets, strict=True)
        )

    def offset_at_unix(self, unix: float) -> int:
        i = bisect.bisect_right(self.unix_starts, unix)
        return self.offsets[i - 1] if i else 0

    def offset_at_gps(self, gps: float) -> int:
        i = bisect.bisect_right(self.gps_starts, gps)
        return self.offsets[i - 1] if i else 0


def parse_leap_seconds_list(text: str, source: str) -> LeapTable:
    """A :class:`LeapTable` from the IERS/IETF ``leap-seconds.list`` text.

    Raises:
        ValueError: no leap-second line or no expiry line in ``text``.
    """
    starts, offsets, expires = [], [], None
    for line in text.splitlines():
        if line.startswith("#@"):
            expires = int(line.split()[1]) + NTP_EPOCH_UNIX
        elif line.strip() and not line.startswith("#"):
            ntp, tai_minus_utc = line.split()[:2]
            gps_minus_utc = int(tai_minus_utc) - TAI_MINUS_GPS
            if gps_minus_utc > 0:
                starts.append(int(ntp) + NTP_EPOCH_UNIX)
                offsets.append(gps_minus_utc)
    if not starts or expires is None:
        raise ValueError(f"{source}: not a leap-seconds list")
    return LeapTable(tuple(starts), tuple(offsets), expires, source)


@functools.cache
def leap_table(path: Path = LEAP_SECONDS_LIST) -> LeapTable:
    """The leap-second table: the system's list, else the built-in one."""
    try:
        table = parse_leap_seconds_list(path.read_text(), str(path))
    except (OSError, ValueError) as exc:
        logger.warning(
            "no usable leap-second list (%s); using the built-in table", exc
        )
        starts, offsets = zip(*BUILTIN_LEAPS, strict=True)
        table = LeapTable(starts, offsets, BUILTIN_EXPIRES, "built-in")
    if table.expires < time.time():
        logger.warning(
            "the leap-second list %s expired on %s UTC: a leap second "
            "announced since is not known (update tzdata)",
            table.source,
            time.strftime("%Y-%m-%d", time.gmtime(table.expires)),
        )
    return table


def unix_to_gps(unix: float) -> float:
    """GPS time of a Unix time (seconds)."""
    return unix - GPS_EPOCH_UNIX + leap_table().offset_at_unix(unix)


def gps_to_unix(gps: float) -> float:
    """Unix time of a GPS time (seconds)."""
    return gps + GPS_EPOCH_UNIX - leap_table().offset_at_gps(gps)


def gps_now() -> float:
    """The current GPS time from the system clock."""
    return unix_to_gps(time.time())
