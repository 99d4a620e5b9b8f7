"""The cleaner's settings as the root ``pyproject.toml`` gives them.

Tests and benchmarks build their components from these (and change only
what they test, with ``dataclasses.replace``), so no test repeats a value
whose one home is ``[tool.typeo.scripts.cleaner]``.
"""

from __future__ import annotations

from pathlib import Path

from cleaner.config import CleanerSettings
from utils.config import parse_settings

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = ROOT / "pyproject.toml"
# what run.sh exports; the folders are replaced by each test that uses them
ENVIRON = {
    "IFO": "L1",
    "PROJECT_DIR": "/nonexistent/project",
    "DATA_DIR": "/nonexistent/data",
}


def load_settings(
    section: str = "cleaner", *flags: str, path: Path = PYPROJECT
) -> CleanerSettings:
    """``cleaner --typeo <path>:<section> <flags>`` without running it."""
    argv = ["--typeo", f"{path}:{section}", *flags]
    return parse_settings(CleanerSettings, "cleaner", argv, environ=ENVIRON)


SETTINGS = load_settings()
