"""The ASD-ratio loss: Welch in torch, its values and its gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal as sp_signal

from conftest import GPS
from utils.nn.architecture import DeepClean
from utils.nn.loss import AsdRatioLoss
from utils.nn.loss import welch
from utils.nn.simdata import simulate_stretch
from utils.signal import bandpass

RATE = 4096
DURATION = 16  # s


@pytest.fixture(scope="module")
def kernels(sim):
    """Simulated band-passed strain and truth, as 4 kernels of 4 s."""
    stretch, truth = simulate_stretch(sim, GPS, DURATION)
    target = bandpass(stretch.strain, 58.0, 62.0, RATE)
    truth_bp = bandpass(truth, 58.0, 62.0, RATE)
    scale = np.std(target)

    def cut(x):
        return torch.as_tensor(x / scale).reshape(4, 4 * RATE)

    return cut(target), cut(truth_bp)


@pytest.fixture()
def loss_fn() -> AsdRatioLoss:
    return AsdRatioLoss(RATE, 58.0, 62.0)


def test_welch_matches_scipy() -> None:
    x = np.random.default_rng(0).standard_normal((3, 5 * RATE))
    _, expected = sp_signal.welch(
        x, RATE, "hann", 2 * RATE, RATE, average="mean"
    )
    got = welch(torch.as_tensor(x), RATE, 2 * RATE, RATE).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_zero_prediction_is_one(kernels, loss_fn) -> None:
    target, _ = kernels
    loss = loss_fn(torch.zeros_like(target), target)
    assert float(loss.detach()) == pytest.approx(1.0, abs=1e-6)


def test_half_prediction_is_half(kernels, loss_fn) -> None:
    target, _ = kernels
    # residual = target / 2 in every bin: the ASD ratio is exactly 1/2
    assert float(loss_fn(target / 2, target)) == pytest.approx(0.5, 1e-6)


def test_truth_prediction_leaves_background(kernels, loss_fn) -> None:
    """Predicting the coupled noise leaves the background: the loss is the
    in-band ASD ratio background / strain, well below 1."""
    target, truth = kernels
    loss = float(loss_fn(truth, target))
    background = (target - truth).numpy()
    _, p_bg = sp_signal.welch(background, RATE, nperseg=2 * RATE)
    freqs, p_all = sp_signal.welch(target.numpy(), RATE, nperseg=2 * RATE)
    band = (freqs >= 58) & (freqs <= 62)
    expected = np.mean(np.sqrt(p_bg[:, band] / p_all[:, band]))
    assert loss == pytest.approx(expected, rel=1e-4)
    assert loss < 0.5


def test_empty_bins_are_masked(kernels, loss_fn) -> None:
    """A zero-filled (dropped) kernel is left out: finite loss and
    gradient, equal to the loss of the other kernels."""
    target, _ = kernels
    with_gap = target.clone()
    with_gap[1] = 0.0
    prediction = (0.3 * with_gap).requires_grad_(True)
    loss = loss_fn(prediction, with_gap)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.all(torch.isfinite(prediction.grad))
    assert float(loss.detach()) == pytest.approx(0.7, abs=1e-6)
    silent = torch.zeros_like(target, requires_grad=True)
    empty = loss_fn(silent, torch.zeros_like(target))
    empty.backward()
    assert float(empty.detach()) == 0.0
    assert torch.all(silent.grad == 0)


def test_perfect_prediction_has_finite_gradient(kernels, loss_fn) -> None:
    target, _ = kernels
    prediction = target.clone().requires_grad_(True)
    loss = loss_fn(prediction, target)
    loss.backward()
    assert float(loss.detach()) < 1e-5
    assert torch.all(torch.isfinite(prediction.grad))


def test_gradient_reaches_every_parameter(kernels, loss_fn) -> None:
    target, _ = kernels
    torch.manual_seed(0)
    model = DeepClean(3)
    witness = torch.randn(4, 3, 4 * RATE)
    loss = loss_fn(model.net(witness), target.float())
    loss.backward()
    for name, parameter in model.net.named_parameters():
        assert parameter.grad is not None, name
        assert torch.all(torch.isfinite(parameter.grad)), name
        assert parameter.grad.abs().sum() > 0, name


def test_band_without_bins_is_refused() -> None:
    with pytest.raises(ValueError, match="no frequency bin"):
        AsdRatioLoss(RATE, 60.1, 60.3)
