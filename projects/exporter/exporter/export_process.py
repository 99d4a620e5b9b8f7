"""Run a conversion (:mod:`exporter.convert`) in a subprocess.

The subprocess (``python -m exporter.convert RUN_DIR OUT_DIR CONFIG_JSON``)
keeps torch out of the web process and lets a conversion be killed at its
timeout, which a thread cannot be. It writes ``OUT_DIR/conversion.json``,
or prints one JSON line ``{"error", "detail"}`` and exits with
:data:`EXIT_REFUSED`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from utils.errors import ModelError, VerificationError

from exporter.config import ExportConfig

RESULT_FILE = "conversion.json"
EXIT_REFUSED = 3  # the conversion was refused with a domain error


def config_argument(config: ExportConfig) -> str:
    """The CONFIG_JSON argument of the subprocess for ``config``."""
    return json.dumps(asdict(config))


def run_conversion(run_dir: Path, out_dir: Path, config: ExportConfig) -> dict:
    """Run :func:`exporter.convert.convert_run` in a subprocess.

    The subprocess is killed after ``config.timeout`` seconds.

    The subprocess runs in ``out_dir`` so that no folder of the caller's
    working directory can shadow a package torch's exporter imports.

    Returns:
        The result of :func:`exporter.convert.convert_run`.

    Raises:
        ModelError: conversion failed or timed out.
        VerificationError: the export disagrees with torch.
    """
    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir).resolve()
    command = [sys.executable, "-m", "exporter.convert", str(run_dir),
               str(out_dir), config_argument(config)]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=config.timeout, check=False,
                              cwd=out_dir)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"export of {run_dir} took longer than "
                         f"{config.timeout:.0f} s; stopped") from exc
    if done.returncode == EXIT_REFUSED:
        lines = done.stdout.strip().splitlines() or ["{}"]
        try:
            refusal = json.loads(lines[-1])
        except ValueError:
            refusal = {"detail": lines[-1][:500]}
        cls = (VerificationError if refusal.get("error") ==
               "VerificationError" else ModelError)
        raise cls(refusal.get("detail", f"export of {run_dir} refused"))
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise ModelError(f"export of {run_dir} failed (exit "
                         f"{done.returncode}): {' | '.join(tail)}")
    return json.loads((Path(out_dir) / RESULT_FILE).read_text())
