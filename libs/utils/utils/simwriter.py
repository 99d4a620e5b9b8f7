"""Writing simulated seconds as GWF files, optionally broken on purpose.

The faults are those a LIGO low-latency reader must survive
(docs/architecture.md, "Input frames"):

======================  ==================================================
``Fault.DROP``          nothing is written (strain nor witnesses)
``Fault.LATE``          written atomically after a delay (background thread)
``Fault.PARTIAL``       written non-atomically under the final names: first
                        half of the bytes, a pause, the rest
``Fault.CORRUPT``       garbage bytes under the final strain name
``Fault.MISSING_CHANNEL``  the last witness channel left out
``Fault.NAN_STRAIN``    NaNs in part of the strain
``Fault.NAN_WITNESS``   NaNs in part of the mains witness
``Fault.NOT_READY``     state vector not analysis ready
======================  ==================================================

The truth frame is always written (atomically, at once). Normal writes go
through :func:`utils.gwf.write_frame` (temporary name, then rename); within
a second the truth is written first, then the witnesses, then the strain,
so a reader that sees the strain file finds the witness file too.
"""

from __future__ import annotations

import logging
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from utils.atomic import write_bytes
from utils.errors import FrameError
from utils.gwf import check_span
from utils.gwf import encode_frame
from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.names import FrameName
from utils.names import data_folder
from utils.names import site_of
from utils.names import strain_name
from utils.names import witness_name
from utils.worker import join_all

logger = logging.getLogger(__name__)

NAN_PART = (1 / 4, 5 / 16)  # the fraction of a second made NaN
JOIN_MARGIN = 10.0  # s, added to the delays when waiting for writer threads


class Fault(str, Enum):
    """Ways to break one simulated second (see the module docstring)."""

    DROP = "drop"
    LATE = "late"
    PARTIAL = "partial"
    CORRUPT = "corrupt"
    MISSING_CHANNEL = "missing_channel"
    NAN_STRAIN = "nan_strain"
    NAN_WITNESS = "nan_witness"
    NOT_READY = "not_ready"


def strain_path(data_dir: Path, ifo: str, gps: int) -> Path:
    return data_folder(data_dir, "strain", ifo) / strain_name(ifo, gps)


def witness_path(data_dir: Path, ifo: str, gps: int) -> Path:
    return data_folder(data_dir, "witness", ifo) / witness_name(ifo, gps)


def truth_path(data_dir: Path, ifo: str, gps: int) -> Path:
    name = FrameName(site_of(ifo), f"{ifo}_TRUTH", gps).filename
    return data_folder(data_dir, "truth", ifo) / name


def _nan_part(data: np.ndarray) -> np.ndarray:
    out = np.array(data)
    start = int(NAN_PART[0] * out.size)
    stop = int(NAN_PART[1] * out.size)
    out[start : max(stop, start + 1)] = np.nan
    return out


def apply_data_fault(config: Any, second: Any, fault: Fault) -> None:
    """Change a ``SimulatedSecond`` in place for the data-level faults."""
    if fault is Fault.NAN_STRAIN:
        second.strain = _nan_part(second.strain)
    elif fault is Fault.NAN_WITNESS:
        old = second.witnesses[config.mains_channel]
        second.witnesses[config.mains_channel] = type(old)(
            _nan_part(old.data), old.sample_rate
        )
    elif fault is Fault.NOT_READY:
        second.state = np.full_like(second.state, config.state_not_ready)
    elif fault is Fault.MISSING_CHANNEL:
        del second.witnesses[config.witness_channels[-1]]


Job = tuple[Path, dict[str, np.ndarray], dict[str, float]]


def frame_jobs(
    sim: Any, second: Any, witness: Path, strain: Path
) -> list[Job]:
    """The witness and strain frames of a second, in writing order."""
    config = sim.config
    return [
        (
            witness,
            {name: s.data for name, s in second.witnesses.items()},
            {name: s.sample_rate for name, s in second.witnesses.items()},
        ),
        (
            strain,
            {
                config.strain_channel: second.strain,
                config.state_channel: second.state,
            },
            {
                config.strain_channel: config.strain_rate,
                config.state_channel: config.state_rate,
            },
        ),
    ]


def _holds(path: Path, gps: int) -> bool:
    """Whether ``path`` is a readable frame of second ``gps``."""
    try:
        check_span(path, gps, read_frame(path))
    except FrameError:
        return False
    return True


def _already_written(paths: list[Path], gps: int, overwrite: bool) -> set:
    """The files of second ``gps`` that are there already and hold it.

    A file under one of the second's names that is not that second's
    frame (junk, another second's data) is a stray: it is replaced, with
    a WARNING.

    Raises:
        FileExistsError: every file is there already (a restart).
    """
    kept = set()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite or not path.exists():
            continue
        if _holds(path, gps):
            kept.add(path)
        else:
            logger.warning(
                "GPS %d: %s is not this second's frame; replacing it",
                gps,
                path,
            )
    if len(kept) == len(paths):
        raise FileExistsError(f"the frames of GPS {gps} exist already")
    return kept


def _write_partial(items: list[tuple[Path, bytes]], pause: float) -> None:
    """Non-atomic write: first half of each file, pause, second half."""
    handles = [open(path, "wb") for path, _ in items]
    try:
        for handle, (_, data) in zip(handles, items, strict=True):
            handle.write(data[: len(data) // 2])
            handle.flush()
        time.sleep(pause)
        for handle, (_, data) in zip(handles, items, strict=True):
            handle.write(data[len(data) // 2 :])
    finally:
        for handle in handles:
            handle.close()


def _garbage(sim: Any, gps: int, size: int) -> bytes:
    rng = np.random.default_rng([sim.config.seed, int(gps), 3])
    return rng.integers(0, 256, size, dtype=np.uint8).tobytes()


def write_second(
    sim: Any,
    gps: int,
    data_dir: Path,
    fault: Fault | None,
    delay: float | None,
    overwrite: bool,
) -> threading.Thread | None:
    """Implementation of :meth:`utils.simulation.Simulator.write`."""
    config = sim.config
    fault = None if fault is None else Fault(fault)
    gps = int(gps)
    paths = [
        f(Path(data_dir), config.ifo, gps)
        for f in (truth_path, witness_path, strain_path)
    ]
    kept = _already_written(paths, gps, overwrite)
    if kept:
        logger.warning(
            "GPS %d: %s existed already (left alone); writing the missing "
            "files",
            gps,
            ", ".join(str(p) for p in sorted(kept)),
        )
    second = sim.second(gps, fault)
    truth_channel = f"{config.ifo}:DEEPCLEAN-TRUTH_NOISE"
    if paths[0] not in kept:
        write_frame(
            paths[0],
            {truth_channel: second.truth},
            gps,
            config.strain_rate,
            overwrite=True,
        )
    if fault is Fault.DROP:
        logger.debug("GPS %d dropped on purpose", gps)
        return None
    jobs = [
        job
        for job in frame_jobs(sim, second, paths[1], paths[2])
        if job[0] not in kept
    ]
    site = site_of(config.ifo)
    if fault is Fault.LATE:
        wait = config.late_delay if delay is None else float(delay)

        def late() -> None:
            time.sleep(wait)
            _write_atomic(jobs, gps)

        return _start(late, f"late-{gps}")
    if fault is Fault.PARTIAL:
        items = [
            (path, encode_frame(ch, gps, rates, site))
            for path, ch, rates in jobs
        ]
        pause = config.partial_pause
        return _start(lambda: _write_partial(items, pause), f"partial-{gps}")
    if fault is Fault.CORRUPT and jobs and jobs[-1][0] == paths[2]:
        _write_atomic(jobs[:-1], gps)
        path, channels, rates = jobs[-1]
        size = len(encode_frame(channels, gps, rates, site))
        write_bytes(path, _garbage(sim, gps, size))
        return None
    _write_atomic(jobs, gps)
    return None


def _write_atomic(jobs: list[Job], gps: int) -> None:
    # what exists was checked (or is to be overwritten) before
    for path, channels, rates in jobs:
        write_frame(path, channels, gps, rates, overwrite=True)


def _start(target: Any, name: str) -> threading.Thread:
    """Run a delayed write in a thread that logs (not raises) failures."""

    def run() -> None:
        try:
            target()
        except (OSError, RuntimeError):  # frameCPP raises RuntimeError
            logger.exception("delayed write %s failed", name)

    thread = threading.Thread(target=run, name=f"simwriter-{name}")
    thread.start()
    return thread


def writes_bound(late_delay: float, partial_pause: float) -> float:
    """Seconds to wait at most for the delayed writes still in flight."""
    return late_delay + partial_pause + JOIN_MARGIN


def write_stretch(
    sim: Any,
    data_dir: Path,
    gps_start: int,
    duration: int,
    faults: dict[int, Fault] | None,
    overwrite: bool,
) -> None:
    """Implementation of :meth:`utils.simulation.Simulator.write_stretch`."""
    faults = dict(faults or {})
    threads = []
    for gps in range(int(gps_start), int(gps_start) + int(duration)):
        thread = sim.write(gps, data_dir, faults.get(gps), None, overwrite)
        if thread is not None:
            threads.append(thread)
    config = sim.config
    bound = writes_bound(config.late_delay, config.partial_pause)
    stuck = join_all(threads, bound)
    if stuck:
        raise TimeoutError(
            f"writer thread {stuck[0].name} still running after {bound} s"
        )
