"""The network's contracts and its on-disk form (weights + scalers)."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import FEW_WITNESSES
from conftest import STRAIN
from utils.errors import ModelError
from utils.inference import SIZE_MULTIPLE
from utils.nn.architecture import DOWNSAMPLE_FACTOR
from utils.nn.architecture import DeepClean
from utils.nn.architecture import count_parameters
from utils.nn.checkpoint import META_FILE
from utils.nn.checkpoint import WEIGHTS_FILE
from utils.nn.checkpoint import ModelMeta
from utils.nn.checkpoint import load_model
from utils.nn.checkpoint import save_model

RATE = 4096


def _trained_like(num_witnesses: int) -> DeepClean:
    """A network with non-trivial weights, BatchNorm statistics and
    scalers (as after training)."""
    torch.manual_seed(0)
    model = DeepClean(num_witnesses)
    model.train()
    with torch.no_grad():
        for _ in range(3):  # moves the BatchNorm running statistics
            model.net(torch.randn(2, num_witnesses, RATE))
        model.witness_mean.copy_(torch.randn(num_witnesses))
        model.witness_std.copy_(torch.rand(num_witnesses) + 0.5)
        model.strain_mean.fill_(3e-22)
        model.strain_std.fill_(2e-21)
    return model.eval()


def _meta() -> ModelMeta:
    return ModelMeta(
        STRAIN,
        FEW_WITNESSES,
        RATE,
        1400000000,
        1400000256,
        extra={"lr": 1e-4, "parent": "1399999744-1400000000"},
    )


def test_production_size_and_any_length() -> None:
    """~43k parameters (docs/architecture.md, "Production configuration");
    fully convolutional: any length divisible by SIZE_MULTIPLE, the one
    the cleaner, the exporter and the runners check, gives the same length
    back."""
    model = DeepClean(18).eval()
    assert 40_000 < count_parameters(model) < 46_000
    assert DOWNSAMPLE_FACTOR == SIZE_MULTIPLE == 16
    for size in (16, 4096, 3 * 4096 + 16 * 7):
        with torch.no_grad():
            out = model(torch.randn(2, 18, size))
        assert out.shape == (2, size)


def test_raw_in_raw_out() -> None:
    """forward = unscale(net(scale(witness))): scalers are in the model."""
    model = _trained_like(3)
    x = torch.randn(2, 3, RATE) * 7 + 2
    with torch.no_grad():
        scaled = (x - model.witness_mean[:, None]) / model.witness_std[:, None]
        expected = model.net(scaled) * model.strain_std + model.strain_mean
        torch.testing.assert_close(model(x), expected)


def test_round_trip_gives_equal_outputs(tmp_path) -> None:
    model = _trained_like(len(FEW_WITNESSES))
    save_model(model, _meta(), tmp_path)
    loaded, meta = load_model(tmp_path)
    assert meta == _meta()
    x = torch.randn(2, len(FEW_WITNESSES), 2 * RATE)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    for name in ("witness_mean", "witness_std", "strain_mean", "strain_std"):
        assert torch.equal(getattr(loaded, name), getattr(model, name))
    assert json.loads((tmp_path / META_FILE).read_text())["extra"]["lr"]
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def _not_data() -> None:
    """A function: pickling it stores code, which must never be loaded."""


def test_pickle_bearing_file_is_refused(tmp_path) -> None:
    model = _trained_like(len(FEW_WITNESSES))
    save_model(model, _meta(), tmp_path)
    state = torch.load(tmp_path / WEIGHTS_FILE, weights_only=True)
    state["hook"] = _not_data  # the earlier bug: a method saved
    torch.save(state, tmp_path / WEIGHTS_FILE)
    with pytest.raises(ModelError, match="weights"):
        load_model(tmp_path)


def test_wrong_shapes_are_refused(tmp_path) -> None:
    save_model(_trained_like(2), _meta(), tmp_path)  # meta says 3
    with pytest.raises(ModelError):
        load_model(tmp_path)


def test_missing_meta_is_a_model_error(tmp_path) -> None:
    with pytest.raises(ModelError, match=META_FILE):
        load_model(tmp_path)
