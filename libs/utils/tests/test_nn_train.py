"""The training loop on simulated data: it learns, warm-starts, stops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import GPS
from utils.nn.data import KernelSampler
from utils.nn.data import Stretch
from utils.nn.evaluate import clean
from utils.nn.simdata import simulate_stretch
from utils.nn.train import TrainConfig
from utils.nn.train import train
from utils.signal import asd_ratio
from utils.signal import bandpass

RATE = 4096
DURATION = 48  # s: 36 s to train on, 12 s to validate
# small and fast; the service's values live in [tool.typeo.scripts.trainer]
CONFIG = TrainConfig(
    sample_rate=RATE,
    freq_low=58.0,
    freq_high=62.0,
    filter_order=8,
    filter_margin=0.5,
    kernel_length=2.0,
    kernel_stride=0.25,
    batch_size=8,
    lr=1e-3,
    fine_tune_decay=0.1,
    weight_decay=1e-5,
    max_epochs=3,
    patience=2,
    min_improvement=0.0,
    lr_patience=2,
    lr_factor=0.5,
    valid_fraction=0.25,
    device="cpu",
    seed=0,
)


@pytest.fixture(scope="module")
def data(small_sim):
    """Three witnesses, two coupled: learnt in a few epochs."""
    torch.set_num_threads(1)
    return simulate_stretch(small_sim, GPS, DURATION)


@pytest.fixture(scope="module")
def trained(data):
    return train(data[0], CONFIG, label="test")


def test_training_learns_the_coupling(data, trained) -> None:
    """The validation loss falls, and cleaning the validation data lowers
    the in-band ASD while leaving other frequencies alone."""
    stretch, _ = data
    assert trained.initial_valid_loss == pytest.approx(1.0, abs=0.05)
    assert trained.best_valid_loss < 0.5 * trained.initial_valid_loss
    assert [h["epoch"] for h in trained.history] == [1, 2, 3]
    valid = trained.valid
    assert valid.gps_start == GPS + 36 and valid.duration == 12
    cleaned = clean(trained.model, valid.witness, valid.strain, RATE, 58, 62)
    assert asd_ratio(cleaned, valid.strain, RATE, 58.0, 62.0) < 0.5
    outside = asd_ratio(cleaned, valid.strain, RATE, 20.0, 50.0)
    assert outside == pytest.approx(1.0, abs=0.01)


def test_scalers_come_from_the_training_part(data, trained) -> None:
    stretch, _ = data
    cut = 36 * RATE
    model = trained.model
    np.testing.assert_allclose(
        model.witness_mean.numpy(),
        stretch.witness[:, :cut].mean(axis=-1),
        rtol=1e-5,
        atol=1e-6,
    )
    target = bandpass(stretch.strain, 58.0, 62.0, RATE)[:cut]
    assert float(model.strain_std) == pytest.approx(np.std(target), 1e-5)


def test_warm_start_loads_weights_and_lowers_lr(data, trained) -> None:
    """Interrupted before its first step, a warm start returns exactly the
    previous network's weights; its learning rate is lr x decay and its
    starting loss is the previous network's, far below a fresh one's."""
    stretch, _ = data
    frozen = train(stretch, CONFIG, init=trained.model, stop=lambda: True)
    assert frozen.interrupted and frozen.warm_start
    for (name, a), b in zip(
        frozen.model.net.state_dict().items(),
        trained.model.net.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b), name
    assert frozen.lr == pytest.approx(CONFIG.lr * CONFIG.fine_tune_decay)
    one = TrainConfig(**{**CONFIG.__dict__, "max_epochs": 1})
    warm = train(stretch, one, init=trained.model)
    assert warm.history[0]["lr"] == pytest.approx(frozen.lr)
    assert warm.initial_valid_loss == pytest.approx(
        trained.best_valid_loss, rel=0.05
    )
    assert trained.model.training is False  # the init was not modified


def test_dead_witness_keeps_its_previous_scaler(data, trained) -> None:
    stretch, _ = data
    witness = stretch.witness.copy()
    witness[2] = 0.25  # went dead
    dead = Stretch(stretch.gps_start, RATE, witness, stretch.strain)
    result = train(dead, CONFIG, init=trained.model, stop=lambda: True)
    assert result.flat_witnesses == [2]
    for name in ("witness_mean", "witness_std"):
        kept = getattr(result.model, name)[2]
        assert kept == getattr(trained.model, name)[2], name
    fresh = train(dead, CONFIG, stop=lambda: True)
    assert float(fresh.model.witness_std[2]) == 1.0  # never divides by 0


def test_kernels_are_crops_within_the_stretch() -> None:
    """Every kernel is a contiguous crop: its samples are consecutive."""
    size, kernel, stride = 10_000, 256, 100
    ramp = torch.arange(size, dtype=torch.float64)
    sampler = KernelSampler(
        ramp[None].repeat(2, 1),
        ramp,
        kernel,
        stride,
        7,
        torch.Generator().manual_seed(0),
    )
    starts = []
    for witness, target in sampler:
        assert witness.shape[1:] == (2, kernel)
        assert torch.all(torch.diff(target, dim=-1) == 1)
        assert torch.equal(witness[:, 0], target)
        starts += target[:, 0].tolist()
    assert len(starts) == sampler.num_kernels == len(set(starts))
    assert max(starts) + kernel <= size
