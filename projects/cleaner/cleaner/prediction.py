"""What a noise predictor returns (the pipeline's outputs, as numpy).

Kept apart from :mod:`cleaner.client` so that offline cleaning and the
benchmarks can use any predictor (Triton, or a network in-process) without
the Triton client installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """The answer for one witness window.

    Attributes:
        production: ``(size,)`` float64 noise prediction, strain units.
        canary: ``(size,)`` float64.
        production_version: 0 when there is no production model yet.
        canary_version: 0 when there is no canary model.
    """

    production: np.ndarray
    canary: np.ndarray
    production_version: int
    canary_version: int


# witness window (num_witnesses, size) float32 -> prediction, or None when
# no model can answer ("no model": zeros, version 0)
Predictor = Callable[[np.ndarray], Optional[Prediction]]
