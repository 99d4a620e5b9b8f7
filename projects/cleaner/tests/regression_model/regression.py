"""Numpy core of the test-only regression model (see ``model.py``).

Imported both by ``model.py`` inside Triton (numpy < 2 environment) and by
the tests in the cleaner environment, so the two predict alike.
"""

import numpy as np


def features(witness):
    """``(1 + num_asc, size)``: the mains monitor ``m`` and ``m * asc_i``.

    Args:
        witness: ``(num_witnesses, size)``, the mains monitor first.
    """
    witness = np.asarray(witness, dtype=np.float64)
    mains = witness[0]
    return np.concatenate([mains[None], mains * witness[1:]])


def predict(coefficients, witness, edge_size):
    """Noise prediction ``(size,)`` for a witness window, faded to zero
    over ``edge_size`` samples at both ends (an edge-damaged network)."""
    noise = coefficients @ features(witness)
    edge = min(int(edge_size), noise.size // 2)
    if edge:
        ramp = np.sin(np.linspace(0, np.pi / 2, edge)) ** 2
        noise[:edge] *= ramp
        noise[noise.size - edge :] *= ramp[::-1]
    return noise
