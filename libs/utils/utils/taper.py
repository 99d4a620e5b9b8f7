"""The seed's handling of dropped frames.

The last real second before a drop is Hann-tapered out, dropped seconds are
zeros, and the first real second after a drop is Hann-tapered back in. The
taper spans ``taper_length`` seconds at the edge of the real second.
"""

from __future__ import annotations

import numpy as np


def hann_edge(size: int, taper_size: int, rising: bool) -> np.ndarray:
    """A window of ``size`` samples that is 1 except for a half-Hann ramp
    of ``taper_size`` samples: at the start when ``rising``, else at the end.
    """
    if not 0 < taper_size <= size:
        raise ValueError(f"taper of {taper_size} samples in {size}")
    window = np.ones(size)
    ramp = np.hanning(2 * taper_size + 1)[:taper_size]
    if rising:
        window[:taper_size] = ramp
    else:
        window[size - taper_size :] = ramp[::-1]
    return window


def taper_second(
    data: np.ndarray,
    sample_rate: float,
    taper_length: float,
    taper_in: bool,
    taper_out: bool,
) -> np.ndarray:
    """Taper one second of one channel (a copy; the input is untouched).

    Args:
        data: samples of one second, shape ``(sample_rate,)``.
        taper_length: seconds of each ramp.
        taper_in: the previous second was dropped (ramp up at the start).
        taper_out: the next second is dropped (ramp down at the end).
    """
    out = np.array(data, dtype=np.float64)
    taper_size = max(1, int(round(taper_length * sample_rate)))
    taper_size = min(taper_size, out.size)
    if taper_in:
        out *= hann_edge(out.size, taper_size, rising=True)
    if taper_out:
        out *= hann_edge(out.size, taper_size, rising=False)
    return out
