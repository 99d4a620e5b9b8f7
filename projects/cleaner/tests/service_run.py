"""Running the whole cleaner service in-process on simulated frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
from configs import SETTINGS
from simdata import GPS
from simdata import IFO
from simdata import Feeder

from cleaner.service import CleanerConfig
from cleaner.service import build
from cleaner.stream import CleanerStream
from utils.channels import OutputChannels
from utils.follower import list_gps
from utils.gwf import read_frame
from utils.names import cleaned_name
from utils.names import strain_name
from utils.simulation import Simulator

CHANNELS = OutputChannels(IFO)
SPEED = 4.0  # seconds of data per wall second fed to the service


def service_config(
    root: Path, sim: Simulator, grpc_url: str, **overrides
) -> CleanerConfig:
    """The repository's ``[cleaner]`` settings on the simulator's channels,
    frames in ``root/data``, carousel in ``root/carousel``, with short
    waits and fast Triton retries for tests.

    ``overrides`` replace settings (e.g. ``gate_lookahead_length=0``).
    """
    settings = dataclasses.replace(
        SETTINGS,
        project_dir=root,
        data_dir=root / "data",
        strain_channel=sim.config.strain_channel,
        state_channel=sim.config.state_channel,
        witness_channels=list(sim.config.witness_channels),
        triton_grpc_url=grpc_url,
        frame_timeout=1.0,
        start_timeout=10.0,
        retry_min_length=0.2,
        retry_max_length=0.5,
        **overrides,
    )
    return settings.cleaner_config()


def run_service(
    config: CleanerConfig,
    sim: Simulator,
    duration: int,
    faults: dict | None = None,
    hooks: dict[int, Callable[[], None]] | None = None,
    first: int = GPS,
) -> CleanerStream:
    """Feed ``duration`` s of frames from ``first`` at ``SPEED`` and run the
    service over them; ``hooks[gps]`` runs before raw second ``gps`` is
    read. Starts fresh (at ``first``, the newest raw frame) unless the
    carousel holds frames."""
    data_dir = config.stream.data_dir
    if not (config.stream.strain_dir / strain_name(IFO, first)).exists():
        sim.write(first, data_dir, (faults or {}).get(first))
    feeder = Feeder(
        sim, data_dir, first + 1, duration - 1, SPEED, faults or {}
    )
    stream, client = build(config)
    try:
        stream.step()  # finds its first frame before the feeder runs
        feeder.start()
        while stream.follower.next_gps < first + duration:
            hook = (hooks or {}).get(stream.follower.next_gps)
            if hook is not None:
                hook()
            stream.step()
    finally:
        feeder.close()
        client.close()
    return stream


def read_carousel(directory: Path) -> dict[int, dict[str, np.ndarray]]:
    """Every frame in the carousel: GPS -> channel -> samples."""
    out = {}
    for gps in list_gps(directory):
        path = Path(directory) / cleaned_name(IFO, gps)
        out[gps] = {k: v.data for k, v in read_frame(path).items()}
    return out


def series(frames: dict, channel: str, seconds) -> np.ndarray:
    """One channel over the given seconds, concatenated."""
    return np.concatenate([frames[g][channel] for g in seconds])
