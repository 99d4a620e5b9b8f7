"""Simulated training data at the network's rate (tests and benchmarks):
:func:`utils.simulation.preprocessed` as a :class:`~utils.nn.data.Stretch`.
"""

from __future__ import annotations

import numpy as np

from utils.nn.data import Stretch
from utils.simulation import Simulator
from utils.simulation import preprocessed


def simulate_stretch(
    sim: Simulator, gps_start: int, duration: int, sample_rate: int = 4096
) -> tuple[Stretch, np.ndarray]:
    """Preprocessed simulated data of ``[gps_start, gps_start + duration)``.

    Returns:
        The stretch (raw strain and witnesses at ``sample_rate``) and the
        coupled noise in it, ``(duration * sample_rate,)``.
    """
    data = preprocessed(sim, gps_start, duration, sample_rate)
    stretch = Stretch(gps_start, sample_rate, data[1:-1], data[0])
    return stretch, data[-1]
