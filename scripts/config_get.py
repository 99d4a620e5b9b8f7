"""Print values of the typeo config for run.sh (stdlib only).

    python3 scripts/config_get.py CONFIG KEY [KEY ...]

Keys are ``base.<name>`` or ``<section>.<name>`` (a profile section
``<section>-<profile>`` is laid over ``<section>``, as utils.config does);
``${ENV}`` references are expanded from the environment (``${ENV:-d}``: d
when unset or empty), ``${base.x}`` from
the base table, ``${base.x_${IFO}}`` with the variable first. One value per
line (a list: its items, space-separated). A missing variable or key exits
with status 1 and a message naming it.
"""

import os
import re
import sys
import tomllib

NESTED = re.compile(r"(\$\{base\.\w*)\$\{(\w+)\}")


def env(name: str, default: str | None = None) -> str:
    if os.environ.get(name, "") == "" and default is not None:
        return default
    if name not in os.environ:
        sys.exit(f"config_get: environment variable {name} is not set")
    return os.environ[name]


def lookup(base: dict, name: str) -> object:
    if name not in base:
        sys.exit(f"config_get: no key {name!r} in [tool.typeo.base]")
    return base[name]


def expand(value: object, base: dict) -> object:
    if isinstance(value, list):
        out: list = []
        for item in value:
            done = expand(item, base)
            spliced = isinstance(done, list) and str(item).startswith("${")
            out += done if spliced else [done]
        return out
    value = str(value)
    while (nested := NESTED.search(value)) is not None:
        name = nested[1] + env(nested[2])
        value = value[: nested.start()] + name + value[nested.end() :]
    whole = re.fullmatch(r"\$\{base\.(\w+)\}", value)
    if whole:
        return expand(lookup(base, whole[1]), base)
    value = re.sub(
        r"\$\{base\.(\w+)\}", lambda m: str(lookup(base, m[1])), value
    )
    return re.sub(
        r"\$\{(\w+)(?::-([^${}]*))?\}", lambda m: env(m[1], m[2]), value
    )


def section(scripts: dict, name: str) -> dict:
    parent = name
    while "-" in parent and parent not in scripts:
        parent = parent.rsplit("-", 1)[0]
    if parent not in scripts and name not in scripts:
        sys.exit(f"config_get: no section [tool.typeo.scripts.{name}]")
    return {**scripts.get(parent, {}), **scripts.get(name, {})}


def main() -> None:
    path, *keys = sys.argv[1:]
    with open(path, "rb") as f:
        typeo = tomllib.load(f)["tool"]["typeo"]
    base = typeo.get("base", {})
    for key in keys:
        where, name = key.split(".", 1)
        table = base if where == "base" else section(typeo["scripts"], where)
        if name not in table:
            sys.exit(f"config_get: no key {name!r} in {where}")
        value = expand(table[name], base)
        print(" ".join(value) if isinstance(value, list) else value)


if __name__ == "__main__":
    main()
