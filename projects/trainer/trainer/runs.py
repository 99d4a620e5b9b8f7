"""Training run folders: ``$PROJECT_DIR/train/<gpsstart>-<gpsstop>/``.

A run is written into a hidden temporary folder next to its final name,
``DONE`` last, and the folder is then renamed
(:func:`utils.atomic.atomic_directory`), so a reader (the exporter) never
sees half a run. Files (docs/architecture.md): ``weights.pt`` and
``model.json`` (:mod:`utils.nn.checkpoint`), ``history.json``,
``checks.json``, ``verify.npz``, ``loss.png``, ``asd.png``, ``DONE``; the
trainer adds ``exported.json`` once the exporter accepted the run. A run
refused by the data checks keeps only ``checks.json`` and ``FAILED`` (no
``DONE``), so the operator can read why. Run names, ``DONE`` and
``verify.npz`` are the contract with the exporter: :mod:`utils.runs`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from utils.atomic import atomic_directory
from utils.atomic import write_json
from utils.errors import ModelError
from utils.nn.architecture import DeepClean
from utils.nn.checkpoint import ModelMeta
from utils.nn.checkpoint import load_model
from utils.runs import DONE_FILE
from utils.runs import parse_run_name

logger = logging.getLogger(__name__)

FAILED_FILE = "FAILED"
EXPORTED_FILE = "exported.json"
CHECKS_FILE = "checks.json"
HISTORY_FILE = "history.json"


def finished_runs(train_dir: Path) -> list[Path]:
    """Run folders holding ``DONE``, oldest span end first."""
    runs = []
    if not Path(train_dir).is_dir():
        return runs
    for path in Path(train_dir).iterdir():
        span = parse_run_name(path.name)
        if span is not None and (path / DONE_FILE).is_file():
            runs.append((span[1], span[0], path))
    return [path for *_, path in sorted(runs)]


def unexported_runs(train_dir: Path) -> list[Path]:
    """Finished runs without ``exported.json``."""
    return [
        p for p in finished_runs(train_dir) if not (p / EXPORTED_FILE).exists()
    ]


def mark_exported(run_dir: Path, status: int, response: object) -> None:
    """Record that the exporter accepted ``run_dir``."""
    write_json(
        run_dir / EXPORTED_FILE,
        {
            "run": run_dir.name,
            "status": status,
            "response": response,
            "time": time.time(),
        },
    )


def publish_run(
    train_dir: Path, name: str, write: Callable[[Path], None], done: bool
) -> Path:
    """Write a run folder atomically.

    Args:
        train_dir: parent of the run folders.
        name: ``<gpsstart>-<gpsstop>``.
        write: fills the temporary folder it is given.
        done: write ``DONE`` last (a finished run).

    Returns:
        The final folder.

    Raises:
        FileExistsError: a finished run of that name exists already.
    """
    train_dir = Path(train_dir)
    final = train_dir / name
    if (final / DONE_FILE).exists():
        raise FileExistsError(f"run {final} exists and is finished")
    # an existing unfinished folder is an earlier refused attempt: replaced
    with atomic_directory(final, overwrite=True) as tmp:
        write(tmp)
        if done:
            (tmp / DONE_FILE).write_text(f"{time.time():.3f}\n")
    return final


def load_latest(
    train_dir: Path, witness_channels: tuple[str, ...], sample_rate: int
) -> tuple[DeepClean, ModelMeta, str] | None:
    """The newest finished run trained on the same channels and rate.

    Returns:
        ``(model, meta, run name)``, or None when there is none.
    """
    for path in reversed(finished_runs(train_dir)):
        try:
            model, meta = load_model(path)
        except ModelError as exc:
            logger.warning("cannot warm-start from %s: %s", path, exc)
            continue
        if (
            tuple(meta.witness_channels) != tuple(witness_channels)
            or meta.sample_rate != sample_rate
        ):
            logger.warning(
                "not warm-starting from %s: trained on other channels or rate",
                path,
            )
            continue
        return model, meta, path.name
    return None


def warm_start(
    train_dir: Path, witness_channels: tuple[str, ...], sample_rate: int
) -> tuple[tuple[DeepClean, str] | None, int | None]:
    """What the next run starts from (:func:`load_latest`).

    Returns:
        ``((network, run name), end GPS of that run)``, or ``(None, None)``
        when no finished run was trained on these channels and rate.
    """
    latest = load_latest(train_dir, witness_channels, sample_rate)
    if latest is None:
        return None, None
    model, meta, name = latest
    return (model, name), meta.gps_stop
