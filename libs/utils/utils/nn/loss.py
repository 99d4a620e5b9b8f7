"""The DeepClean training loss: in-band ASD ratio of residual to target.

``loss = mean over (kernel, in-band bin) of sqrt(P_res(f) / P_target(f))``
with ``P`` the Welch PSD (Hann window, ``fftlength`` segments overlapping by
``overlap`` seconds, mean average, constant detrend) and ``residual = target
- prediction``. A zero prediction gives exactly 1; a perfect one gives 0.
Bins whose target power is negligible (below ``floor`` times the mean
in-band target power of the batch, e.g. zero-filled dropped seconds) are
masked *before* the ratio, so they never yield NaN or a NaN gradient.

Shapes: ``prediction`` and ``target`` are ``(batch, size)`` with ``size >=
fftlength * sample_rate``.
"""

from __future__ import annotations

import torch
from torch import nn

RATIO_FLOOR = 1e-12  # smallest PSD ratio: keeps d sqrt(x)/dx finite at 0


def welch(
    x: torch.Tensor, sample_rate: float, nperseg: int, noverlap: int
) -> torch.Tensor:
    """Differentiable one-sided Welch PSD along the last axis.

    Matches ``scipy.signal.welch(x, fs, "hann", nperseg, noverlap,
    average="mean")``.

    Args:
        x: ``(..., size)`` with ``size >= nperseg``.
        sample_rate: Hz.
        nperseg: samples per segment.
        noverlap: samples shared by consecutive segments.

    Returns:
        ``(..., nperseg // 2 + 1)`` PSD in units of ``x**2 / Hz``.

    Raises:
        ValueError: ``x`` is shorter than one segment.
    """
    if x.shape[-1] < nperseg:
        raise ValueError(
            f"need at least {nperseg} samples for the PSD, got {x.shape[-1]}"
        )
    window = torch.hann_window(
        nperseg, periodic=True, dtype=x.dtype, device=x.device
    )
    segments = x.unfold(-1, nperseg, nperseg - noverlap)
    segments = segments - segments.mean(-1, keepdim=True)
    spectrum = torch.fft.rfft(segments * window, dim=-1)
    power = spectrum.real**2 + spectrum.imag**2
    scale = torch.full((power.shape[-1],), 2.0, dtype=x.dtype, device=x.device)
    scale[0] = 1.0
    if nperseg % 2 == 0:
        scale[-1] = 1.0  # the Nyquist bin is not doubled
    power = power * scale / (sample_rate * (window**2).sum())
    return power.mean(-2)


class AsdRatioLoss(nn.Module):
    """In-band ASD ratio of ``target - prediction`` to ``target``.

    Args:
        sample_rate: Hz of the data.
        freq_low: lower edge of the band, Hz (inclusive).
        freq_high: upper edge of the band, Hz (inclusive).
        fftlength: seconds per Welch segment.
        overlap: seconds shared by consecutive segments.
        floor: bins with target power below ``floor`` times the batch's
            mean in-band target power are left out.

    Raises:
        ValueError: the band holds no frequency bin or the segments do not
            fit the sample rate.
    """

    def __init__(
        self,
        sample_rate: float,
        freq_low: float,
        freq_high: float,
        fftlength: float = 2.0,
        overlap: float = 1.0,
        floor: float = 1e-6,
    ) -> None:
        super().__init__()
        self.sample_rate = float(sample_rate)
        self.nperseg = int(round(fftlength * sample_rate))
        self.noverlap = int(round(overlap * sample_rate))
        if not 0 <= self.noverlap < self.nperseg:
            raise ValueError(
                f"overlap {overlap} s must be shorter than fftlength "
                f"{fftlength} s"
            )
        freqs = torch.fft.rfftfreq(self.nperseg, 1 / self.sample_rate)
        band = (freqs >= freq_low) & (freqs <= freq_high)
        if not band.any():
            raise ValueError(
                f"no frequency bin in {freq_low}-{freq_high} Hz with "
                f"{fftlength} s segments"
            )
        self.register_buffer("band", band, persistent=False)
        self.floor = floor

    def psd(self, x: torch.Tensor) -> torch.Tensor:
        """In-band Welch PSD, ``(batch, num_band_bins)``."""
        p = welch(x, self.sample_rate, self.nperseg, self.noverlap)
        return p[..., self.band]

    def forward(
        self, prediction: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """Scalar loss; 0 (with a gradient) when no bin has target power."""
        residual = target - prediction
        p_target = self.psd(target)
        p_residual = self.psd(residual)
        threshold = self.floor * p_target.detach().mean()
        valid = p_target > threshold
        if not bool(valid.any()):
            return (residual * 0).sum()
        ratio = p_residual[valid] / p_target[valid]
        return ratio.clamp_min(RATIO_FLOOR).sqrt().mean()
