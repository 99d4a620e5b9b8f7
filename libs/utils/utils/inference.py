"""Inference schemes: how a noise prediction is made from a witness window.

Numpy only: this module runs inside the Triton python backend (numpy<2) as
well as in the offline cleaner and the benchmarks. ``run`` is any callable
mapping a batch ``(batch, num_witnesses, size)`` of standard-scaled witnesses
to scaled noise ``(batch, size)`` (ONNX Runtime, TensorRT or torch).

Schemes (docs/architecture.md, "Latency and compute"):

``window``
    One pass of the fully convolutional network over the whole window; the
    cleaner keeps only samples further than the receptive field from the
    edges. Default: ~1/200 of the CPU of ``kernels`` for the same quality.
``kernels``
    The seed's scheme: ``kernel_length`` kernels every
    ``1 / inference_sampling_rate`` s; each output sample is the mean of the
    predictions of the kernels in whose last ``aggregation_length`` seconds
    it lies. Output samples before ``kernel_length`` or in the last
    ``aggregation_length`` of the window are incomplete (returned as 0).

:func:`predict` calls the network in batches of ``max_batch_size``. A
server that calls it once per window (the Triton ensemble of backend
``tensorrt``) uses the two halves instead: :func:`network_input` (the
window as one batch) and :func:`noise_of_output` (the noise from the
network's output on it); same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]
# samples: every size the network takes is a multiple of this (its four
# stride-2 stages, utils.nn.architecture.DOWNSAMPLE_FACTOR)
SIZE_MULTIPLE = 16
# the largest sample the network's float32 input holds: beyond it a
# finite value is inf there (and garbage: no channel holds such values)
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Scheme:
    """How the network is applied to a window of witness data.

    Attributes:
        name: ``window`` or ``kernels``.
        sample_rate: Hz of the data.
        kernel_length: seconds of each kernel (``kernels`` only).
        inference_sampling_rate: kernels per second (``kernels`` only).
        aggregation_length: seconds at the end of each kernel that are
            averaged (``kernels`` only).
        max_batch_size: kernels per call of the network.
    """

    name: Literal["window", "kernels"] = "window"
    sample_rate: int = 4096
    kernel_length: float = 1.0
    inference_sampling_rate: float = 512.0
    aggregation_length: float = 0.5
    max_batch_size: int = 128

    def __post_init__(self) -> None:
        if self.name not in ("window", "kernels"):
            raise ValueError(f"unknown inference scheme {self.name!r}")
        if self.name == "kernels":
            stride = self.sample_rate / self.inference_sampling_rate
            if stride != int(stride):
                raise ValueError(
                    "sample_rate / inference_sampling_rate must be whole"
                )
            if not 0 < self.aggregation_length <= self.kernel_length:
                raise ValueError("0 < aggregation_length <= kernel_length")

    @property
    def kernel_size(self) -> int:
        return int(round(self.kernel_length * self.sample_rate))

    @property
    def stride_size(self) -> int:
        return int(round(self.sample_rate / self.inference_sampling_rate))

    @property
    def aggregation_size(self) -> int:
        return int(round(self.aggregation_length * self.sample_rate))


def predict(witness: np.ndarray, run: Runner, scheme: Scheme) -> np.ndarray:
    """Noise prediction for a window of scaled witnesses.

    Args:
        witness: ``(num_witnesses, size)`` float32, scaled.
        run: the network, batch in, batch out.
        scheme: how to apply it.

    Returns:
        ``(size,)`` scaled noise prediction.
    """
    if scheme.name == "window":
        return np.asarray(run(witness[None]))[0]
    return _predict_kernels(witness, run, scheme)


def kernel_starts(size: int, scheme: Scheme) -> np.ndarray:
    """First samples of the ``kernels`` scheme's kernels in a window.

    Raises:
        ValueError: the window is shorter than one kernel.
    """
    kernel = scheme.kernel_size
    if size < kernel:
        raise ValueError(f"window of {size} samples < kernel of {kernel}")
    return np.arange(0, size - kernel + 1, scheme.stride_size)


def network_input(witness: np.ndarray, scheme: Scheme) -> np.ndarray:
    """The whole window as one batch for the network (one call).

    Args:
        witness: ``(num_witnesses, size)`` float32.
        scheme: ``window``: the window itself; ``kernels``: every kernel.

    Returns:
        ``(1, C, size)`` or ``(num_kernels, C, kernel_size)`` float32.
    """
    if scheme.name == "window":
        return np.ascontiguousarray(witness[None], dtype=np.float32)
    return _cut_kernels(
        witness, scheme, len(kernel_starts(witness.shape[-1], scheme))
    )


def noise_of_output(
    output: np.ndarray, size: int, scheme: Scheme
) -> np.ndarray:
    """The noise of a window from the network's output on
    :func:`network_input` of it.

    Args:
        output: ``(batch, item_size)`` network output.
        size: samples of the window.
        scheme: the scheme of the input.

    Returns:
        ``(size,)`` float32 (``kernels``: incomplete samples are 0).
    """
    if scheme.name == "window":
        return np.asarray(output[0], dtype=np.float32)
    total, count = np.zeros(size), np.zeros(size)
    _add_kernels(total, count, kernel_starts(size, scheme), output, scheme)
    return _mean_of_complete(total, count, scheme)


def _add_kernels(
    total: np.ndarray,
    count: np.ndarray,
    starts: np.ndarray,
    preds: np.ndarray,
    scheme: Scheme,
) -> None:
    kernel, agg = scheme.kernel_size, scheme.aggregation_size
    for start, pred in zip(starts, preds, strict=True):
        end = start + kernel
        total[end - agg : end] += pred[kernel - agg :]
        count[end - agg : end] += 1


def _mean_of_complete(
    total: np.ndarray, count: np.ndarray, scheme: Scheme
) -> np.ndarray:
    out = np.zeros(total.shape[-1])
    # complete where every kernel that should cover a sample exists
    complete = count >= max(1, scheme.aggregation_size // scheme.stride_size)
    out[complete] = total[complete] / count[complete]
    return out.astype(np.float32)


def _predict_kernels(
    witness: np.ndarray, run: Runner, scheme: Scheme
) -> np.ndarray:
    size = witness.shape[-1]
    starts = kernel_starts(size, scheme)
    total = np.zeros(size)
    count = np.zeros(size)
    for i in range(0, len(starts), scheme.max_batch_size):
        batch_starts = starts[i : i + scheme.max_batch_size]
        batch = _cut_kernels(witness, scheme, len(batch_starts), first=i)
        _add_kernels(
            total, count, batch_starts, np.asarray(run(batch)), scheme
        )
    return _mean_of_complete(total, count, scheme)


def _cut_kernels(
    witness: np.ndarray, scheme: Scheme, number: int, first: int = 0
) -> np.ndarray:
    """Kernels ``first .. first + number - 1`` of a window as one batch
    ``(number, C, kernel_size)`` float32, in one vectorised copy (the
    production call's 769 kernels are 216 MiB: a copy per kernel took
    twice as long)."""
    kernel, stride = scheme.kernel_size, scheme.stride_size
    every = np.lib.stride_tricks.sliding_window_view(witness, kernel, axis=-1)
    view = every[
        :, first * stride : (first + number - 1) * stride + 1 : stride
    ]
    return np.ascontiguousarray(view.transpose(1, 0, 2), dtype=np.float32)
