"""LIGO frame file names: ``{S}-{DESCRIPTION}-{GPS}-{DURATION}.gwf``.

One place builds, parses and lists them (the convention of LIGO-T010150):
``S`` is the site letter, ``DESCRIPTION`` has no dash, ``GPS`` and
``DURATION`` are whole seconds. Hidden files (a leading ``.``, such as the
temporary files of :mod:`utils.atomic`) are never frames.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

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
        return f"{self.site}-{self.description}-{self.gps}-{self.duration}.gwf"

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


# the data folder's layout (docs/architecture.md, "Input frames"): the
# frames of each kind in a folder of their own per interferometer
DATA_FOLDERS = {"strain": "kafka", "witness": "lldetchar", "truth": "truth"}


def data_folder(data_dir: str | Path, kind: str, ifo: str) -> Path:
    """Where the frames of ``kind`` (:data:`DATA_FOLDERS`: ``strain``,
    ``witness``, ``truth``) of ``ifo`` are, e.g. ``{data_dir}/kafka/L1``."""
    return Path(data_dir) / DATA_FOLDERS[kind] / ifo


def site_of(ifo: str) -> str:
    """``L1`` -> ``L``; raise ``ConfigError`` for a malformed IFO."""
    if re.fullmatch(r"[A-Z][0-9]", ifo) is None:
        raise ConfigError(f"IFO must look like 'L1' or 'H1', got {ifo!r}")
    return ifo[0]


def strain_description(ifo: str) -> str:
    """The ``DESCRIPTION`` of low-latency strain frames, ``L1_llhoft``."""
    return f"{ifo}_llhoft"


def strain_name(ifo: str, gps: int) -> str:
    """Name of a low-latency strain frame, e.g. ``L-L1_llhoft-G-1.gwf``."""
    return FrameName(site_of(ifo), strain_description(ifo), gps).filename


def witness_description(ifo: str) -> str:
    """The ``DESCRIPTION`` of witness frames, ``L1_lldetchar``."""
    return f"{ifo}_lldetchar"


def witness_name(ifo: str, gps: int) -> str:
    """Name of a witness frame, e.g. ``L-L1_lldetchar-G-1.gwf``."""
    return FrameName(site_of(ifo), witness_description(ifo), gps).filename


def cleaned_description(ifo: str) -> str:
    """The ``DESCRIPTION`` of DeepClean's output frames, ``L1_DEEPCLEAN``."""
    return f"{ifo}_DEEPCLEAN"


def cleaned_name(ifo: str, gps: int, duration: int = 1) -> str:
    """Name of a DeepClean output frame, e.g. ``L-L1_DEEPCLEAN-G-1.gwf``."""
    description = cleaned_description(ifo)
    return FrameName(site_of(ifo), description, gps, duration).filename


def gps_of(path: str | Path) -> int:
    """GPS start of a frame file from its name."""
    return FrameName.parse(path).gps


class FrameFile(NamedTuple):
    """A frame file found in a folder: the parts of its name and its path.

    ``path`` is the ``str`` that ``os.scandir`` gives (a folder of the
    carousel is listed every tick: building thousands of ``Path`` objects
    would cost ten times the listing); wrap it in ``Path`` where needed.
    """

    gps: int
    duration: int
    site: str
    description: str
    path: str

    @property
    def stop(self) -> int:
        """GPS end (exclusive), s."""
        return self.gps + self.duration


def list_frames(
    directory: str | Path, description: str | None = None
) -> list[FrameFile]:
    """The frame files of ``directory``, sorted by GPS start (then by
    duration, site, description).

    Hidden files, names that are not frame names and folders (a folder
    named like a frame holds no data: counted, it would pass for the
    seconds it names) are skipped. A link to a file, or a dangling link, is
    listed: reading it says what it is.

    Args:
        directory: the folder (not searched recursively).
        description: keep only this ``DESCRIPTION`` (e.g. ``L1_DEEPCLEAN``);
            None keeps every frame.

    Returns:
        The frames; empty when ``directory`` does not exist.

    Raises:
        OSError: ``directory`` cannot be listed (not a folder, no
            permission, I/O error).
    """
    out = []
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return out
    with entries:
        for entry in entries:
            match = _NAME.match(entry.name)
            if match is None or (
                description is not None and match["description"] != description
            ):
                continue
            try:
                if entry.is_dir():
                    continue
            except OSError:  # cannot tell: reading it will
                pass
            out.append(
                FrameFile(
                    int(match["gps"]),
                    int(match["duration"]),
                    match["site"],
                    match["description"],
                    entry.path,
                )
            )
    out.sort()
    return out
