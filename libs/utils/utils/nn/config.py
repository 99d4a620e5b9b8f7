"""Hyper-parameters of DeepClean training (:func:`utils.nn.train.train`)."""

from __future__ import annotations

from dataclasses import dataclass

from utils.fields import BandFields
from utils.fields import TrainingFields
from utils.nn.architecture import DOWN_CHANNELS
from utils.nn.architecture import DOWNSAMPLE_FACTOR
from utils.settings import check_rules


@dataclass(frozen=True)
class TrainConfig(TrainingFields, BandFields):
    """How to train.

    The fields of :class:`utils.fields.BandFields` and
    :class:`utils.fields.TrainingFields` are the settings of the same names
    of the services that train (``trainer --help``, ``reprocess --help``),
    their one home; this class only checks that they fit together. The
    others are fixed here:

    Attributes:
        fftlength: seconds per Welch segment of the loss.
        overlap: seconds of overlap of those segments.
        channels: widths of the network's down-sampling blocks.
        seed: seeds initial weights and kernel order (None: random).
    """

    fftlength: float = 2.0
    overlap: float = 1.0
    channels: tuple[int, ...] = DOWN_CHANNELS
    seed: int | None = None

    def __post_init__(self) -> None:
        check_rules(self, self.training_rules())
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

    @property
    def kernel_size(self) -> int:
        return int(self.kernel_length * self.sample_rate)

    @property
    def stride_size(self) -> int:
        return int(self.kernel_stride * self.sample_rate)
