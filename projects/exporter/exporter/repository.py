"""The Triton model repository on disk (``$PROJECT_DIR/model_repo``).

::

    deepclean/config.pbtxt      python backend (onnx-python) or
                                tensorrt_plan; version_policy lists exactly
                                the loaded versions (production, canary)
    deepclean/<v>/              model.py and model.onnx (onnx-python), or
                                model.plan and model.onnx (tensorrt);
                                version.json (v >= 1; Triton ignores 0...)
    deepclean-kernels/          tensorrt: window -> batch (config, 1/)
    deepclean-aggregate/        tensorrt: batch output -> noise, tagged
                                with its version (the loaded versions)
    deepclean-null/             zeros, VERSION 0 (production before the
                                first promotion)
    deepclean-pipeline/         the ensemble (config.pbtxt, empty 1/)
    repository.json             production, canary, next version, history
    jobs.json                   the export jobs (:mod:`exporter.jobs`)
    .lock                       the inter-process lock file
    ../.<name>.staging/         exports being assembled: next to the
                                repository (same filesystem, so a version
                                appears by one rename) but outside it, so
                                Triton never sees a half-written model

Nothing here talks to Triton (see :mod:`exporter.manager`). Every file is
written atomically and every change happens under :class:`RepositoryLock`.
The repository is never wiped: :meth:`ModelRepository.ensure` only adds
what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace
from pathlib import Path

from exporter import aggregate_template
from exporter import kernels_template
from exporter import layout
from exporter import model_template
from exporter import null_template
from exporter.layout import AGGREGATE_MODEL_NAME
from exporter.layout import KERNELS_MODEL_NAME
from exporter.layout import NULL_MODEL_NAME
from exporter.layout import PIPELINE_NAME
from exporter.layout import ServingConfig
from exporter.lock import RepositoryLock
from utils.atomic import move_aside
from utils.atomic import write_json
from utils.atomic import write_text
from utils.errors import ModelError
from utils.logging import Once
from utils.pipeline import CONFIG_FILE
from utils.pipeline import MODEL_NAME
from utils.pipeline import VERSION_FILE
from utils.settings import require
from utils.settings import require_positive

logger = logging.getLogger(__name__)
STATE_FILE = "repository.json"
JOBS_FILE = "jobs.json"
MAX_HISTORY = 1000  # events kept in repository.json


@dataclass(frozen=True)
class RepositoryConfig:
    """The model repository on disk.

    Attributes:
        path: the repository folder (``$PROJECT_DIR/model_repo``).
        max_versions: versions kept on disk; production and canary are
            never deleted, even beyond this number.
        lock_timeout: seconds to wait for the repository lock.
    """

    path: Path
    max_versions: int
    lock_timeout: float = 300.0

    def __post_init__(self) -> None:
        require(
            isinstance(self.max_versions, int) and self.max_versions >= 2,
            "max_versions",
            self.max_versions,
            "an integer >= 2",
        )
        require_positive(self, "lock_timeout")


@dataclass(frozen=True)
class RepositoryState:
    """Contents of ``repository.json``.

    Attributes:
        production: production version (0: ``deepclean-null``).
        canary: canary version (0: none exported yet).
        next_version: number of the next export (never reused).
        num_witnesses: input channels of the pipeline (None: no version).
        history: export and promotion events, oldest first.
    """

    production: int = 0
    canary: int = 0
    next_version: int = 1
    num_witnesses: int | None = None
    history: tuple[dict, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        """A hand edit or a torn write must not pass for a state: every
        field is checked, so a bad file is refused where it is read."""
        _check_count("production", self.production, 0)
        _check_count("canary", self.canary, 0)
        _check_count("next_version", self.next_version, 1)
        if self.num_witnesses is not None:
            _check_count("num_witnesses", self.num_witnesses, 1)
        if not all(isinstance(event, dict) for event in self.history):
            raise ValueError("history: not a list of objects")

    @classmethod
    def parse(cls, raw: object) -> "RepositoryState":
        """The state of ``repository.json``'s parsed JSON.

        Raises:
            ValueError: not an object, an unknown key or a bad value.
        """
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        history = raw.get("history", ())
        if not isinstance(history, list | tuple):
            raise ValueError("history: not a list")
        return cls(**{**raw, "history": tuple(history)})

    @property
    def loaded(self) -> list[int]:
        """Versions of ``deepclean`` that Triton keeps loaded."""
        return sorted({v for v in (self.production, self.canary) if v > 0})

    def with_event(self, **event: object) -> "RepositoryState":
        history = (*self.history, event)[-MAX_HISTORY:]
        return replace(self, history=history)


def _check_count(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r}: not an integer")
    if value < least:
        raise ValueError(f"{name}={value!r}: below {least}")


def _write_if_changed(path: Path, text: str, fsync: bool = False) -> None:
    if not path.is_file() or path.read_text() != text:
        write_text(path, text, fsync=fsync)


def _template(module: object) -> str:
    return Path(module.__file__).read_text()


class ModelRepository:
    """Files of the model repository; callers hold :attr:`lock` to change.

    Args:
        config: path, versions kept, lock timeout.
        serving: scheme and threads written into ``config.pbtxt``.
        backend: backend of new versions (instance kind in the config).
    """

    def __init__(
        self, config: RepositoryConfig, serving: ServingConfig, backend: str
    ) -> None:
        self.config = config
        self.serving = serving
        self.backend = backend
        self.root = Path(config.path)
        self.model_dir = self.root / MODEL_NAME
        self.staging_dir = self.root.parent / f".{self.root.name}.staging"
        self.state_path = self.root / STATE_FILE
        self.lock = RepositoryLock(self.root / ".lock", config.lock_timeout)
        self.tensorrt = backend == "tensorrt"
        self._unreadable = Once()  # version.json problems logged

    @property
    def versioned_models(self) -> tuple[str, ...]:
        """The models that keep exactly the loaded versions."""
        if self.tensorrt:
            return (MODEL_NAME, AGGREGATE_MODEL_NAME)
        return (MODEL_NAME,)

    @property
    def fixed_models(self) -> tuple[str, ...]:
        """The one-version models besides the ensemble,
        ``deepclean-null`` first."""
        if self.tensorrt:
            return (NULL_MODEL_NAME, KERNELS_MODEL_NAME)
        return (NULL_MODEL_NAME,)

    # -- reading (no lock needed: every file is replaced atomically) --

    def read_state(self) -> RepositoryState:
        """``repository.json`` (defaults when absent).

        Raises:
            ModelError: it cannot be read or is not a state (torn, an
                unknown key, a value of the wrong type).
        """
        try:
            raw = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return RepositoryState()
        except (OSError, ValueError, RecursionError) as exc:
            raise ModelError(f"cannot read {self.state_path}: {exc}") from exc
        try:
            return RepositoryState.parse(raw)
        except (TypeError, ValueError) as exc:
            raise ModelError(
                f"{self.state_path} is not a repository state: {exc}"
            ) from exc

    def numbered(self) -> dict[int, Path]:
        """Entries of the model folder named as versions (an ASCII number
        without leading zero), whether or not they are versions."""
        if not self.model_dir.is_dir():
            return {}
        return {
            int(entry.name): entry
            for entry in self.model_dir.iterdir()
            if entry.name.isascii()
            and entry.name.isdigit()
            and not entry.name.startswith("0")
        }

    def versions(self) -> list[int]:
        """Versions on disk (with their ``version.json``), ascending."""
        return sorted(
            number
            for number, entry in self.numbered().items()
            if (entry / VERSION_FILE).is_file()
        )

    def free_number(self, start: int) -> int:
        """The first version number from ``start`` (the next one the state
        records) that no entry of the model folder holds. Such an entry
        (without ``version.json``: a hand copy, a half-done rsync) is left
        alone and its number skipped, WARNING: it must not block every
        export."""
        numbered = self.numbered()
        number = start
        while number in numbered:
            logger.warning(
                "%s is in the way of version %d (not a version this "
                "repository recorded: a hand copy, a half-done rsync?); "
                "left alone, the number skipped",
                numbered[number],
                number,
            )
            number += 1
        return number

    def version_info(self, version: int) -> dict | None:
        """``version.json`` of ``version``; None if it is not on disk or
        cannot be read. One unreadable file (a torn write, a hand edit)
        must not stop every listing and every export: its version is left
        out of them, with a WARNING once per file and error."""
        path = self.model_dir / str(version) / VERSION_FILE
        try:
            info = json.loads(path.read_text())
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            problem = f"cannot read {path}: {exc}"
            if self._unreadable.first(problem):
                logger.warning(
                    "%s; version %d is left out of the listing and of the "
                    "search for a run's version",
                    problem,
                    version,
                )
            return None
        return info

    def recorded_versions(self) -> list[int]:
        """Versions on disk that ``repository.json`` records (below its
        next version), ascending. One being exported (committed, not yet
        recorded: Triton may still refuse it and the export roll it back)
        is not a version yet."""
        next_version = self.read_state().next_version
        return [v for v in self.versions() if v < next_version]

    def find_run(self, run: str) -> int | None:
        """The recorded version exported from ``run``, if any."""
        for version in reversed(self.recorded_versions()):
            info = self.version_info(version)
            if info is not None and info.get("run") == run:
                return version
        return None

    # -- changing (hold self.lock) --

    def ensure(self) -> RepositoryState:
        """Create what is missing, clean staging leftovers, return state.

        Rebuilds ``repository.json`` if it is lost or unreadable (see
        :meth:`_rebuilt_state`), falls back from versions that vanished,
        and rewrites the configs from the state.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        if self.staging_dir.is_dir():
            shutil.rmtree(self.staging_dir)
        self.staging_dir.mkdir()
        null_dir = self.root / NULL_MODEL_NAME
        (null_dir / "1").mkdir(parents=True, exist_ok=True)
        _write_if_changed(null_dir / CONFIG_FILE, layout.null_config())
        _write_if_changed(
            null_dir / "1" / "model.py", _template(null_template)
        )
        state = self._recorded_state()
        recorded = state is not None
        if state is None:
            state = self._rebuilt_state()
        state = self._recover(state, recorded)
        self.write_state(state)
        self.write_configs(state)
        return state

    def _recorded_state(self) -> RepositoryState | None:
        """``repository.json``'s state; None if there is none. An
        unreadable one is moved aside (``repository.json.bad-<time>``,
        kept for a person to read) with an ERROR: a start that dies on it
        would die at every start."""
        if not self.state_path.exists():
            return None
        try:
            return self.read_state()
        except ModelError as exc:
            aside = move_aside(self.state_path)
            kept = f"moved aside to {aside.name}" if aside else "left in place"
            logger.error("%s: %s", exc, kept)
            return None

    def _rebuilt_state(self) -> RepositoryState:
        """The state when ``repository.json`` is lost: production from
        the ensemble's ``deepclean-pipeline/config.pbtxt``.

        That config is the soundest record left: it is what Triton was
        told to serve, written (with fsync) at every switch before
        ``repository.json`` and restored when a switch fails, so it names
        the production of the last switch that succeeded (or, after a
        kill in the middle of one, the production being switched to).
        ``version.json`` records an export, not a promotion, and the
        newest version is the canary, not production: neither says which
        version is production. Without a readable config naming a
        version on disk, production is ``deepclean-null`` (0) with an
        ERROR. The canary, the next version and the witnesses are rebuilt
        from the version folders (:meth:`_recover`); the history is lost.
        """
        on_disk = self.versions()
        if not on_disk:  # a new repository: nothing was lost
            return RepositoryState()
        path = self.root / PIPELINE_NAME / CONFIG_FILE
        try:
            production = layout.production_of(path.read_text())
        except FileNotFoundError:
            production, why = None, f"there is no {path}"
        except (OSError, ValueError) as exc:
            production, why = None, f"cannot read {path}: {exc}"
        else:
            why = f"{path} routes production to missing version {production}"
        if production is None or production not in (0, *on_disk):
            logger.error(
                "%s is lost and %s: which version was production is lost "
                "(and the history); production falls back to %s (version "
                "0) until a version is promoted",
                self.state_path,
                why,
                NULL_MODEL_NAME,
            )
            return RepositoryState()
        logger.warning(
            "%s is lost: production %d rebuilt from %s (the history is lost)",
            self.state_path,
            production,
            path,
        )
        return RepositoryState(production=production)

    def _recover(
        self, state: RepositoryState, recorded: bool
    ) -> RepositoryState:
        on_disk = self.versions()
        newest = max(self.numbered(), default=0)
        if recorded:
            # committed but never recorded: an export stopped between the
            # two (its job, still in jobs.json, exports the run again)
            for version in on_disk:
                if version >= state.next_version:
                    logger.warning(
                        "version %d is on disk but not in %s (an export "
                        "interrupted before it was recorded): removed",
                        version,
                        self.state_path.name,
                    )
                    self.remove_version(version)
        # numbers are never reused, not even those of removed versions
        state = replace(
            state, next_version=max(state.next_version, newest + 1)
        )
        on_disk = self.versions()
        newest = max(on_disk, default=0)
        if state.production and state.production not in on_disk:
            logger.warning(
                "production version %d is not on disk; "
                "production falls back to %s",
                state.production,
                NULL_MODEL_NAME,
            )
            state = replace(state, production=0)
        if state.canary not in on_disk:
            if state.canary:
                logger.warning(
                    "canary version %d is not on disk; canary "
                    "is now the newest version %d",
                    state.canary,
                    newest,
                )
            state = replace(state, canary=newest)
        if state.num_witnesses is None and state.canary:
            info = self.version_info(state.canary) or {}
            state = replace(
                state,
                num_witnesses=len(info.get("witness_channels", ())) or None,
            )
        return state

    def write_state(self, state: RepositoryState) -> None:
        """Write ``repository.json``, flushed to disk: it is the record of
        which version is production."""
        text = json.dumps(asdict(state), indent=2) + "\n"
        write_text(self.state_path, text, fsync=True)

    def write_model_config(
        self, loaded: list[int], num_witnesses: int
    ) -> None:
        """Write ``deepclean/config.pbtxt`` keeping ``loaded`` versions
        (tensorrt: and ``deepclean-aggregate``'s, with its version
        folders, and ``deepclean-kernels``)."""
        text = layout.model_config(
            loaded, num_witnesses, self.serving, self.backend
        )
        self.model_dir.mkdir(exist_ok=True)
        _write_if_changed(self.model_dir / CONFIG_FILE, text)
        if not self.tensorrt:
            return
        kernels_dir = self.root / KERNELS_MODEL_NAME
        (kernels_dir / "1").mkdir(parents=True, exist_ok=True)
        text = layout.kernels_config(num_witnesses, self.serving)
        _write_if_changed(kernels_dir / CONFIG_FILE, text)
        _write_if_changed(
            kernels_dir / "1" / "model.py", _template(kernels_template)
        )
        aggregate_dir = self.root / AGGREGATE_MODEL_NAME
        for version in loaded:
            (aggregate_dir / str(version)).mkdir(parents=True, exist_ok=True)
            _write_if_changed(
                aggregate_dir / str(version) / "model.py",
                _template(aggregate_template),
            )
        text = layout.aggregate_config(loaded, self.serving)
        _write_if_changed(aggregate_dir / CONFIG_FILE, text)

    def write_pipeline_config(self, state: RepositoryState) -> None:
        """Write the ensemble's config for ``state``'s production/canary,
        flushed to disk: it is the record production is rebuilt from if
        ``repository.json`` is lost (:meth:`_rebuilt_state`)."""
        text = layout.pipeline_config(
            state.production, state.canary, state.num_witnesses, self.backend
        )
        (self.root / PIPELINE_NAME / "1").mkdir(parents=True, exist_ok=True)
        path = self.root / PIPELINE_NAME / CONFIG_FILE
        _write_if_changed(path, text, fsync=True)

    def write_configs(self, state: RepositoryState) -> None:
        """Write both configs for ``state`` (nothing before a canary)."""
        if state.canary and state.num_witnesses is not None:
            self.write_model_config(state.loaded, state.num_witnesses)
            self.write_pipeline_config(state)

    def remove_configs(self) -> None:
        """Back to no version at all: no ``deepclean`` config, no pipeline.

        A model folder without a config would stop a Triton started with
        ``--load-model=*``, so the folders go too (versions must be gone).
        """
        (self.model_dir / CONFIG_FILE).unlink(missing_ok=True)
        if self.model_dir.is_dir() and not any(self.model_dir.iterdir()):
            self.model_dir.rmdir()
        for name in (PIPELINE_NAME, KERNELS_MODEL_NAME, AGGREGATE_MODEL_NAME):
            shutil.rmtree(self.root / name, ignore_errors=True)

    def new_staging(self) -> Path:
        """A fresh folder for an export being assembled."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        path = self.staging_dir / uuid.uuid4().hex
        path.mkdir()
        return path

    def commit_version(self, staging: Path, version: int, info: dict) -> None:
        """Add ``version.json`` (and, backend onnx-python, the template
        ``model.py``); move into place.

        Raises:
            ModelError: the version folder already exists.
        """
        target = self.model_dir / str(version)
        if target.exists():
            raise ModelError(f"version folder {target} already exists")
        if not self.tensorrt:
            (staging / "model.py").write_text(_template(model_template))
        write_json(staging / VERSION_FILE, info)
        for extra in staging.glob("*.json"):
            if extra.name != VERSION_FILE:
                extra.unlink()
        self.model_dir.mkdir(exist_ok=True)
        os.rename(staging, target)

    def remove_version(self, version: int) -> None:
        """Delete a version's folders (it must not be loaded)."""
        for name in (MODEL_NAME, AGGREGATE_MODEL_NAME):
            source = self.root / name / str(version)
            if source.is_dir():
                unique = f"{name}-{version}-{uuid.uuid4().hex}"
                trash = self.staging_dir / f"removed-{unique}"
                os.rename(source, trash)
                shutil.rmtree(trash)

    def prune(self, state: RepositoryState) -> list[int]:
        """Delete the oldest versions beyond ``max_versions``.

        Production and canary are never deleted.

        Returns:
            The versions deleted.
        """
        on_disk = self.versions()
        keep = {state.production, state.canary}
        removable = [v for v in on_disk if v not in keep]
        excess = len(on_disk) - self.config.max_versions
        removed = removable[: max(0, excess)]
        for version in removed:
            self.remove_version(version)
            logger.info(
                "removed version %d (max_versions %d)",
                version,
                self.config.max_versions,
            )
        return removed
