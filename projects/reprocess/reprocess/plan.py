"""Cutting ``[gps_start, gps_end)`` into output files, and resuming.

Output files start at whole multiples of ``frame_length`` (as LIGO
archive frames do), clipped to the span: with 4096 s, ``[1400000000,
1400010000)`` gives ``[1400000000, 1400000512)``, two files of 4096 s and
``[1400008704, 1400010000)``. A file that exists under its final name is
finished (writes are atomic) and is not computed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reprocess.sources import FrameIndex
from reprocess.task import Chunk
from utils.names import FrameFile, FrameName, site_of


@dataclass(frozen=True)
class Plan:
    """The chunks of a span: to compute, and finished already."""

    todo: list[Chunk]
    done: list[Chunk]


def output_name(ifo: str, gps: int, duration: int) -> str:
    """``L-L1_HOFT_DEEPCLEAN-<gps>-<duration>.gwf`` (LIGO-T050017)."""
    return FrameName(
        site_of(ifo), f"{ifo}_HOFT_DEEPCLEAN", gps, duration
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
    inputs: list[FrameFile],
    output_dir: Path,
) -> Plan:
    """The chunks of ``[gps_start, gps_end)``, each with the input files
    it reads (its span and ``pad_length`` seconds each side)."""
    index = FrameIndex(inputs, frame_type=None)
    todo, done = [], []
    for gps, duration in spans(gps_start, gps_end, frame_length):
        path = Path(output_dir) / output_name(ifo, gps, duration)
        needed = index.overlapping(
            gps - pad_length, gps + duration + pad_length
        )
        chunk = Chunk(gps, duration, path, tuple(needed))
        (done if path.exists() else todo).append(chunk)
    return Plan(todo, done)
