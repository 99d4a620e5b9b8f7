"""One carousel second, read and checked.

A cleaned frame (``utils.channels.OutputChannels``) holds four 4096 Hz
strain channels, a 16 Hz state vector and two 1 Hz version tags. The
monitor reads all seven; a frame that lacks one, has the wrong sizes or
non-finite samples is unusable (:class:`~utils.errors.FrameError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils.channels import STATE_RATE
from utils.channels import STRAIN_RATE
from utils.channels import OutputChannels
from utils.channels import State
from utils.errors import BadData
from utils.gpstime import unix_to_gps
from utils.gwf import check_span
from utils.gwf import read_frame


@dataclass(frozen=True)
class SecondData:
    """The content of one cleaned frame.

    Attributes:
        gps: GPS start.
        strains: channel -> ``(4096,)`` float64, for OUT_DQ, PRODUCTION,
            CANARY and RAW.
        state: ``(16,)`` int32 bits of :class:`utils.channels.State`.
        production_version, canary_version: the version tags (0: none).
        latency: s from the end of the GPS second to the file's mtime
            (when the cleaner finished writing it); NaN if unknown.
    """

    gps: int
    strains: dict[str, np.ndarray]
    state: np.ndarray
    production_version: int
    canary_version: int
    latency: float

    def all_set(self, bits: State) -> bool:
        """Whether every state sample of the second has all of ``bits``."""
        return bool(np.all((self.state & int(bits)) == int(bits)))

    def fraction_set(self, bits: State) -> float:
        """Fraction of the state samples with all of ``bits``."""
        return float(np.mean((self.state & int(bits)) == int(bits)))


def read_second(path: Path, gps: int, channels: OutputChannels) -> SecondData:
    """Read and check the cleaned frame of second ``gps`` at ``path``.

    Args:
        path: the frame file (carousel or spool).
        gps: its GPS second (from its name).
        channels: the output channel names.

    Returns:
        The frame's content.

    Raises:
        FrameMissing, FrameCorrupt, ChannelMissing: from reading.
        FrameMislabelled: the frame is not of second ``gps``.
        BadData: wrong sizes or non-finite strain.
    """
    mtime = Path(path).stat().st_mtime if Path(path).exists() else None
    names = (
        *channels.strains,
        channels.state,
        channels.production_version,
        channels.canary_version,
    )
    raw = read_frame(path, names)
    check_span(path, gps, raw)  # a name is a claim, not a proof
    strains = {}
    for name in channels.strains:
        data = np.asarray(raw[name].data, dtype=np.float64)
        if data.shape != (STRAIN_RATE,):
            raise BadData(
                f"{path}: {name} has {data.shape}, want ({STRAIN_RATE},)"
            )
        if not np.all(np.isfinite(data)):
            raise BadData(f"{path}: {name} has non-finite samples")
        strains[name] = data
    state = np.asarray(raw[channels.state].data).astype(np.int32)
    if state.shape != (STATE_RATE,):
        raise BadData(f"{path}: {channels.state} has {state.shape}")
    versions = []
    for name in (channels.production_version, channels.canary_version):
        data = np.asarray(raw[name].data)
        if data.size < 1:
            raise BadData(f"{path}: {name} is empty")
        versions.append(int(data[0]))
    latency = float("nan")
    if mtime is not None:
        latency = unix_to_gps(mtime) - (gps + 1)
    return SecondData(gps, strains, state, versions[0], versions[1], latency)
