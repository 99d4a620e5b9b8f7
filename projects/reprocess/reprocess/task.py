"""One task: clean one output file's span and write it.

The model is a version of a repository (:func:`run_chunk`) or, under
train-as-you-go, the network trained on the file's own data
(:func:`clean_trained_chunk`, :mod:`reprocess.training`); both clean by
the same code (:func:`clean_chunk`), only the predictor differs.

A :class:`Chunk` is one output file, ``{S}-{IFO}_HOFT_DEEPCLEAN-{GPS}-
{DURATION}.gwf`` (LIGO-T050017), with the input files it needs. A worker
cleans it block by block (``block_length`` seconds each) and accumulates
its figures block by block (:class:`~reprocess.figures.ChunkFigures`), so
it holds the file's cleaned strain once plus one block's working data:
its memory is bounded by the file, not by the whole span. It writes the
figures (``summary/<name>.json``) and then the frame, both atomically: a
frame that exists is finished, which is what makes a rerun resumable, and
a task tried again after its worker was lost past the write returns the
figures written (:func:`clean_chunk`). Both are flushed to disk before
their rename (a crash after it must not leave an empty file under the
final name, which a rerun would take for finished); a file found empty
all the same is computed again and replaced (:func:`written_empty`). The
figures record how many of the file's seconds its input files held
(``seconds_covered``): a file written while an archive was still filling
is computed again, and replaced, once its inputs hold more
(:func:`written_with_less`).

Channels written (:class:`utils.channels.OutputChannels`): the cleaned
strain at the native strain rate as ``..._PRODUCTION_OUT_DQ``, the
DeepClean state vector (16 Hz) and the model version (1 Hz), as in the
live frames (a trained network's tag: the GPS start of its file).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from reprocess.cleaning import CleaningConfig
from reprocess.cleaning import NoiseModel
from reprocess.cleaning import clean_block
from reprocess.figures import ChunkFigures
from reprocess.model import load_version
from reprocess.reading import FrameReader
from reprocess.reading import SpanData
from reprocess.sources import FrameIndex
from utils.atomic import write_json
from utils.channels import STATE_RATE
from utils.channels import VERSION_RATE
from utils.channels import OutputChannels
from utils.channels import State
from utils.errors import ModelError
from utils.gwf import write_frame
from utils.names import FrameFile

if TYPE_CHECKING:  # torch: imported by train-as-you-go's tasks only
    from reprocess.training import Training
    from reprocess.training import TrainingConfig

logger = logging.getLogger(__name__)

SUMMARY_DIR = "summary"  # per-chunk figures, under the output folder
MODELS_DIR = "models"  # trained networks (train-as-you-go), under it too


@dataclass(frozen=True)
class TaskConfig:
    """What every task needs besides its chunk (sent to the workers).

    Attributes:
        ifo: interferometer, e.g. ``L1``.
        cleaning: how blocks are cleaned.
        training: train-as-you-go (``model_source = "train"``); None
            with a repository's version, so that its workers never import
            torch (seconds of start-up per worker).
        model_source: ``repository`` or ``train``.
        model_repo: the model repository.
        version: the version used.
        block_length: seconds cleaned at once inside a task.
        ratio_fftlength: seconds per Welch segment of the figures' ASD
            ratio.
        strain_frame_type: frame type of the strain and state.
        witness_frame_type: frame type of the witnesses.
        rates: channel -> native rate, Hz.
        output_dir: where the frames go.
        compress: gzip the output frames.
    """

    ifo: str
    cleaning: CleaningConfig
    training: TrainingConfig | None
    model_source: str
    model_repo: Path
    version: int
    block_length: int
    ratio_fftlength: float
    strain_frame_type: str
    witness_frame_type: str
    rates: dict[str, int]
    output_dir: Path
    compress: bool


@dataclass(frozen=True)
class Chunk:
    """One output file and the input files it reads.

    Attributes:
        gps: GPS start.
        duration: seconds.
        path: the output frame.
        inputs: the frame files holding ``[gps - pad, gps + duration +
            pad)`` (strain's and witnesses').
        covered: seconds of ``[gps, gps + duration)`` that files of every
            input type held when it was planned.
    """

    gps: int
    duration: int
    path: Path
    inputs: tuple[FrameFile, ...]
    covered: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def summary_path(self) -> Path:
        return self.path.parent / SUMMARY_DIR / f"{self.path.stem}.json"


def read_blocks(
    chunk: Chunk, config: TaskConfig
) -> Iterator[tuple[int, int, SpanData, SpanData]]:
    """``(start, end, strain, witness)`` of each block of ``chunk``, read
    with ``pad_length`` seconds more on each side.

    Raises:
        FrameCorrupt: an input file of the chunk cannot be read (named).
    """
    c = config.cleaning
    strain = FrameReader(
        FrameIndex(chunk.inputs, config.strain_frame_type),
        {ch: config.rates[ch] for ch in (c.strain_channel, c.state_channel)},
    )
    witness = FrameReader(
        FrameIndex(chunk.inputs, config.witness_frame_type),
        {ch: config.rates[ch] for ch in c.witness_channels},
    )
    pad, stop = c.pad_length, chunk.gps + chunk.duration
    for start in range(chunk.gps, stop, config.block_length):
        end = min(start + config.block_length, stop)
        span = (start - pad, end + pad, (chunk.gps, stop))
        yield start, end, strain.read(*span), witness.read(*span)


def run_chunk(chunk: Chunk, config: TaskConfig) -> dict:
    """Clean ``chunk`` with the repository's version and write its frame
    (the task a worker runs).

    Returns:
        :func:`clean_chunk`'s figures.

    Raises:
        FrameCorrupt: an input file cannot be read (named).
        ModelError: the model version cannot be loaded.
    """
    model = load_version(config.model_repo, config.version)
    return clean_chunk(chunk, config, model, config.version)


def train_chunk(
    chunk: Chunk, config: TaskConfig, previous: Training | None
) -> Training:
    """Train a network on ``chunk``, warm-started from ``previous`` (the
    previous chunk's training; None: from scratch): train-as-you-go's
    first task (:func:`reprocess.training.train_network`; it does not
    raise, a failure is carried in the result)."""
    from reprocess.training import train_network

    return train_network(
        chunk.name,
        chunk.gps,
        read_blocks(chunk, config),
        config.cleaning,
        config.training,
        previous,
        config.output_dir / MODELS_DIR,
    )


def network_predictor(training: Training, sample_rate: int) -> NoiseModel:
    """The trained torch network as the cleaning's noise model."""
    from utils.nn.evaluate import predict_noise

    return functools.partial(
        predict_noise, training.model, sample_rate=sample_rate
    )


def clean_trained_chunk(
    chunk: Chunk, config: TaskConfig, training: Training
) -> dict:
    """Clean ``chunk`` with the network trained on it and write its frame
    (train-as-you-go's second task; ``training``: its training task's).

    Raises:
        ModelError: its training failed (the reason named).
        FrameCorrupt: an input file cannot be read (named).
    """
    if training.error is not None:
        raise ModelError(f"training on {chunk.name} failed: {training.error}")
    import torch

    torch.set_num_threads(config.training.num_threads)
    model = network_predictor(training, config.cleaning.sample_rate)
    return clean_chunk(
        chunk, config, model, training.tag, {"model": training.record()}
    )


def clean_chunk(
    chunk: Chunk,
    config: TaskConfig,
    model: NoiseModel,
    version: int,
    extra: dict | None = None,
) -> dict:
    """Clean ``chunk`` block by block with ``model`` and write its figures
    (with ``extra``) and frame, tagged ``version``.

    Returns:
        Its figures (:class:`~reprocess.figures.ChunkFigures`), name, span,
        seconds with input and wall seconds taken.

    Raises:
        FrameCorrupt: an input file cannot be read (named).
    """
    # replaced: empty (a write lost in a crash), or its inputs hold more
    again = written_empty(chunk) or written_with_less(chunk) is not None
    if chunk.path.exists() and not again:
        return written_before(chunk)
    began = time.monotonic()
    c = config.cleaning
    fs = c.strain_rate
    cleaned = np.zeros(chunk.duration * fs)
    state = np.zeros(chunk.duration * STATE_RATE, np.int32)
    versions = np.zeros(chunk.duration * VERSION_RATE, np.int32)
    band = (c.freq_low, c.freq_high)
    figures = ChunkFigures(fs, band, config.ratio_fftlength)
    for start, end, strain, witness in read_blocks(chunk, config):
        block = clean_block(strain, witness, model, version, c)
        at, to = start - chunk.gps, end - chunk.gps
        cleaned[at * fs : to * fs] = block.cleaned
        state[at * STATE_RATE : to * STATE_RATE] = block.state
        versions[at:to] = block.versions
        present = (block.state[::STATE_RATE] & int(State.INPUT_OK)) > 0
        figures.add(block.raw, block.cleaned, present, start)
        del block, strain, witness  # freed before the next block is read
    present = (state[::STATE_RATE] & int(State.INPUT_OK)) > 0
    result = {
        "name": chunk.name,
        "gps": chunk.gps,
        "duration": chunk.duration,
        "seconds_present": int(present.sum()),
        "seconds_covered": chunk.covered,
        **figures.result(),
        **(extra or {}),
    }
    del figures  # its periodograms (~200 MB for 4096 s) before the write
    # figures first, so that a frame that exists has its figures; when it
    # replaces one, the frame first, so that new figures never vouch for
    # the old frame (lost between the two, the old figures make the next
    # run compute it again)
    if again:
        write_output(chunk, config, cleaned, state, versions, replace=True)
        write_json(chunk.summary_path, result, overwrite=True, fsync=True)
    else:
        write_json(chunk.summary_path, result, overwrite=True, fsync=True)
        write_output(chunk, config, cleaned, state, versions)
    result["wall_seconds"] = time.monotonic() - began
    logger.info(
        "%s %s (%.1f s)",
        chunk.path,
        "replaced" if again else "written",
        result["wall_seconds"],
    )
    return result


def written_empty(chunk: Chunk) -> bool:
    """Whether ``chunk``'s file is there but holds no bytes: what a crash
    or power cut can leave of a write that was renamed before it reached
    the disk (files written before they were flushed), or a file damaged
    since, or a link to nothing in its place. It is not finished:
    computed again and replaced."""
    try:
        return chunk.path.stat().st_size == 0
    except FileNotFoundError:
        return chunk.path.is_symlink()


def written_with_less(chunk: Chunk) -> int | None:
    """The seconds its inputs held when ``chunk``'s file was written, if
    fewer than the plan found now (its figures' ``seconds_covered``);
    None if the file is not there, was written with as many, or has
    figures that do not say (left as it is)."""
    if not chunk.path.exists():
        return None
    try:
        figures = json.loads(chunk.summary_path.read_text())
        then = int(figures["seconds_covered"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return then if then < chunk.covered else None


def written_before(chunk: Chunk) -> dict:
    """The figures of ``chunk``, whose frame is there although the plan
    saw none (or saw it written with less input): a try of this run wrote
    it (figures first), then its worker was lost before the result came
    back.

    Raises:
        FileExistsError: its figures are not there (the frame is not this
            run's: it is not overwritten, nor vouched for).
    """
    try:
        figures = json.loads(chunk.summary_path.read_text())
    except (OSError, ValueError) as exc:
        raise FileExistsError(
            f"{chunk.path} is there but not its figures ({exc}): not "
            "written by this run; move it away to compute it again"
        ) from exc
    logger.info("%s: written by an earlier try", chunk.path)
    return {**figures, "wall_seconds": 0.0}


def write_output(
    chunk: Chunk,
    config: TaskConfig,
    cleaned: np.ndarray,
    state: np.ndarray,
    versions: np.ndarray,
    replace: bool = False,
) -> None:
    """Write the frame of ``chunk`` atomically and flushed to disk (a
    rerun trusts a file that is there); an existing one only if
    ``replace`` (by a rename: a reader sees the old file or the new)."""
    names = OutputChannels(config.ifo)
    write_frame(
        chunk.path,
        {
            names.out_dq: cleaned,
            names.state: state,
            names.production_version: versions,
        },
        chunk.gps,
        {
            names.out_dq: config.cleaning.strain_rate,
            names.state: STATE_RATE,
            names.production_version: VERSION_RATE,
        },
        overwrite=replace,
        compress=config.compress,
        fsync=True,
    )
