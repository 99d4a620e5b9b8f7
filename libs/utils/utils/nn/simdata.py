"""Simulated training data at the network's rate (tests and benchmarks).

Seconds come from :class:`utils.simulation.Simulator` in-process (no files)
and go through the same :class:`utils.stream.Preprocessor` as live frames,
the coupled-noise truth alongside, so truth, strain and witnesses share one
resampling.
"""

from __future__ import annotations

import numpy as np

from utils.follower import FrameSecond
from utils.gwf import Series
from utils.nn.data import Stretch
from utils.simulation import Simulator
from utils.stream import Preprocessor

TRUTH_ROW = "TRUTH"  # pseudo-channel carrying the truth through resampling


def simulate_stretch(
    sim: Simulator, gps_start: int, duration: int, sample_rate: int = 4096
) -> tuple[Stretch, np.ndarray]:
    """Preprocessed simulated data of ``[gps_start, gps_start + duration)``.

    Returns:
        The stretch (raw strain and witnesses at ``sample_rate``) and the
        coupled noise in it, ``(duration * sample_rate,)``.
    """
    config = sim.config
    truth_name = f"{config.ifo}:{TRUTH_ROW}"
    channels = [config.strain_channel, *config.witness_channels, truth_name]
    rates = {c: config.sample_rate(c) for c in config.witness_channels}
    rates[config.strain_channel] = rates[truth_name] = config.strain_rate
    pre = Preprocessor(channels, sample_rate, rates)
    out = []
    for gps in range(gps_start - pre.delay + 1, gps_start + duration + 2):
        s = sim.second(gps)
        witnesses = dict(s.witnesses)
        witnesses[truth_name] = Series(s.truth, config.strain_rate)
        frame = FrameSecond(
            gps,
            Series(s.strain, config.strain_rate),
            Series(s.state, config.state_rate),
            witnesses,
            seen_at=0.0,
        )
        out += [x.data for x in pre.push(frame) if x.gps >= gps_start]
    data = np.concatenate(out[:duration], axis=-1)
    stretch = Stretch(gps_start, sample_rate, data[1:-1], data[0])
    return stretch, data[-1]
