"""One task: clean one output file's span and write it.

A :class:`Chunk` is one output file, ``{S}-{IFO}_HOFT_DEEPCLEAN-{GPS}-
{DURATION}.gwf`` (LIGO-T050017), with the input files it needs. A worker
cleans it block by block (``block_length`` seconds each, so its memory is
bounded by the file, not by the whole span), writes its figures
(``summary/<name>.json``) and then the frame, both atomically: a frame
that exists is finished, which is what makes a rerun resumable.

Channels written (:class:`utils.channels.OutputChannels`): the cleaned
strain at the native strain rate as ``..._PRODUCTION_OUT_DQ``, the
DeepClean state vector (16 Hz) and the model version (1 Hz), as in the
live frames.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reprocess.cleaning import CleaningConfig, clean_block
from reprocess.figures import chunk_figures
from reprocess.model import load_version
from reprocess.reading import FrameReader
from reprocess.sources import FrameIndex
from utils.atomic import write_json
from utils.channels import STATE_RATE, VERSION_RATE, OutputChannels, State
from utils.gwf import write_frame
from utils.names import FrameFile

logger = logging.getLogger(__name__)

SUMMARY_DIR = "summary"  # per-chunk figures, under the output folder


@dataclass(frozen=True)
class TaskConfig:
    """What every task needs besides its chunk (sent to the workers).

    Attributes:
        ifo: interferometer, e.g. ``L1``.
        cleaning: how blocks are cleaned.
        model_repo: the model repository.
        version: the version used.
        block_length: seconds cleaned at once inside a task.
        strain_frame_type: frame type of the strain and state.
        witness_frame_type: frame type of the witnesses.
        rates: channel -> native rate, Hz.
        output_dir: where the frames go.
        compress: gzip the output frames.
    """

    ifo: str
    cleaning: CleaningConfig
    model_repo: Path
    version: int
    block_length: int
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
    """

    gps: int
    duration: int
    path: Path
    inputs: tuple[FrameFile, ...]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def summary_path(self) -> Path:
        return self.path.parent / SUMMARY_DIR / f"{self.path.stem}.json"


def run_chunk(chunk: Chunk, config: TaskConfig) -> dict:
    """Clean ``chunk`` and write its frame (the task a worker runs).

    Returns:
        Its figures (:func:`~reprocess.figures.chunk_figures`), name, span,
        seconds with input and wall seconds taken.

    Raises:
        FrameCorrupt: an input file cannot be read (named).
        ModelError: the model version cannot be loaded.
    """
    began = time.monotonic()
    c = config.cleaning
    model = load_version(config.model_repo, config.version)
    strain = FrameReader(
        FrameIndex(chunk.inputs, config.strain_frame_type),
        {ch: config.rates[ch] for ch in (c.strain_channel, c.state_channel)},
    )
    witness = FrameReader(
        FrameIndex(chunk.inputs, config.witness_frame_type),
        {ch: config.rates[ch] for ch in c.witness_channels},
    )
    fs, pad = c.strain_rate, c.pad_length
    size = chunk.duration * fs
    raw, cleaned = np.zeros(size), np.zeros(size)
    state = np.zeros(chunk.duration * STATE_RATE, np.int32)
    versions = np.zeros(chunk.duration * VERSION_RATE, np.int32)
    stop = chunk.gps + chunk.duration
    for start in range(chunk.gps, stop, config.block_length):
        end = min(start + config.block_length, stop)
        span = (start - pad, end + pad, (chunk.gps, stop))
        block = clean_block(
            strain.read(*span),
            witness.read(*span),
            model,
            config.version,
            c,
        )
        at = start - chunk.gps
        raw[at * fs : (end - chunk.gps) * fs] = block.raw
        cleaned[at * fs : (end - chunk.gps) * fs] = block.cleaned
        state[at * STATE_RATE : (end - chunk.gps) * STATE_RATE] = block.state
        versions[at : end - chunk.gps] = block.versions
    present = (state[::STATE_RATE] & int(State.INPUT_OK)) > 0
    result = {
        "name": chunk.name,
        "gps": chunk.gps,
        "duration": chunk.duration,
        "seconds_present": int(present.sum()),
        **chunk_figures(raw, cleaned, present, fs, (c.freq_low, c.freq_high)),
    }
    write_json(chunk.summary_path, result, overwrite=True)
    write_output(chunk, config, cleaned, state, versions)
    result["wall_seconds"] = time.monotonic() - began
    logger.info("%s written (%.1f s)", chunk.path, result["wall_seconds"])
    return result


def write_output(
    chunk: Chunk,
    config: TaskConfig,
    cleaned: np.ndarray,
    state: np.ndarray,
    versions: np.ndarray,
) -> None:
    """Write the frame of ``chunk`` atomically (never overwriting)."""
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
        compress=config.compress,
    )
