"""Applying a trained network offline: noise prediction and cleaning.

Shapes: ``witness (num_witnesses, size)`` raw, at the network's sample rate;
``strain (size,)``; ``size`` a whole number of seconds.
"""

from __future__ import annotations

import numpy as np
import torch

from utils.nn.architecture import DOWNSAMPLE_FACTOR
from utils.nn.architecture import DeepClean
from utils.signal import bandpass

PAD_LENGTH = 1.0  # s of context on each side of a chunk (> receptive field)


def predict_noise(
    model: DeepClean,
    witness: np.ndarray,
    sample_rate: int,
    chunk_length: float = 64.0,
) -> np.ndarray:
    """Raw noise prediction over a whole stretch, in chunks.

    Each chunk is run with ``PAD_LENGTH`` of real context on both sides
    (zeros past the ends of the data), and the padding trimmed, so the
    result does not depend on ``chunk_length``.

    Returns:
        ``(size,)`` float64 predicted noise in strain units.
    """
    size = witness.shape[-1]
    chunk = int(chunk_length * sample_rate)
    pad = int(PAD_LENGTH * sample_rate)
    if chunk % DOWNSAMPLE_FACTOR or pad % DOWNSAMPLE_FACTOR:
        raise ValueError("chunk and pad must be multiples of 16 samples")
    padded = np.zeros((witness.shape[0], size + 2 * pad + chunk), np.float32)
    padded[:, pad : pad + size] = witness
    out = np.empty(size)
    model.eval()
    with torch.no_grad():
        for start in range(0, size, chunk):
            x = torch.as_tensor(
                padded[None, :, start : start + chunk + 2 * pad]
            )
            noise = model(x)[0, pad : pad + chunk].double().numpy()
            out[start : start + chunk] = noise[: size - start]
    return out


def clean(
    model: DeepClean,
    witness: np.ndarray,
    strain: np.ndarray,
    sample_rate: int,
    freq_low: float,
    freq_high: float,
    filter_order: int = 8,
) -> np.ndarray:
    """``strain - bandpass(prediction)``: what the cleaner produces."""
    noise = predict_noise(model, witness, sample_rate)
    return strain - bandpass(
        noise, freq_low, freq_high, sample_rate, filter_order
    )
