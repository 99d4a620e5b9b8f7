"""Entry point: ``reprocess --typeo pyproject.toml:reprocess --data-dir D
--gps-start A --gps-end B --model-repo R --version V --output-dir O
--workers N``.

parse (:class:`~reprocess.config.ReprocessSettings`) -> logging -> find
the input frames and the channel rates -> load the model once (its
channels and rate must be the settings'; ``--model-source train``: none,
each file's network is trained on it) -> plan the output files (finished
ones skipped) -> record the model as what makes the folder's files ->
run them on Dask -> summary page. The Dask workers start (seconds:
processes importing SciPy and ONNX Runtime) while the input is listed and
the plan made.

Exit status: 0 every file of the span that has input is written (a file
none of whose seconds the strain frames, or the witness frames, hold is
not: a gap, listed); 1 some chunks failed or did not finish within the
run's bound (named in the log and ``summary/index.html``); 2 cannot
start (bad settings, an output folder that cannot be made, no input in
the span, an output file overlapping a planned one, a folder whose files
another model made, no model, no workers).
"""

import logging
import sys
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional

from reprocess.config import ReprocessSettings
from reprocess.engine import NoWorkers
from reprocess.engine import connect
from reprocess.engine import disconnect
from reprocess.engine import run_chunks
from reprocess.engine import run_trained_chunks
from reprocess.model import load_version
from reprocess.model import model_digest
from reprocess.plan import check_made_with
from reprocess.plan import make_plan
from reprocess.plan import record_made_with
from reprocess.reading import probe_rates
from reprocess.sources import FrameIndex
from reprocess.sources import find_frames
from reprocess.summary import write_summary
from reprocess.task import TaskConfig
from reprocess.task import clean_trained_chunk
from reprocess.task import run_chunk
from reprocess.task import train_chunk
from utils.atomic import remove_stale_temporaries
from utils.errors import ConfigError
from utils.errors import ModelError
from utils.startup import CANNOT_START
from utils.startup import configure_service

logger = logging.getLogger("reprocess")


def prepare(settings: ReprocessSettings) -> tuple[TaskConfig, object]:
    """The workers' configuration and the plan of the span.

    Raises:
        ConfigError: no input in the span, input files of one type
            claiming the same seconds, a channel missing, the
            model's channels or rate are not the settings', an output
            file already there overlaps a planned one, the folder's files
            were made by another model.
        ModelError: the model version cannot be loaded.
    """
    start, end = settings.gps_start, settings.gps_end
    pad = settings.pad_length
    frames = find_frames(settings.source_config(), start - pad, end + pad)
    strain = FrameIndex(frames, settings.strain_frame_type)
    witness = FrameIndex(frames, settings.witness_frame_type)
    strain.check_overlaps()
    witness.check_overlaps()
    strain_channels = [settings.strain_channel, settings.state_channel]
    rates = probe_rates(strain, strain_channels, start, end)
    rates |= probe_rates(witness, settings.witness_channels, start, end)
    if rates[settings.strain_channel] != settings.strain_rate:
        raise ConfigError(
            f"strain_rate={settings.strain_rate}: the frames hold "
            f"{settings.strain_channel} at {rates[settings.strain_channel]} Hz"
        )
    if settings.model_source == "repository":
        check_model(settings)
    settings.summary_dir.mkdir(parents=True, exist_ok=True)
    check_made_with(settings.summary_dir, made_with(settings))
    for folder in (
        settings.output_dir,
        settings.summary_dir,
        settings.models_dir,
    ):
        # what a killed worker's write left (a frame: ~0.5 GB each)
        remove_stale_temporaries(folder, settings.chunk_timeout)
    plan = make_plan(
        settings.ifo,
        start,
        end,
        settings.frame_length,
        pad,
        [strain, witness],
        settings.output_dir,
    )
    for name, lacking in plan.empty.items():
        logger.warning(
            "%s: no %s frame holds any of its seconds: not written (a "
            "gap in the data; a rerun looks again)",
            name,
            " or ".join(lacking),
        )
    for name, (then, now) in plan.grown.items():
        logger.info(
            "%s: written when its inputs held %d of its seconds, they hold "
            "%d now: computed again",
            name,
            then,
            now,
        )
    return settings.task_config(rates), plan


def made_with(settings: ReprocessSettings) -> dict:
    """What makes the output files: a repository's version (the digest of
    its network's file, and the inference scheme it is run under), or
    networks trained on the data (and how), and how a block is cleaned.

    Raises:
        ModelError: the version cannot be loaded or its file read.
    """
    cleaning = {"cleaning": asdict(settings.cleaning_config())}
    if settings.model_source == "train":
        training = asdict(settings.training_config())
        # where and on how many threads it trains: not what it learns
        training.pop("num_threads")
        training["train"].pop("device")
        return {"model_source": "train", "training": training, **cleaning}
    return {
        "model_source": "repository",
        "model_repo": str(Path(settings.model_repo).resolve()),
        "version": settings.version,
        "model_sha256": model_digest(settings.model_repo, settings.version),
        "scheme": asdict(
            load_version(settings.model_repo, settings.version).scheme
        ),
        **cleaning,
    }


def check_model(settings: ReprocessSettings) -> None:
    """The repository's version takes the settings' channels and rate.

    Raises:
        ConfigError: it does not.
        ModelError: it cannot be loaded.
    """
    model = load_version(settings.model_repo, settings.version)
    if list(model.witness_channels) != settings.witness_channels:
        raise ConfigError(
            f"witness_channels: version {settings.version} takes "
            f"{list(model.witness_channels)}"
        )
    if model.sample_rate != settings.sample_rate:
        raise ConfigError(
            f"sample_rate={settings.sample_rate}: version "
            f"{settings.version} runs at {model.sample_rate} Hz"
        )


def release(connecting: Future) -> None:
    """Close the client and cluster ``connecting`` started, if it did
    (the command stops before running anything)."""
    try:
        disconnect(*connecting.result())
    except NoWorkers:
        pass


def main(argv: Optional[List[str]] = None) -> int:
    """Console script ``reprocess``; ``argv`` defaults to
    ``sys.argv[1:]``. Returns the exit status (module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = configure_service(ReprocessSettings, "reprocess", argv)
    if settings is None:
        return CANNOT_START
    engine = settings.engine_config()
    with ThreadPoolExecutor(1, thread_name_prefix="connect") as pool:
        connecting = pool.submit(connect, engine)
        try:
            task_config, plan = prepare(settings)
        except (ConfigError, ModelError, OSError):  # OSError: a folder
            logger.exception("cannot start")
            release(connecting)
            return CANNOT_START
        logger.info(
            "GPS %d-%d: %d files to compute (%d of them again), %d "
            "finished before, %d without input",
            settings.gps_start,
            settings.gps_end,
            len(plan.todo),
            len(plan.grown),
            len(plan.done),
            len(plan.empty),
        )
        try:
            client, cluster = connecting.result()
        except NoWorkers:
            logger.exception("no Dask workers")
            return CANNOT_START
    try:  # it computes now: the folder is this model's
        record_made_with(settings.summary_dir, made_with(settings))
    except (ConfigError, ModelError, OSError):  # the version gone meanwhile
        logger.exception("cannot start")
        disconnect(client, cluster)
        return CANNOT_START
    try:
        if settings.model_source == "train":
            results, failures = run_trained_chunks(
                client,
                train_chunk,
                clean_trained_chunk,
                plan.todo,
                task_config,
                engine,
            )
        else:
            results, failures = run_chunks(
                client, run_chunk, plan.todo, task_config, engine
            )
    finally:
        disconnect(client, cluster)
    page = write_summary(
        settings.summary_dir,
        settings.output_dir,
        [r["name"] for r in results],
        [c.name for c in plan.done],
        failures,
        list(plan.empty),
    )
    logger.info(
        "%d files written, %d skipped, %d failed; summary %s",
        len(results),
        len(plan.done),
        len(failures),
        page,
    )
    return 1 if failures else 0
