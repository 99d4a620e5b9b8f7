"""The cleaner's settings as the root ``pyproject.toml`` gives them.

Tests and benchmarks build their components from these (and change only
what they test, with ``dataclasses.replace``), so no test repeats a value
whose one home is ``[tool.typeo.scripts.cleaner]``.
"""

from cleaner.config import CleanerSettings
from utils.settings_checks import ENVIRON
from utils.settings_checks import PYPROJECT
from utils.settings_checks import settings_loader

__all__ = ["ENVIRON", "PYPROJECT", "SETTINGS", "load_settings"]
# ``load_settings(section="cleaner", *flags, path=PYPROJECT, **values)``
load_settings = settings_loader(CleanerSettings, "cleaner")
SETTINGS = load_settings()
