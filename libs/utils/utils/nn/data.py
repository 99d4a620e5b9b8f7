"""Training data: one contiguous stretch, its scalers and its kernels.

A :class:`Stretch` holds raw data at the network's sample rate: witnesses
``(num_witnesses, size)`` and strain ``(size,)``, starting at an integer GPS
second. Training uses random crops (*kernels*) of ``kernel_size`` samples
that never leave their stretch; stretches are never joined.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from utils.nn.architecture import DeepClean
from utils.nn.datacheck import is_flat

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stretch:
    """Contiguous raw data.

    Attributes:
        gps_start: GPS second of the first sample.
        sample_rate: Hz.
        witness: ``(num_witnesses, size)`` raw witnesses.
        strain: ``(size,)`` raw strain.
    """

    gps_start: int
    sample_rate: int
    witness: np.ndarray
    strain: np.ndarray

    def __post_init__(self) -> None:
        size = self.strain.shape[-1]
        if self.witness.ndim != 2 or self.witness.shape[1] != size:
            raise ValueError(
                f"witness {self.witness.shape} does not match strain "
                f"{self.strain.shape}"
            )
        if size % self.sample_rate:
            raise ValueError(f"{size} samples are not whole seconds")

    @property
    def duration(self) -> int:
        """Whole seconds."""
        return self.strain.shape[-1] // self.sample_rate

    @property
    def gps_stop(self) -> int:
        return self.gps_start + self.duration

    def split(self, valid_fraction: float) -> tuple["Stretch", "Stretch"]:
        """The first ``1 - valid_fraction`` (training) and the rest
        (validation), cut at a whole second."""
        valid_length = int(round(self.duration * valid_fraction))
        if not 0 < valid_length < self.duration:
            raise ValueError(
                f"cannot keep {valid_fraction} of {self.duration} s "
                "for validation"
            )
        cut = (self.duration - valid_length) * self.sample_rate
        return (
            Stretch(
                self.gps_start,
                self.sample_rate,
                self.witness[:, :cut],
                self.strain[:cut],
            ),
            Stretch(
                self.gps_stop - valid_length,
                self.sample_rate,
                self.witness[:, cut:],
                self.strain[cut:],
            ),
        )


def fit_scalers(
    model: DeepClean,
    witness: np.ndarray,
    strain: np.ndarray,
    previous: DeepClean | None = None,
) -> list[int]:
    """Set the model's scaler buffers from training data.

    A flat (dead) witness keeps the scaler of ``previous`` when given,
    else gets mean = its value and std = 1, so it never divides by zero.

    Args:
        model: its buffers are overwritten.
        witness: ``(num_witnesses, size)`` raw training witnesses.
        strain: ``(size,)`` the training target (band-passed strain).
        previous: the network warm-started from, if any.

    Returns:
        Indices of the flat witnesses.
    """
    mean = witness.mean(axis=-1)
    std = witness.std(axis=-1)
    flat = [i for i, x in enumerate(witness) if is_flat(x)]
    for i in flat:
        if previous is not None:
            mean[i] = float(previous.witness_mean[i])
            std[i] = float(previous.witness_std[i])
        else:
            std[i] = 1.0
    strain_std = float(np.std(strain))
    if strain_std == 0.0:
        raise ValueError("the training target is flat; cannot scale it")
    with torch.no_grad():
        model.witness_mean.copy_(torch.as_tensor(mean))
        model.witness_std.copy_(torch.as_tensor(std))
        model.strain_mean.fill_(float(np.mean(strain)))
        model.strain_std.fill_(strain_std)
    return flat


class KernelSampler:
    """Batches of random kernels from one scaled stretch.

    Each epoch lays a grid of kernel starts ``stride`` samples apart with a
    random offset in ``[0, stride)``, and visits it in random order.

    Args:
        witness: ``(num_witnesses, size)`` scaled witnesses (tensor).
        target: ``(size,)`` scaled target (tensor).
        kernel_size: samples per kernel.
        stride: samples between kernel starts.
        batch_size: kernels per batch.
        generator: random source.
    """

    def __init__(
        self,
        witness: torch.Tensor,
        target: torch.Tensor,
        kernel_size: int,
        stride: int,
        batch_size: int,
        generator: torch.Generator,
    ) -> None:
        if witness.shape[-1] < kernel_size + stride:
            raise ValueError(
                f"{witness.shape[-1]} samples cannot hold kernels of "
                f"{kernel_size} every {stride}"
            )
        self.witness, self.target = witness, target
        self.kernel_size, self.stride = kernel_size, stride
        self.batch_size = batch_size
        self.generator = generator

    def __len__(self) -> int:
        return -(-self.num_kernels // self.batch_size)

    @property
    def num_kernels(self) -> int:
        size = self.witness.shape[-1] - self.stride + 1
        return (size - self.kernel_size) // self.stride + 1

    def __iter__(self):
        """Yield ``(witness (batch, C, kernel), target (batch, kernel))``."""
        offset = int(
            torch.randint(self.stride, (1,), generator=self.generator)
        )
        k, s = self.kernel_size, self.stride
        witness = self.witness[:, offset:].unfold(-1, k, s)  # (C, n, k)
        target = self.target[offset:].unfold(-1, k, s)  # (n, k)
        order = torch.randperm(self.num_kernels, generator=self.generator)
        for i in range(0, self.num_kernels, self.batch_size):
            index = order[i : i + self.batch_size].to(witness.device)
            yield witness[:, index].transpose(0, 1), target[index]


def tile_kernels(
    witness: torch.Tensor, target: torch.Tensor, kernel_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping kernels covering a (validation) stretch.

    Returns:
        ``(n, C, kernel_size)`` witnesses and ``(n, kernel_size)`` targets.
    """
    witness = witness.unfold(-1, kernel_size, kernel_size).transpose(0, 1)
    return witness, target.unfold(-1, kernel_size, kernel_size)
