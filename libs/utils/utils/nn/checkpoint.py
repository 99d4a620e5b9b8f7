"""The on-disk form of a trained network.

A training run folder holds ``weights.pt`` (a ``state_dict`` of
:class:`~utils.nn.architecture.DeepClean`: tensors only, loaded with
``weights_only=True`` so no pickled code ever runs) and ``model.json``
(channels, sample rate, architecture, training span). Both are written
atomically (:mod:`utils.atomic`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import torch

from utils.atomic import atomic_path
from utils.atomic import write_text
from utils.errors import ModelError
from utils.nn.architecture import DOWN_CHANNELS
from utils.nn.architecture import DeepClean

WEIGHTS_FILE = "weights.pt"
META_FILE = "model.json"


@dataclass(frozen=True)
class ModelMeta:
    """What a reader needs to rebuild and use a network.

    Attributes:
        strain_channel: the target channel.
        witness_channels: input channels, in order.
        sample_rate: Hz of the data it was trained on.
        gps_start: first GPS second of its training data.
        gps_stop: end (exclusive) of its training data.
        channels: widths of the down-sampling blocks.
        extra: anything else (validation loss, lr, warm start parent ...).
    """

    strain_channel: str
    witness_channels: tuple[str, ...]
    sample_rate: int
    gps_start: int
    gps_stop: int
    channels: tuple[int, ...] = DOWN_CHANNELS
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> "ModelMeta":
        raw = json.loads(text)
        raw["witness_channels"] = tuple(raw["witness_channels"])
        raw["channels"] = tuple(raw.get("channels", DOWN_CHANNELS))
        return cls(**raw)


def save_model(model: DeepClean, meta: ModelMeta, directory: Path) -> None:
    """Write ``weights.pt`` and ``model.json`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        torch.save(state, tmp)
    text = json.dumps(asdict(meta), indent=2, sort_keys=True)
    write_text(directory / META_FILE, text)


def load_meta(directory: Path) -> ModelMeta:
    path = Path(directory) / META_FILE
    try:
        return ModelMeta.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"cannot read model metadata {path}: {exc}") from exc


def load_model(directory: Path) -> tuple[DeepClean, ModelMeta]:
    """Rebuild the network of a run folder (eval mode, CPU)."""
    meta = load_meta(directory)
    path = Path(directory) / WEIGHTS_FILE
    model = DeepClean(len(meta.witness_channels), meta.channels)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # torch raises many kinds here
        raise ModelError(f"cannot load weights {path}: {exc}") from exc
    model.eval()
    return model, meta
