"""DeepClean: a 1-D convolutional autoencoder (docs/architecture.md,
"Production configuration").

Input ``(batch, num_witnesses, size)`` witnesses, output ``(batch, size)``
predicted noise in strain; ``size`` must be divisible by 16 (four stride-2
stages). Fully convolutional, receptive field ~193 samples.
"""

from __future__ import annotations

import torch
from torch import nn

KERNEL_SIZE = 7
DOWN_CHANNELS = (8, 16, 32, 64)
DOWNSAMPLE_FACTOR = 2 ** len(DOWN_CHANNELS)  # 16


def _block(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm1d(channels), nn.ELU())


class DeepCleanNet(nn.Module):
    """The autoencoder on standard-scaled data.

    Args:
        num_witnesses: input channels.
        channels: output channels of the four down-sampling blocks.
    """

    def __init__(
        self, num_witnesses: int, channels: tuple[int, ...] = DOWN_CHANNELS
    ) -> None:
        super().__init__()
        k, p = KERNEL_SIZE, KERNEL_SIZE // 2
        self.input_conv = _block(
            nn.Conv1d(num_witnesses, num_witnesses, k, padding=p),
            num_witnesses,
        )
        down, in_channels = [], num_witnesses
        for out_channels in channels:
            down.append(
                _block(
                    nn.Conv1d(in_channels, out_channels, k, 2, padding=p),
                    out_channels,
                )
            )
            in_channels = out_channels
        self.downsampler = nn.Sequential(*down)
        up = []
        for out_channels in (*channels[-2::-1], num_witnesses):
            up.append(
                _block(
                    nn.ConvTranspose1d(
                        in_channels,
                        out_channels,
                        k,
                        2,
                        padding=p,
                        output_padding=1,
                    ),
                    out_channels,
                )
            )
            in_channels = out_channels
        self.upsampler = nn.Sequential(*up)
        self.output_conv = nn.Conv1d(num_witnesses, 1, k, padding=p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_conv(x)
        x = self.downsampler(x)
        x = self.upsampler(x)
        return self.output_conv(x)[:, 0]


class DeepClean(nn.Module):
    """The network with its scalers: raw witnesses in, raw noise out.

    The scalers are buffers, so they travel with the weights in one
    ``state_dict``: ``witness_mean``/``witness_std`` ``(num_witnesses,)``,
    ``strain_mean``/``strain_std`` scalars.
    """

    def __init__(
        self, num_witnesses: int, channels: tuple[int, ...] = DOWN_CHANNELS
    ) -> None:
        super().__init__()
        self.net = DeepCleanNet(num_witnesses, channels)
        self.register_buffer("witness_mean", torch.zeros(num_witnesses))
        self.register_buffer("witness_std", torch.ones(num_witnesses))
        self.register_buffer("strain_mean", torch.zeros(()))
        self.register_buffer("strain_std", torch.ones(()))

    @property
    def num_witnesses(self) -> int:
        return self.witness_mean.shape[0]

    def scale_witness(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.witness_mean[:, None]) / self.witness_std[:, None]

    def scale_strain(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.strain_mean) / self.strain_std

    def unscale_strain(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.strain_std + self.strain_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unscale_strain(self.net(self.scale_witness(x)))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
