"""Train-as-you-go (``model_source = "train``), as offline DeepClean did.

Each output file (a :class:`~reprocess.task.Chunk`) is one training
chunk, with two Dask tasks (:mod:`reprocess.task`):

1. training (:func:`train_network`): the chunk is read block by block as
   the cleaning reads it (pads, drops, tapers), its witnesses resampled by
   the cleaning's own :func:`~reprocess.cleaning.model_input` and its
   strain down-sampled to the model's rate; the longest stretch of seconds
   present, analysis ready and untapered is checked
   (:mod:`utils.nn.datacheck`) and DeepClean is trained on it with the
   trainer's loop (:func:`utils.nn.train.train`), warm-started from the
   previous chunk's network (learning rate times ``fine_tune_decay``); the
   first chunk starts from scratch. The command hands this
   :class:`Training` to the next chunk's training (a value, not a Dask
   dependency: a lost worker costs one task, not the chain), so the
   trainings run one after another while cleanings run beside them;
2. cleaning: the chunk cleaned with that network by the repository path's
   code (:func:`~reprocess.task.clean_chunk`): only the predictor differs.

A training that fails (unreadable input, too little ready data, data
refused, loss diverged) does not break the chain: its :class:`Training`
carries the reason and the last good network, the next chunk warm-starts
from that, and the chunk's cleaning fails naming the reason. A failed
training is not retried (it would fail the same way on the same data).

The output's version tag (``PRODUCTION_VERSION``) of a trained network is
the GPS start of the chunk it was trained on: > 0 (0 means "no model")
and it names the chunk. Each trained network is kept in
``<output>/models/<file stem>/`` (``weights.pt``, ``model.json``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from scipy.signal import resample_poly

from reprocess.cleaning import CleaningConfig
from reprocess.cleaning import drop_flags
from reprocess.cleaning import model_input
from reprocess.cleaning import ready_seconds
from reprocess.cleaning import taper_drops
from reprocess.reading import SpanData
from utils.errors import DataCheckError
from utils.nn.architecture import DeepClean
from utils.nn.checkpoint import ModelMeta
from utils.nn.checkpoint import save_model
from utils.nn.config import TrainConfig
from utils.nn.data import Stretch
from utils.nn.datacheck import CheckConfig
from utils.nn.datacheck import check_training_data
from utils.nn.train import train

logger = logging.getLogger(__name__)

Block = tuple[int, int, SpanData, SpanData]  # start, end, strain, witness


@dataclass(frozen=True)
class TrainingConfig:
    """How each chunk's network is trained.

    Attributes:
        train: the trainer's hyper-parameters.
        checks: the trainer's data checks.
        min_train_length: seconds of contiguous usable data needed.
        num_threads: torch threads of a task.
    """

    train: TrainConfig
    checks: CheckConfig
    min_train_length: int
    num_threads: int


@dataclass(frozen=True)
class Training:
    """What a chunk's training task hands on (to its cleaning and to the
    next chunk's training).

    Attributes:
        chunk: the output file trained on.
        tag: the version tag of its frames (the chunk's GPS start).
        model: the network trained on it; if its training failed, the
            last good one (None: none yet).
        source: the chunk whose training produced ``model``.
        parent: the chunk whose network this training started from
            (None: from scratch).
        error: why this chunk's training failed (None: it did not).
        figures: losses, learning rate, epochs, seconds.
    """

    chunk: str
    tag: int
    model: DeepClean | None
    source: str | None
    parent: str | None
    error: str | None
    figures: dict = field(default_factory=dict)

    def record(self) -> dict:
        """Provenance written with the chunk's figures."""
        return {
            "source": "train",
            "trained_on": self.chunk,
            "tag": self.tag,
            "parent": self.parent,
            **self.figures,
        }


def longest_run(mask: np.ndarray) -> tuple[int, int]:
    """``(first, length)`` of the longest run of True in ``mask``."""
    best, start = (0, 0), None
    for i, ok in enumerate([*mask.tolist(), False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - start > best[1]:
                best = (start, i - start)
            start = None
    return best


def training_stretch(
    gps: int,
    blocks: Iterable[Block],
    cleaning: CleaningConfig,
    min_length: int,
) -> Stretch:
    """The longest usable stretch of a chunk at the model's rate.

    Args:
        gps: GPS start of the chunk.
        blocks: its padded blocks, in order (``task.read_blocks``).
        cleaning: rates, channels, pad, taper.
        min_length: seconds needed.

    Raises:
        DataCheckError: no such stretch of ``min_length`` seconds.
    """
    fs, pad = cleaning.sample_rate, cleaning.pad_length
    down = cleaning.strain_rate // fs
    witnesses, strains, usable = [], [], []
    for _, _, strain, witness in blocks:
        flags = drop_flags(strain.present & witness.present)
        present, before, after = flags
        seconds = slice(pad, strain.duration - pad)
        samples = slice(pad * fs, (strain.duration - pad) * fs)
        x = model_input(witness, cleaning, flags)[:, samples]
        witnesses.append(x.astype(np.float32))
        raw = taper_drops(
            strain.data[cleaning.strain_channel],
            cleaning.strain_rate,
            cleaning,
            flags,
        )
        strains.append(resample_poly(raw, 1, down)[samples])
        ok = present & ~before & ~after & ready_seconds(strain, cleaning)
        usable.append(ok[seconds])
    first, length = longest_run(np.concatenate(usable))
    if length < min_length:
        raise DataCheckError(
            f"only {length} s of contiguous analysis-ready data from GPS "
            f"{gps}; {min_length} s needed to train"
        )
    cut = slice(first * fs, (first + length) * fs)
    return Stretch(
        gps + first,
        fs,
        np.concatenate(witnesses, axis=1)[:, cut],
        np.concatenate(strains)[cut],
    )


def train_network(
    name: str,
    gps: int,
    blocks: Iterable[Block],
    cleaning: CleaningConfig,
    config: TrainingConfig,
    previous: Training | None,
    models_dir: Path,
) -> Training:
    """Train on one chunk, warm-started from ``previous`` (module doc).

    Args:
        name: the chunk's output file name.
        gps: its GPS start (the tag of its frames).
        blocks: its padded blocks (``task.read_blocks``).
        cleaning: how it is read and cleaned.
        config: the training's settings.
        previous: the previous chunk's training (None: the first).
        models_dir: where the trained network is kept.

    Returns:
        The network, or the last good one with the reason of the failure.
    """
    torch.set_num_threads(config.num_threads)
    init = previous.model if previous is not None else None
    parent = previous.source if previous is not None else None
    try:
        training = _train(
            name, gps, blocks, cleaning, config, (init, parent), models_dir
        )
    except Exception as exc:  # any failure is this chunk's, named
        logger.exception("training on %s failed", name)
        reason = f"{type(exc).__name__}: {exc}"
        return Training(name, gps, init, parent, None, reason)
    logger.info(
        "%s: trained (%s), valid loss %.4f -> %.4f in %d epochs",
        name,
        f"warm from {parent}" if parent else "from scratch",
        training.figures["initial_valid_loss"],
        training.figures["best_valid_loss"],
        training.figures["epochs"],
    )
    return training


def _train(
    name: str,
    gps: int,
    blocks: Iterable[Block],
    cleaning: CleaningConfig,
    config: TrainingConfig,
    start: tuple[DeepClean | None, str | None],
    models_dir: Path,
) -> Training:
    """:func:`train_network`'s work; raises what fails."""
    init, parent = start
    began = time.monotonic()
    stretch = training_stretch(gps, blocks, cleaning, config.min_train_length)
    read_seconds = time.monotonic() - began
    report = check_training_data(
        stretch.witness,
        stretch.strain,
        cleaning.witness_channels,
        config.checks,
    )
    report.raise_for_failure(name)
    # seeded by the file: a rerun trains the same network (reproducible,
    # and a resumed run gives what an uninterrupted one would)
    seeded = replace(config.train, seed=gps % 2**31)
    result = train(stretch, seeded, init=init, label=name)
    history = result.history
    figures = {
        "warm_start": result.warm_start,
        "lr": result.lr,
        "train_gps": [stretch.gps_start, stretch.gps_stop],
        "epochs": len(history),
        "best_epoch": result.best_epoch,
        "initial_valid_loss": result.initial_valid_loss,
        "first_train_loss": history[0]["train_loss"] if history else None,
        "best_valid_loss": result.best_valid_loss,
        "read_seconds": round(read_seconds, 2),
        "train_seconds": round(time.monotonic() - began - read_seconds, 2),
    }
    training = Training(name, gps, result.model, name, parent, None, figures)
    meta = ModelMeta(
        strain_channel=cleaning.strain_channel,
        witness_channels=cleaning.witness_channels,
        sample_rate=cleaning.sample_rate,
        gps_start=stretch.gps_start,
        gps_stop=stretch.gps_stop,
        channels=config.train.channels,
        extra={**training.record(), "train_config": asdict(config.train)},
    )
    save_model(result.model, meta, models_dir / Path(name).stem)
    return training
