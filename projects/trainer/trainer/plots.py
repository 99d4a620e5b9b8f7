"""The plots of a training run (matplotlib figures drawn without a
display, not through pyplot: no global state shared between threads).

``loss.png``: training and validation loss per epoch, with the learning
rate; ``asd.png``: validation ASD of raw and cleaned strain around the band.

matplotlib is imported when the first run is plotted, not at start-up
(~1 s of a restart on a 2-core machine).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from utils.signal import psd

ASD_MARGIN = 8.0  # Hz shown on each side of the band


def plot_loss(history: list[dict], path: Path, title: str) -> None:
    """Loss curves (log scale) and learning rate per epoch."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax.plot(
        epochs,
        [h["valid_loss"] for h in history],
        "s-",
        label="validation",
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("in-band ASD ratio loss")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    lr_ax = ax.twinx()
    lr_ax.step(
        epochs, [h["lr"] for h in history], "k:", where="mid", label="lr"
    )
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_yscale("log")
    ax.legend(loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_asd(
    raw: np.ndarray,
    cleaned: np.ndarray,
    sample_rate: int,
    band: tuple[float, float],
    path: Path,
    title: str,
) -> None:
    """ASD of raw vs cleaned strain from ``band[0] - 8`` to ``band[1] + 8``
    Hz, band shaded."""
    freqs, p_raw = psd(raw, sample_rate)
    _, p_clean = psd(cleaned, sample_rate)
    low, high = band[0] - ASD_MARGIN, band[1] + ASD_MARGIN
    keep = (freqs >= low) & (freqs <= high)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.semilogy(freqs[keep], np.sqrt(p_raw[keep]), label="raw")
    ax.semilogy(freqs[keep], np.sqrt(p_clean[keep]), label="cleaned")
    ax.axvspan(*band, color="grey", alpha=0.2, label="target band")
    ax.set_xlabel("frequency [Hz]")
    ax.set_ylabel(r"ASD [1/$\sqrt{\mathrm{Hz}}$]")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
