"""Analysis-ready check on the low-latency state vector.

A sample is analysis ready when every bit of ``mask`` is set (the
services' ``ready_mask``, ``[tool.typeo.base]``: bits 0 (HOFT_OK) and 1
(OBSERVATION_INTENT), i.e. ``value & 3 == 3``).
"""

from __future__ import annotations

import numpy as np


def ready_samples(state: np.ndarray, mask: int):
    """Boolean array: which state-vector samples are analysis ready."""
    state = np.asarray(state)
    if not np.issubdtype(state.dtype, np.integer):
        if not np.all(np.isfinite(state)):
            return np.zeros(state.shape, dtype=bool)
        state = state.astype(np.int64)
    return (state & mask) == mask
