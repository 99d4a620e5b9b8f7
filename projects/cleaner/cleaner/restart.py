"""Where a (re)started cleaner picks up: the carousel continues without a
gap if the raw frames still allow it.

:func:`resume_point`: on a fresh start, at the newest raw frame; on a
restart the follower starts early enough that the pipeline is warm when it
reaches the second after the newest frame already in the carousel, and
only seconds from there on are written, and :func:`gate_end` reads how
the OUT_DQ gate ended in that newest frame, so that the gate continues
from it instead of jumping. If those raw frames are gone, or the carousel
ends further behind the raw stream's edge than the carousel holds (a late
frame older than that is of no use to a low-latency reader, and writing
it would hold back the live ones: reprocess such a stretch offline), it
starts as far back as the carousel holds (or at the newest raw frame),
logs the gap, and the gate starts closed (as on a fresh start). Only
DeepClean's own frames (their description) count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleaner.writer import WriterConfig
from utils.channels import OutputChannels
from utils.channels import State
from utils.errors import FrameError
from utils.follower import list_begun
from utils.follower import list_gps
from utils.follower import live_edge
from utils.follower import split_begun
from utils.gwf import read_frame
from utils.names import cleaned_description
from utils.names import cleaned_name
from utils.names import strain_description
from utils.names import strain_name

logger = logging.getLogger(__name__)
# samples at a frame's start and end its OUT_DQ weight is measured over
# (a transition moves the weight by at most 1e-3 between two of them)
WEIGHT_SAMPLES = 64


@dataclass(frozen=True)
class GateEnd:
    """How OUT_DQ ended in a written frame (a restart continues from it).

    Attributes:
        is_open: open, or tapering towards PRODUCTION.
        weight: the subtraction's weight at the frame's end (0: OUT_DQ is
            RAW, 1: PRODUCTION).
        removed: RAW - OUT_DQ over the frame, what the subtraction removed.
    """

    is_open: bool
    weight: float
    removed: np.ndarray


@dataclass(frozen=True)
class Start:
    """Where the follower starts and the first second to write.

    Attributes:
        follow_from: GPS second, or ``"newest"``.
        write_from: first GPS second written (None: every one).
        gate: how OUT_DQ ended in the newest written frame, to continue
            from (None: no such frame, or a gap after it).
    """

    follow_from: int | str
    write_from: int | None
    gate: GateEnd | None = None


def gate_end(path: Path, ifo: str) -> GateEnd | None:
    """How OUT_DQ ended in the written frame ``path``; None if unreadable."""
    ch = OutputChannels(ifo)
    try:
        frame = read_frame(path, [ch.state, ch.out_dq, ch.production, ch.raw])
    except FrameError as exc:
        logger.warning("cannot read the gate state of %s: %s", path, exc)
        return None
    out_dq, raw = frame[ch.out_dq].data, frame[ch.raw].data
    removed = np.asarray(raw - out_dq, dtype=np.float64)
    if not np.all(np.isfinite(removed)):  # not a frame of ours
        logger.warning("cannot read the gate state of %s: not finite", path)
        return None
    state = State(int(frame[ch.state].data[-1]))
    if not state & State.OUT_DQ_TAPER:
        is_open = bool(state & State.OUT_DQ_ON)
        return GateEnd(is_open, float(is_open), removed)
    subtracted = np.asarray(raw - frame[ch.production].data, np.float64)
    start, end = (
        _weight_of(removed[part], subtracted[part])
        for part in (slice(None, WEIGHT_SAMPLES), slice(-WEIGHT_SAMPLES, None))
    )
    # a transition: rising (opening) or falling; none measurable (no
    # model's subtraction to weigh: a bridge) is a close
    return GateEnd(end > start, end, removed)


def _weight_of(removed: np.ndarray, subtracted: np.ndarray) -> float:
    """The least-squares weight w of ``removed = w * subtracted`` (0 .. 1;
    0 where nothing was subtracted)."""
    power = float(np.dot(subtracted, subtracted))
    if not power > 0:
        return 0.0
    return min(max(float(np.dot(removed, subtracted)) / power, 0.0), 1.0)


def resume_point(writer: WriterConfig, strain_dir: Path, warmup: int) -> Start:
    """Where to start so the carousel continues without a gap if it can.

    The raw seconds from ``resume - warmup`` on are followed again, as
    long as the stream still reaches back that far: seconds missing in
    between were dropped (the follower yields them as dropped, as it did
    the first time), not pruned. If only part of the warm-up is still
    there, it starts at the oldest raw frame (a shorter warm-up, no gap).
    The catch-up is at most ``writer.max_backlog`` seconds (the
    carousel's bound, plus the warm-up) behind the raw stream's edge
    (:func:`live_edge`): when the carousel ends further back, it follows
    only that far back, leaving a gap, rather than write a long outage's
    seconds, late, before the live ones.

    Args:
        writer: the carousel (folder, IFO, bound).
        strain_dir: folder of the raw strain frames.
        warmup: seconds of raw data needed before the first written second.
    """
    carousel, ifo = writer.directory, writer.ifo
    # only DeepClean's frames of this IFO: a file of another description
    # left in the carousel would move the resume point past seconds never
    # written
    written, future = split_begun(list_gps(carousel, cleaned_description(ifo)))
    if future:  # a stray: no frame of ours can be of a second not begun
        logger.warning(
            "ignoring %d carousel frames of seconds that have "
            "not begun (from GPS %d): not written by this "
            "service",
            len(future),
            future[0],
        )
    # the newest frame that reads: one that does not (a stray, a write torn
    # by a power cut) is not where this service stopped, and is written over
    gate = None
    while written:
        gate = gate_end(Path(carousel) / cleaned_name(ifo, written[-1]), ifo)
        if gate is not None:
            break
        logger.warning(
            "carousel frame of GPS %d unreadable: not the resume point "
            "(written over when its second comes)",
            written[-1],
        )
        written.pop()
    if not written:
        logger.info(
            "empty carousel %s: starting at the newest frame", carousel
        )
        return Start("newest", None)
    resume = written[-1] + 1
    first = resume - warmup
    raw = list_begun(strain_dir, strain_description(ifo))
    edge = resume
    if raw:
        edge = live_edge(strain_dir / strain_name(ifo, raw[-1]), raw[-1])
    if edge - resume > writer.max_backlog:
        # as far back as a resume at the bound would follow
        start = edge - writer.max_backlog - warmup
        logger.warning(
            "carousel ends at GPS %d, %d s behind the raw stream (more than "
            "the carousel's %d): catching up from GPS %d only; GPS %d .. "
            "(%d + warm-up) stay missing (reprocess them offline); the "
            "OUT_DQ gate starts closed",
            written[-1],
            edge - resume,
            writer.max_backlog,
            start,
            resume,
            start,
        )
        return Start(start, resume)
    if raw and raw[0] <= resume:
        start = max(first, raw[0])
        log = logger.info if start == first else logger.warning
        log(
            "carousel ends at GPS %d: resuming, raw data from GPS %d "
            "(%d s of warm-up)",
            written[-1],
            start,
            resume - start,
        )
        return Start(start, resume, gate)
    logger.warning(
        "carousel ends at GPS %d but the raw frames from GPS %d are gone: "
        "starting at the newest raw frame, GPS %d .. (newest + delay) stay "
        "missing; the OUT_DQ gate starts closed",
        written[-1],
        first,
        resume,
    )
    # after a gap the newest frame's gate says nothing of the seconds to
    # come: restoring it would continue its noise (or its openness) over a
    # cold pipeline
    return Start("newest", resume)
