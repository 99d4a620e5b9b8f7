"""LIGO frame file names: ``{S}-{DESCRIPTION}-{GPS}-{DURATION}.gwf``.

One place builds and parses them (the convention of LIGO-T010150): ``S`` is
the site letter, ``DESCRIPTION`` has no dash, ``GPS`` and ``DURATION`` are
whole seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from utils.errors import ConfigError

_NAME = re.compile(
    r"^(?P<site>[A-Z])-(?P<description>[A-Za-z0-9_]+)-"
    r"(?P<gps>[0-9]{9,10})-(?P<duration>[1-9][0-9]*)\.gwf$"
)


@dataclass(frozen=True)
class FrameName:
    """The parts of a frame file name."""

    site: str
    description: str
    gps: int
    duration: int = 1

    def __post_init__(self) -> None:
        name = self.filename
        if _NAME.match(name) is None:
            raise ValueError(f"invalid frame file name {name!r}")

    @property
    def filename(self) -> str:
        return (
            f"{self.site}-{self.description}-{self.gps}-{self.duration}.gwf"
        )

    @classmethod
    def parse(cls, name: str | Path) -> "FrameName":
        """Parse a file name (or path); raise ``ValueError`` if malformed."""
        match = _NAME.match(Path(name).name)
        if match is None:
            raise ValueError(f"not a LIGO frame file name: {str(name)!r}")
        return cls(
            match["site"],
            match["description"],
            int(match["gps"]),
            int(match["duration"]),
        )


def site_of(ifo: str) -> str:
    """``L1`` -> ``L``; raise ``ConfigError`` for a malformed IFO."""
    if re.fullmatch(r"[A-Z][0-9]", ifo) is None:
        raise ConfigError(f"IFO must look like 'L1' or 'H1', got {ifo!r}")
    return ifo[0]


def strain_name(ifo: str, gps: int) -> str:
    """Name of a low-latency strain frame, e.g. ``L-L1_llhoft-G-1.gwf``."""
    return FrameName(site_of(ifo), f"{ifo}_llhoft", gps).filename


def witness_name(ifo: str, gps: int) -> str:
    """Name of a witness frame, e.g. ``L-L1_lldetchar-G-1.gwf``."""
    return FrameName(site_of(ifo), f"{ifo}_lldetchar", gps).filename


def cleaned_name(ifo: str, gps: int, duration: int = 1) -> str:
    """Name of a DeepClean output frame, e.g. ``L-L1_DEEPCLEAN-G-1.gwf``."""
    return FrameName(site_of(ifo), f"{ifo}_DEEPCLEAN", gps, duration).filename


def gps_of(path: str | Path) -> int:
    """GPS start of a frame file from its name."""
    return FrameName.parse(path).gps
