"""The exporter's settings as the root ``pyproject.toml`` gives them.

Tests and benchmarks build their components from these (changing only what
they test, with ``dataclasses.replace`` or :meth:`ExporterSettings
.export_config` and friends), so no test repeats a value whose one home is
``[tool.typeo.scripts.exporter]``.
"""

from exporter.config import ExporterSettings
from utils.settings_checks import ENVIRON
from utils.settings_checks import PYPROJECT
from utils.settings_checks import settings_loader

__all__ = ["ENVIRON", "PYPROJECT", "SETTINGS", "load_settings"]
# ``load_settings(section="exporter", *flags, path=PYPROJECT, **values)``
load_settings = settings_loader(ExporterSettings, "exporter")
SETTINGS = load_settings()
