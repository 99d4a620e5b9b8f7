"""Cutting ``[gps_start, gps_end)`` into output files, and resuming.

Output files start at whole multiples of ``frame_length`` (as LIGO
archive frames do), clipped to the span: with 4096 s, ``[1400000000,
1400010000)`` gives ``[1400000000, 1400000512)``, two files of 4096 s and
``[1400008704, 1400010000)``. A file that exists under its final name is
finished (writes are atomic and flushed to disk) and is not computed
again, unless it is empty (what a crash left of a write before they were
flushed: logged, computed again and replaced); an output file
already in the folder that overlaps a planned one under another name
(a span cut otherwise before) is refused at start-up, as two files must
never claim the same seconds. A file none of whose seconds the strain
frames hold, or none of whose seconds the witness frames hold (a gap in
the data, or an archive not complete yet), is not planned: it would be a
file of zeros that every rerun skips. It is reported, and a rerun looks
again. A file written while its inputs held only some of its seconds is
computed again, and replaced, by a run whose inputs hold more of them (its
figures record how many they held: ``seconds_covered``). A folder's files
are all made by one model (its network file's digest included) cleaning
one way (the cleaning settings): the first run that computes records them
(:func:`record_made_with`, ``summary/made_with.json``) and a run with
others is refused at start-up (:func:`check_made_with`), naming what
differs, rather than skipping the files made otherwise as if they were
its own. A run that stops before it computes (refused later at start-up,
no workers) records nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from reprocess.sources import FrameIndex
from reprocess.task import Chunk
from reprocess.task import written_empty
from reprocess.task import written_with_less
from utils.atomic import write_json
from utils.errors import ConfigError
from utils.names import FrameName
from utils.names import list_frames
from utils.names import site_of

logger = logging.getLogger(__name__)

OUTPUT_DESCRIPTION = "{ifo}_HOFT_DEEPCLEAN"  # the output files' name part
MADE_WITH_FILE = "made_with.json"  # under summary/: the folder's model


@dataclass(frozen=True)
class Plan:
    """The chunks of a span: to compute, finished already, and empty
    (their name -> the frame types that hold none of their seconds);
    ``grown``: those of ``todo`` whose file is there, written when their
    inputs held fewer seconds (name -> seconds held then, now)."""

    todo: list[Chunk]
    done: list[Chunk]
    empty: dict[str, list[str]]
    grown: dict[str, tuple[int, int]]


def output_name(ifo: str, gps: int, duration: int) -> str:
    """``L-L1_HOFT_DEEPCLEAN-<gps>-<duration>.gwf`` (LIGO-T050017)."""
    return FrameName(
        site_of(ifo), OUTPUT_DESCRIPTION.format(ifo=ifo), gps, duration
    ).filename


def spans(gps_start: int, gps_end: int, frame_length: int) -> list[tuple]:
    """``(gps, duration)`` of the output files of the span."""
    out = []
    start = gps_start
    while start < gps_end:
        stop = min((start // frame_length + 1) * frame_length, gps_end)
        out.append((start, stop - start))
        start = stop
    return out


def make_plan(
    ifo: str,
    gps_start: int,
    gps_end: int,
    frame_length: int,
    pad_length: int,
    inputs: Sequence[FrameIndex],
    output_dir: Path,
) -> Plan:
    """The chunks of ``[gps_start, gps_end)``, each with the input files
    it reads (its span and ``pad_length`` seconds each side).

    Args:
        inputs: the frames of each type read (strain's, witnesses'; one
            type given twice is read once): a chunk that the frames of one
            type hold none of is empty.

    Raises:
        ConfigError: an output file in ``output_dir`` overlaps a chunk
            under another name.
    """
    # one index a frame type: strain and witnesses may be one type
    inputs = list({i.frame_type: i for i in inputs}.values())
    description = OUTPUT_DESCRIPTION.format(ifo=ifo)
    existing = FrameIndex(list_frames(output_dir, description), description)
    todo, done, empty, grown = [], [], {}, {}
    for gps, duration in spans(gps_start, gps_end, frame_length):
        path = Path(output_dir) / output_name(ifo, gps, duration)
        there = existing.overlapping(gps, gps + duration)
        for other in there:
            if Path(other.path).name != path.name:
                raise ConfigError(
                    f"{other.path} already holds some of GPS [{gps}, "
                    f"{gps + duration}), planned as {path.name}: move it "
                    "away or reprocess the span it was cut for"
                )
        padded = (gps - pad_length, gps + duration + pad_length)
        needed = []  # each file, then its copies (read if it cannot be)
        for i in inputs:
            for f in i.overlapping(*padded):
                needed += [c for c in i.copies(f) if c not in needed]
        held = {i.frame_type: i.held(gps, gps + duration) for i in inputs}
        lacking = [kind for kind, mask in held.items() if not mask.any()]
        # seconds that files of every type hold
        covered = int(np.logical_and.reduce(list(held.values())).sum())
        chunk = Chunk(gps, duration, path, tuple(needed), covered)
        then = written_with_less(chunk) if there else None
        if there and written_empty(chunk):
            logger.warning(
                "%s is empty (a write lost in a crash?) or a link to "
                "nothing: computed again",
                path,
            )
            todo.append(chunk)
        elif then is not None:
            todo.append(chunk)
            grown[chunk.name] = (then, covered)
        elif there:  # the file itself: finished
            done.append(chunk)
        elif lacking:
            empty[chunk.name] = lacking
        else:
            todo.append(chunk)
    return Plan(todo, done, empty, grown)


def check_made_with(summary_dir: Path, model: dict[str, Any]) -> None:
    """Check that ``model`` is what made the folder's files, if a run
    recorded one (at start-up: nothing is written, so that a run that
    stops before computing leaves no record binding the folder).

    Raises:
        ConfigError: another model made them, or the record is unreadable.
    """
    path = Path(summary_dir) / MADE_WITH_FILE
    try:
        made = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(made, dict):
        raise ConfigError(f"cannot read {path}: not a JSON object")
    model = json.loads(json.dumps(model))  # as it would be recorded
    # what the record holds (one from before it held the cleaning settings
    # and the network's digest binds the model only)
    differ = _differences(made, {key: model.get(key) for key in made})
    if differ:
        raise ConfigError(
            f"output_dir={str(path.parent.parent)!r}: its files were made "
            f"with {'; '.join(differ)}: another output folder, or the "
            "same model and settings"
        )


def _differences(made: Any, now: Any, name: str = "") -> list[str]:
    """``"name=<made>, this run would use <now>"`` for each value of
    ``made`` that ``now`` holds otherwise (dicts compared key by key,
    nested names joined by dots)."""
    if isinstance(made, dict) and isinstance(now, dict):
        return [
            line
            for key in made
            for line in _differences(
                made[key], now.get(key), f"{name}.{key}" if name else key
            )
        ]
    if made == now:
        return []
    return [f"{name}={made!r}, this run would use {now!r}"]


def record_made_with(summary_dir: Path, model: dict[str, Any]) -> None:
    """Record ``model`` as what makes the folder's files, once the run
    computes (its workers there, its plan made), unless a run recorded it
    before; checked again first, as another run may have started since.

    Raises:
        ConfigError: another model made them, or the record is unreadable.
    """
    check_made_with(summary_dir, model)
    path = Path(summary_dir) / MADE_WITH_FILE
    try:
        write_json(path, model, overwrite=False, fsync=True)
    except FileExistsError:  # the same model's, or another run's since
        check_made_with(summary_dir, model)
