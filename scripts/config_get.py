"""Print values of the typeo config for run.sh (stdlib only).

    python3 scripts/config_get.py CONFIG KEY [KEY ...]

Keys are ``base.<name>`` or ``<section>.<name>``; ``${ENV}`` references are
expanded from the environment, ``${base.x}`` from the base table. One value
per line.
"""

import os
import re
import sys
import tomllib


def expand(value: str, base: dict) -> str:
    value = re.sub(
        r"\$\{base\.(\w+)\}", lambda m: str(base[m.group(1)]), str(value)
    )
    return re.sub(r"\$\{(\w+)\}", lambda m: os.environ[m.group(1)], value)


def main() -> None:
    path, *keys = sys.argv[1:]
    with open(path, "rb") as f:
        typeo = tomllib.load(f)["tool"]["typeo"]
    base = typeo.get("base", {})
    for key in keys:
        section, name = key.split(".", 1)
        table = base if section == "base" else typeo["scripts"][section]
        print(expand(table[name], base))


if __name__ == "__main__":
    main()
