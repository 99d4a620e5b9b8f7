"""The DeepClean training loop (used by the trainer service and benchmarks).

From one raw :class:`~utils.nn.data.Stretch`: the strain is band-passed to
the band with its margins (``filter_band``: the target), the last
``valid_fraction`` is kept for validation, scalers are fitted on the rest,
and the network is trained in scaled units with Adam on the ASD-ratio loss
over that band
(:class:`~utils.nn.loss.AsdRatioLoss`), ``ReduceLROnPlateau`` on the
validation loss and early stopping after ``patience`` epochs without
improvement; the best weights are returned (a warm start's own, if no epoch
beats them). A warm start copies the
previous network and multiplies the learning rate by ``fine_tune_decay``.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Callable

import numpy as np
import torch

from utils.errors import ModelError
from utils.nn.architecture import DeepClean
from utils.nn.config import TrainConfig
from utils.nn.data import KernelSampler
from utils.nn.data import Stretch
from utils.nn.data import fit_scalers
from utils.nn.data import tile_kernels
from utils.nn.loss import AsdRatioLoss
from utils.signal import bandpass

__all__ = ["TrainConfig", "TrainResult", "train"]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        model: the best epoch's network (CPU, eval mode, scalers set).
        history: one dict per epoch: epoch, train_loss, valid_loss, lr,
            seconds (wall), cpu_seconds (of the training thread).
        initial_valid_loss: validation loss before the first epoch.
        best_epoch: epoch of the best validation loss (0: the start).
        best_valid_loss: that loss.
        lr: the starting learning rate used.
        warm_start: whether it started from a previous network.
        interrupted: ``stop`` ended it before convergence.
        valid: the raw validation data.
        flat_witnesses: indices of witnesses found flat.
    """

    model: DeepClean
    history: list[dict] = field(default_factory=list)
    initial_valid_loss: float = math.nan
    best_epoch: int = 0
    best_valid_loss: float = math.inf
    lr: float = 0.0
    warm_start: bool = False
    interrupted: bool = False
    valid: Stretch | None = None
    flat_witnesses: list[int] = field(default_factory=list)


def _tensors(
    model: DeepClean, stretch: Stretch, target: np.ndarray, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled float32 witness ``(C, size)`` and target ``(size,)``."""
    with torch.no_grad():  # on the model's device, where its scalers are
        witness = torch.as_tensor(stretch.witness, device=device)
        scaled = model.scale_strain(torch.as_tensor(target, device=device))
        return model.scale_witness(witness).float(), scaled.float()


class _Session:
    """Model, data, optimiser and schedule of one run."""

    def __init__(
        self, stretch: Stretch, config: TrainConfig, init: DeepClean | None
    ) -> None:
        self.config = c = config
        band = c.filter_band  # the band and its margins (see BandFields)
        target = np.ascontiguousarray(
            bandpass(stretch.strain, *band, c.sample_rate, c.filter_order)
        )
        train_part, self.valid = stretch.split(c.valid_fraction)
        cut = train_part.strain.shape[-1]
        if c.seed is not None:
            torch.manual_seed(c.seed)
        self.model = DeepClean(stretch.witness.shape[0], c.channels)
        if init is not None:
            if init.num_witnesses != self.model.num_witnesses:
                raise ModelError(
                    f"cannot warm-start a {self.model.num_witnesses}-witness"
                    f" network from one with {init.num_witnesses}"
                )
            self.model.load_state_dict(init.state_dict())
        self.flat = fit_scalers(
            self.model, train_part.witness, target[:cut], init
        )
        self.model.to(c.device)
        x, y = _tensors(self.model, train_part, target[:cut], c.device)
        self.x_valid, self.y_valid = _tensors(
            self.model, self.valid, target[cut:], c.device
        )
        seed = c.seed if c.seed is not None else time.time_ns() % 2**31
        self.sampler = KernelSampler(
            x,
            y,
            c.kernel_size,
            c.stride_size,
            c.batch_size,
            torch.Generator().manual_seed(seed),
        )
        self.loss_fn = AsdRatioLoss(
            c.sample_rate, *band, c.fftlength, c.overlap
        ).to(c.device)
        self.lr = c.lr * (c.fine_tune_decay if init is not None else 1.0)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.lr, weight_decay=c.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=c.lr_factor, patience=c.lr_patience
        )
        self.train_duration = train_part.duration

    def epoch(self, stop: Callable[[], bool] | None) -> float | None:
        """One pass over the kernels: mean loss (None if stopped)."""
        self.model.train()
        total, count = 0.0, 0
        for witness, target in self.sampler:
            if stop is not None and stop():
                return None
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model.net(witness), target)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(witness)
            count += len(witness)
        return total / count

    def validate(self) -> float:
        """Mean loss over non-overlapping validation kernels."""
        self.model.eval()
        size, batch = self.config.kernel_size, self.config.batch_size
        kernels, targets = tile_kernels(self.x_valid, self.y_valid, size)
        if len(kernels) == 0:
            raise ValueError("validation data shorter than one kernel")
        total = 0.0
        with torch.no_grad():
            for i in range(0, len(kernels), batch):
                x, y = kernels[i : i + batch], targets[i : i + batch]
                total += float(self.loss_fn(self.model.net(x), y)) * len(x)
        return total / len(kernels)


def train(
    stretch: Stretch,
    config: TrainConfig,
    init: DeepClean | None = None,
    stop: Callable[[], bool] | None = None,
    label: str = "",
) -> TrainResult:
    """Train DeepClean on one stretch.

    Args:
        stretch: raw data at ``config.sample_rate``.
        config: hyper-parameters.
        init: previous network to warm-start from (not modified).
        stop: polled between batches; True ends training early.
        label: names the run in log messages.

    Returns:
        The best network and its history.

    Raises:
        ModelError: the loss became non-finite or ``init`` does not fit.
        ValueError: the stretch is too short for the configuration.
    """
    session = _Session(stretch, config, init)
    result = TrainResult(
        session.model,
        lr=session.lr,
        warm_start=init is not None,
        valid=session.valid,
        flat_witnesses=session.flat,
        initial_valid_loss=session.validate(),
    )
    logger.info(
        "%s: %s on %d s (%d kernels of %g s per epoch), validating on %d s,"
        " lr %.2e; initial valid loss %.4f",
        label,
        "warm start" if init else "from scratch",
        session.train_duration,
        session.sampler.num_kernels,
        config.kernel_length,
        session.valid.duration,
        session.lr,
        result.initial_valid_loss,
    )
    # the starting network (a warm start) is kept unless an epoch beats it
    best_state = copy.deepcopy(session.model.state_dict())
    result.best_valid_loss = reference = result.initial_valid_loss
    improved_epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        start, cpu_start = time.monotonic(), time.thread_time()
        train_loss = session.epoch(stop)
        if train_loss is None:
            result.interrupted = True
            logger.warning("%s: stopped during epoch %d", label, epoch)
            break
        if not math.isfinite(train_loss):
            raise ModelError(
                f"{label}: training loss {train_loss} at epoch "
                f"{epoch}; giving up"
            )
        valid_loss = session.validate()
        lr = session.optimizer.param_groups[0]["lr"]
        session.scheduler.step(valid_loss)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "valid_loss": valid_loss,
            "lr": lr,
            "seconds": time.monotonic() - start,
            "cpu_seconds": time.thread_time() - cpu_start,
        }
        result.history.append(record)
        logger.info(
            "%s: epoch %d/%d train %.4f valid %.4f lr %.2e %.1f s "
            "(%.1f s CPU)",
            label,
            epoch,
            config.max_epochs,
            train_loss,
            valid_loss,
            lr,
            record["seconds"],
            record["cpu_seconds"],
        )
        if valid_loss < result.best_valid_loss:
            result.best_valid_loss, result.best_epoch = valid_loss, epoch
            best_state = copy.deepcopy(session.model.state_dict())
        if valid_loss < reference * (1 - config.min_improvement):
            reference, improved_epoch = valid_loss, epoch
        elif epoch - improved_epoch >= config.patience:
            logger.info(
                "%s: early stop at epoch %d (best %d, valid %.4f)",
                label,
                epoch,
                result.best_epoch,
                result.best_valid_loss,
            )
            break
    session.model.load_state_dict(best_state)
    result.model = session.model.cpu().eval()
    return result
