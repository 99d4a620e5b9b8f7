"""Print values of the typeo config for run.sh, read as the services read
it (:func:`utils.config.value_of`, which needs the standard library only:
run.sh calls this before any environment is built).

    python3 scripts/config_get.py CONFIG KEY [KEY ...]

Keys are ``base.<name>`` or ``<section>.<name>`` (a profile section
``<section>-<profile>`` laid over ``<section>``); every reference is
resolved (``${ENV}``, ``${base.x}``, ``${<section>.x}``). One value per
line (a list: its items, space-separated). A missing variable or key exits
with status 1 and a message naming it.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "libs" / "utils"))

from utils.config import value_of
from utils.errors import ConfigError


def main() -> None:
    path, *keys = sys.argv[1:]
    for key in keys:
        try:
            value = value_of(Path(path), key)
        except ConfigError as exc:
            sys.exit(f"config_get: {exc}")
        print(" ".join(map(str, value)) if isinstance(value, list) else value)


if __name__ == "__main__":
    main()
