"""The exporter's settings as the root ``pyproject.toml`` gives them.

Tests and benchmarks build their components from these (changing only what
they test, with ``dataclasses.replace`` or :meth:`ExporterSettings
.export_config` and friends), so no test repeats a value whose one home is
``[tool.typeo.scripts.exporter]``.
"""

from __future__ import annotations

from pathlib import Path

from exporter.config import ExporterSettings
from utils.config import parse_settings

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = ROOT / "pyproject.toml"
# what run.sh exports; folders are replaced by each test that uses them
ENVIRON = {
    "IFO": "L1",
    "PROJECT_DIR": "/nonexistent/project",
    "DATA_DIR": "/nonexistent/data",
}


def load_settings(
    section: str = "exporter", *flags: str, path: Path = PYPROJECT
) -> ExporterSettings:
    """``exporter --typeo <path>:<section> <flags>`` without running it."""
    argv = ["--typeo", f"{path}:{section}", *flags]
    return parse_settings(ExporterSettings, "exporter", argv, environ=ENVIRON)


SETTINGS = load_settings()
