"""The frame source's settings as the root ``pyproject.toml`` gives them.

Tests build their sub-configs from these and change only what they test
(``dataclasses.replace``), so no test repeats a value whose one home is
``[tool.typeo.scripts.replay]``.
"""

from replay.config import ReplaySettings
from utils.settings_checks import ENVIRON
from utils.settings_checks import PYPROJECT
from utils.settings_checks import settings_loader

__all__ = ["ENVIRON", "PACE", "PYPROJECT", "SETTINGS", "load_settings"]
# ``load_settings(section="replay", *flags, path=PYPROJECT, **values)``
load_settings = settings_loader(ReplaySettings, "replay")
SETTINGS = load_settings()
PACE = SETTINGS.pace_config()
