"""Versions of the pipeline: export, promote, and keep Triton in step.

The :class:`VersionManager` is the only code that changes the repository
and tells Triton; every change holds the repository lock. A switch from one
state (production P, canary C) to the next never leaves the pipeline
pointing at an unloaded version:

1. ``deepclean`` keeps the union of old and new versions; load, wait;
2. the ensemble points at the new production/canary; load, wait;
3. ``deepclean`` keeps exactly the new versions (the old ones unload).

With backend ``tensorrt``, ``deepclean-aggregate`` (the step that tags
each branch with its version) keeps the same versions as ``deepclean``
and is loaded with it at steps 1 and 3.

``repository.json`` is written after the switch succeeded; a failed switch
restores the old configs, reloads them, and raises.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from datetime import datetime
from datetime import timezone
from pathlib import Path

from exporter import export_process
from exporter.errors import Conflict
from exporter.errors import NotFound
from exporter.export_process import ExportConfig
from exporter.layout import PIPELINE_NAME
from exporter.metrics import ExporterMetrics
from exporter.repository import ModelRepository
from exporter.repository import RepositoryState
from exporter.triton import TritonControl
from utils.contracts import witness_mismatch
from utils.errors import ModelError
from utils.errors import ServiceError

logger = logging.getLogger(__name__)
RECONCILE_LOCK_TIMEOUT = 1.0  # s; a busy repository is checked next time


def utc_now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class VersionManager:
    """Exports runs into versions, promotes them, re-loads Triton.

    Args:
        repository: the files.
        triton: the server.
        export: conversion settings (backend, bound, timeout).
        metrics: where exports, promotions and the state are counted.
    """

    def __init__(
        self,
        repository: ModelRepository,
        triton: TritonControl,
        export: ExportConfig,
        metrics: ExporterMetrics,
    ) -> None:
        self.repository = repository
        self.triton = triton
        self.export_config = export
        self.metrics = metrics

    def prepare(self) -> RepositoryState:
        """Create missing pieces of the repository (start-up)."""
        with self.repository.lock:
            state = self.repository.ensure()
        on_disk = len(self.repository.versions())
        self.metrics.observe_state(state, on_disk)
        logger.info(
            "model repository %s: production %d, canary %d, %d "
            "versions on disk",
            self.repository.root,
            state.production,
            state.canary,
            on_disk,
        )
        self._check_served_witnesses(state)
        return state

    def _witness_mismatch(self, version: int) -> str | None:
        """How ``version``'s witnesses differ from what the cleaner sends
        (:func:`utils.contracts.witness_mismatch`); None: they agree, or
        either is not known."""
        sent = self.export_config.witness_channels
        info = self.repository.version_info(version) or {}
        return witness_mismatch(info.get("witness_channels", sent), sent)

    def _check_served_witnesses(self, state: RepositoryState) -> None:
        """Name a served version trained on other witnesses than the
        cleaner sends (its settings changed since): it is fed the wrong
        channels until a run on the cleaner's is exported and promoted."""
        for version in sorted({state.production, state.canary} - {0}):
            mismatch = self._witness_mismatch(version)
            if mismatch is not None:
                logger.error(
                    "version %d %s; it is fed the wrong channels until a "
                    "run trained on the cleaner's is exported and promoted",
                    version,
                    mismatch,
                )

    # -- export --

    def export(self, run: str, run_dir: Path) -> int:
        """Export ``run`` as the new canary; return its version.

        Raises:
            ModelError: conversion failed or timed out.
            VerificationError: the export disagrees with torch.
            ServiceError: Triton could not load it (nothing changed).
        """
        existing = self.repository.find_run(run)
        if existing is not None:
            return existing
        start = time.monotonic()
        staging = self.repository.new_staging()
        try:
            result = export_process.run_conversion(
                run_dir, staging, self.export_config
            )
            with self.repository.lock:
                existing = self.repository.find_run(run)
                if existing is not None:
                    return existing
                version = self._commit(run, staging, result)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.metrics.export_seconds.observe(time.monotonic() - start)
        return version

    def _commit(self, run: str, staging: Path, result: dict) -> int:
        state = self.repository.read_state()
        witnesses = list(result["witness_channels"])
        if state.num_witnesses not in (None, len(witnesses)):
            raise ModelError(
                f"run {run} has {len(witnesses)} witnesses; the pipeline "
                f"takes {state.num_witnesses}"
            )
        version = self.repository.free_number(state.next_version)
        info = {
            **result,
            "version": version,
            "run": run,
            "exported_at": utc_now(),
        }
        self.repository.commit_version(staging, version, info)
        new = replace(
            state,
            canary=version,
            next_version=version + 1,
            num_witnesses=len(witnesses),
        )
        try:
            self._switch(state, new)
        except Exception:  # nothing committed stays behind unrecorded
            self.repository.remove_version(version)
            if not state.canary:
                self.repository.remove_configs()
            failed = replace(state, next_version=version + 1).with_event(
                event="export-failed", version=version, run=run, time=utc_now()
            )
            self.repository.write_state(failed)
            raise
        self.repository.write_state(
            new.with_event(
                event="export", version=version, run=run, time=utc_now()
            )
        )
        removed = self.repository.prune(new)
        logger.info(
            "exported %s as version %d (canary; production %d, "
            "verification error %.2g); removed %s",
            run,
            version,
            new.production,
            result["verification_error"],
            removed,
        )
        self.metrics.observe_state(new, len(self.repository.versions()))
        return version

    # -- promotion --

    def promote(self, version: int, reason: str = "") -> RepositoryState:
        """Make ``version`` production; the canary stays as it is.

        Args:
            version: a version on disk (newer or older: a roll-back).
            reason: why, as the caller says (the monitor's verdict, an
                operator's note); kept in the history with the time.

        Raises:
            NotFound: no such version on disk.
            Conflict: it was trained on other witnesses than the cleaner
                sends (a version from before its list changed: it would
                be fed the wrong channels).
            ServiceError: Triton could not switch (nothing changed).
        """
        with self.repository.lock:
            state = self.repository.read_state()
            if version not in self.repository.versions():
                raise NotFound(
                    f"no version {version} in {self.repository.model_dir}"
                )
            if version == state.production:
                return state
            mismatch = self._witness_mismatch(version)
            if mismatch is not None:
                raise Conflict(
                    f"version {version} not promoted: it {mismatch}"
                )
            new = replace(state, production=version).with_event(
                event="promote",
                version=version,
                previous=state.production,
                time=utc_now(),
                reason=reason,
            )
            self._switch(state, new)
            self.repository.write_state(new)
        self.metrics.promotions.inc()
        self.metrics.observe_state(new, len(self.repository.versions()))
        logger.info(
            "promoted version %d to production (was %d); canary %d: %s",
            version,
            state.production,
            new.canary,
            reason or "no reason given",
        )
        return new

    # -- keeping Triton in step --

    def _load_versions(self, versions: list[int]) -> None:
        for name in self.repository.versioned_models:
            self.triton.load(name, versions)

    def _switch(self, old: RepositoryState, new: RepositoryState) -> None:
        union = sorted(set(old.loaded) | set(new.loaded))
        repo, witnesses = self.repository, new.num_witnesses
        try:
            if not old.canary:  # first version: the ensemble loads it
                repo.write_configs(new)
                self.triton.load(PIPELINE_NAME)
                for name in repo.versioned_models:
                    self.triton.wait_ready(name, new.loaded)
                return
            if set(new.loaded) - set(old.loaded):
                repo.write_model_config(union, witnesses)
                self._load_versions(union)
            repo.write_pipeline_config(new)
            self.triton.load(PIPELINE_NAME)
            if union != new.loaded:
                repo.write_model_config(new.loaded, witnesses)
                self._load_versions(new.loaded)
        except Exception:
            logger.exception(
                "switch to production %d / canary %d failed; "
                "restoring production %d / canary %d",
                new.production,
                new.canary,
                old.production,
                old.canary,
            )
            self._restore(old)
            raise

    def _restore(self, old: RepositoryState) -> None:
        repo = self.repository
        if not old.canary:
            repo.remove_configs()
            # deepclean-null (fixed_models[0]) stays: it serves nothing else
            names = (PIPELINE_NAME, *repo.versioned_models)
            for name in (*names, *repo.fixed_models[1:]):
                self._try(lambda n=name: self.triton.unload(n))
            return
        repo.write_configs(old)
        self._try(lambda: self._load_versions(old.loaded))
        self._try(lambda: self.triton.load(PIPELINE_NAME))

    @staticmethod
    def _try(action) -> None:
        try:
            action()
        except ServiceError as exc:
            logger.warning("while restoring: %s", exc)

    def reconcile(self, force: bool = False) -> bool:
        """Load into Triton what the repository says should be loaded.

        Cheap when all is in place (two readiness checks); after a Triton
        restart it re-loads ``deepclean-null``, ``deepclean`` and the
        pipeline. Skips quietly when Triton is down or the lock is busy.

        Args:
            force: ask Triton to load the models even if they are ready, so
                that changed configs (scheme, threads) take effect; Triton
                skips unchanged models and swaps changed ones without a gap.

        Returns:
            Whether the pipeline is (now) ready.
        """
        if not self.triton.is_live():
            return False
        try:
            self.repository.lock.acquire(RECONCILE_LOCK_TIMEOUT)
        except ServiceError:
            return False
        try:
            return self._reconcile_locked(force)
        finally:
            self.repository.lock.release()

    def _reconcile_locked(self, force: bool) -> bool:
        repo, state = self.repository, self.repository.read_state()
        if not self.triton.is_model_ready(repo.fixed_models[0]):
            self.triton.load(repo.fixed_models[0])  # deepclean-null
        if not state.canary:
            return False
        repo.write_configs(state)
        for name in repo.versioned_models:
            ready = self.triton.ready_versions(name) or set()
            if ready != set(state.loaded):
                logger.info(
                    "Triton serves %s versions %s, repository says %s: "
                    "loading",
                    name,
                    sorted(ready),
                    state.loaded,
                )
            if force or ready != set(state.loaded):
                self.triton.load(name, state.loaded)
        if force or not self.triton.is_model_ready(PIPELINE_NAME):
            self.triton.load(PIPELINE_NAME)
        return True
