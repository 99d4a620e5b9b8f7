"""Subtracting a band-passed noise prediction from strain, one second at
a time, at any sample rate.

Shared by the live cleaner (4096 Hz, :mod:`cleaner.cleaning`), its
one-shot reference (:mod:`cleaner.offline`) and the reprocessing of stored
data (16384 Hz, the native strain rate), so that all three treat the
seconds next to a dropped one alike.
"""

from __future__ import annotations

import numpy as np

from utils.taper import taper_second


def subtract(
    strain: np.ndarray,
    noise: np.ndarray,
    sample_rate: int,
    taper_length: float,
    taper_in: bool,
    taper_out: bool,
) -> np.ndarray:
    """Cleaned strain ``strain - noise`` of one second.

    Next to a dropped second the strain was Hann-tapered to zero by the
    preprocessor; the noise is tapered the same way, so that the band-pass
    ringing of the prediction does not leave a step at the drop.

    Args:
        strain: ``(sample_rate,)`` strain.
        noise: ``(sample_rate,)`` band-passed noise prediction.
        sample_rate: Hz.
        taper_length: seconds of each Hann ramp (the preprocessor's).
        taper_in: the previous second was dropped.
        taper_out: the next second was dropped.

    Returns:
        ``(sample_rate,)`` cleaned strain.
    """
    if taper_in or taper_out:
        noise = taper_second(
            noise, sample_rate, taper_length, taper_in, taper_out
        )
    return strain - noise
