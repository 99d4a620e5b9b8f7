"""Hyper-parameters of DeepClean training (:func:`utils.nn.train.train`)."""

from __future__ import annotations

from dataclasses import dataclass

from utils.nn.architecture import DOWN_CHANNELS, DOWNSAMPLE_FACTOR


@dataclass(frozen=True)
class TrainConfig:
    """How to train (DESIGN.md §8 for production values).

    Attributes:
        sample_rate: Hz of the data.
        freq_low: lower edge of the target band, Hz.
        freq_high: upper edge of the target band, Hz.
        filter_order: Butterworth band-pass order of the target.
        kernel_length: seconds per training kernel.
        kernel_stride: seconds between training kernel starts.
        batch_size: kernels per optimiser step.
        lr: Adam learning rate from scratch.
        fine_tune_decay: lr factor when warm-starting.
        weight_decay: Adam weight decay.
        max_epochs: most epochs.
        patience: epochs without a validation loss ``min_improvement``
            (relative) below the last such one before stopping.
        min_improvement: relative improvement that counts for ``patience``.
        lr_patience: epochs without improvement before the lr is cut.
        lr_factor: factor of each lr cut.
        valid_fraction: last part of the data kept for validation.
        fftlength: seconds per Welch segment of the loss.
        overlap: seconds of overlap of those segments.
        channels: widths of the network's down-sampling blocks.
        device: torch device, e.g. ``cpu`` or ``cuda``.
        seed: seeds initial weights and kernel order (None: random).
    """

    sample_rate: int = 4096
    freq_low: float = 58.0
    freq_high: float = 62.0
    filter_order: int = 8
    kernel_length: float = 8.0
    kernel_stride: float = 0.0625
    batch_size: int = 256
    lr: float = 1e-3
    fine_tune_decay: float = 0.1
    weight_decay: float = 1e-5
    max_epochs: int = 50
    patience: int = 5
    min_improvement: float = 0.0
    lr_patience: int = 2
    lr_factor: float = 0.5
    valid_fraction: float = 0.25
    fftlength: float = 2.0
    overlap: float = 1.0
    channels: tuple[int, ...] = DOWN_CHANNELS
    device: str = "cpu"
    seed: int | None = None

    def __post_init__(self) -> None:
        kernel = self.kernel_length * self.sample_rate
        if kernel != int(kernel) or int(kernel) % DOWNSAMPLE_FACTOR:
            raise ValueError(
                f"kernel_length {self.kernel_length} s must be a whole "
                f"multiple of {DOWNSAMPLE_FACTOR} samples"
            )
        stride = self.kernel_stride * self.sample_rate
        if stride != int(stride) or stride < 1:
            raise ValueError(
                f"kernel_stride {self.kernel_stride} s must be "
                "a whole number of samples"
            )
        if self.kernel_length < self.fftlength:
            raise ValueError("kernel_length must hold one loss FFT segment")
        if min(self.batch_size, self.max_epochs, self.patience) < 1:
            raise ValueError("batch_size, max_epochs, patience must be >= 1")
        if not (0 < self.fine_tune_decay <= 1 and 0 < self.lr_factor < 1):
            raise ValueError("fine_tune_decay in (0, 1], lr_factor in (0, 1)")
        if not (0 < self.valid_fraction < 1 and 0 <= self.min_improvement < 1):
            raise ValueError("valid_fraction, min_improvement in (0, 1)")

    @property
    def kernel_size(self) -> int:
        return int(self.kernel_length * self.sample_rate)

    @property
    def stride_size(self) -> int:
        return int(self.kernel_stride * self.sample_rate)
