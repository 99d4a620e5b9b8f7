"""Settings from the root ``pyproject.toml``, the one home of every value.

Each service has one frozen settings dataclass whose docstring ``Args:``
are its ``--help``; :func:`parse_settings` fills it with typeo from a
section of ``[tool.typeo.scripts]``::

    cleaner --typeo pyproject.toml:cleaner [--flag value ...]

- ``${NAME}`` is taken from the environment (``${NAME:-default}``: the
  default when it is unset or empty), ``${base.name}`` from
  ``[tool.typeo.base]`` (a value that is only a reference keeps its type,
  e.g. a list, and a list element that is one is spliced in); a base
  name may hold an environment reference, resolved first:
  ``${base.witness_channels_${IFO}}`` is the list of the IFO, and an IFO
  without one is refused, naming it;
- ``${<section>.name}`` (``${trainer.lr}``) is the value of ``name`` in
  ``[tool.typeo.scripts.<section>]`` itself (not a profile of it), for a
  value whose home is another service's section; resolved first, it keeps
  its type and may hold references of its own;
- a *profile* section ``<section>-<profile>`` (``cleaner-production``)
  lists only what it changes: it is laid over ``<section>``; a profile a
  service does not need has no section, and ``<section>`` alone is read;
- flags after ``--typeo`` override the file (plain typeo refuses them);
- a key the settings class does not have is refused, naming the key.

Nothing below a service's ``main`` reads TOML or the environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

from utils.errors import ConfigError

T = TypeVar("T")
_BASE = re.compile(r"\$\{base\.(\w+)\}")
_ENV = re.compile(r"\$\{(\w+)(?::-([^${}]*))?\}")  # ${NAME[:-default]}
# an environment reference inside a base name: ${base.x_${IFO}}
_NESTED = re.compile(r"(\$\{base\.\w*)\$\{(\w+)\}")
# a key of another section: ${trainer.lr}
_SECTION = re.compile(r"\$\{(?!base\.)([\w-]+)\.(\w+)\}")
MAX_SECTION_DEPTH = 8  # references to sections through sections


def read_tables(path: Path) -> tuple[dict, dict]:
    """``([tool.typeo.base], [tool.typeo.scripts])`` of a config file."""
    try:
        with open(path, "rb") as handle:
            config = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    typeo_table = config.get("tool", config).get("typeo", {})
    return typeo_table.get("base", {}), typeo_table.get("scripts", {})


def base_of(section: str, scripts: Mapping[str, Any]) -> str | None:
    """The section that ``section`` is a profile of (None: not a profile),
    whether or not the profile has a section of its own."""
    parent = section
    while "-" in parent:
        parent = parent.rsplit("-", 1)[0]
        if parent in scripts:
            return parent
    return None


def section_values(
    path: Path, section: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The values of ``section``, its profile laid over its base section
    and every reference resolved.

    Raises:
        ConfigError: no such section, or a reference to a missing base
            key or environment variable.
    """
    environ = os.environ if environ is None else environ
    base, scripts, raw = _section_raw(Path(path), section)
    values = {}
    for key, value in raw.items():
        where = f"{section}.{key}"
        value = _inline_sections(value, scripts, where)
        values[key] = _resolve(value, base, environ, where)
    return values


def value_of(
    path: Path, key: str, environ: Mapping[str, str] | None = None
) -> Any:
    """One value as the services read it: ``key`` is ``base.<name>`` or
    ``<section>.<name>`` (a profile section laid over its base section),
    its references resolved (only its own: another key's missing
    environment variable does not stop it).

    Raises:
        ConfigError: no such section or key, or a reference to a missing
            key or environment variable.
    """
    environ = os.environ if environ is None else environ
    where, _, name = key.partition(".")
    if where == "base":
        base, _ = read_tables(Path(path))
        return _resolve(
            _base(base, name, key, environ, {}), base, environ, key
        )
    base, scripts, raw = _section_raw(Path(path), where)
    if name not in raw:
        raise ConfigError(f"no key {name!r} in [{where}] of {path}")
    value = _inline_sections(raw[name], scripts, key)
    return _resolve(value, base, environ, key)


def _section_raw(path: Path, section: str) -> tuple[dict, dict, dict]:
    """``(base, scripts, raw)``: the file's tables and ``section``'s
    unresolved values, its profile laid over its base section."""
    base, scripts = read_tables(path)
    parent = base_of(section, scripts)
    if section not in scripts and parent is None:
        raise ConfigError(
            f"no section [tool.typeo.scripts.{section}] in {path}"
        )
    raw = {**scripts.get(parent, {}), **scripts.get(section, {})}
    raw.pop("commands", None)
    return base, scripts, raw


def _inline_sections(
    value: Any, scripts: Mapping[str, Any], where: str, depth: int = 0
) -> Any:
    """``value`` with each ``${<section>.name}`` replaced by that key of
    ``[tool.typeo.scripts.<section>]`` (a whole-value reference keeps the
    value's type).

    Raises:
        ConfigError: no such section or key, or references in a loop.
    """
    if isinstance(value, list):
        return [_inline_sections(v, scripts, where, depth) for v in value]
    if not isinstance(value, str) or _SECTION.search(value) is None:
        return value
    if depth >= MAX_SECTION_DEPTH:
        raise ConfigError(f"{where}: section references in a loop: {value}")

    def lookup(match: re.Match) -> Any:
        section, name = match[1], match[2]
        try:
            found = scripts[section][name]
        except KeyError:
            raise ConfigError(
                f"{where}: no key {name!r} in [tool.typeo.scripts.{section}]"
            ) from None
        return _inline_sections(found, scripts, where, depth + 1)

    whole = _SECTION.fullmatch(value)
    if whole is not None:
        return lookup(whole)
    return _SECTION.sub(lambda m: str(lookup(m)), value)


def _resolve(
    value: Any, base: dict, environ: Mapping[str, str], where: str
) -> Any:
    if isinstance(value, list):
        items: list = []
        for item in value:
            resolved = _resolve(item, base, environ, where)
            spliced = isinstance(resolved, list) and _is_reference(item)
            items += resolved if spliced else [resolved]
        return items
    if not isinstance(value, str):
        return value

    def env(name: str, default: str | None = None) -> str:
        if environ.get(name, "") == "" and default is not None:
            return default
        try:
            return environ[name]
        except KeyError:
            raise ConfigError(
                f"{where}: environment variable {name} is not set"
            ) from None

    chosen: dict[str, str] = {}  # base name -> the variable that chose it
    while (nested := _NESTED.search(value)) is not None:
        name = nested[1] + env(nested[2])
        chosen[name.removeprefix("${base.")] = nested[2]
        value = value[: nested.start()] + name + value[nested.end() :]
    whole = _BASE.fullmatch(value)
    if whole is not None:
        found = _base(base, whole[1], where, environ, chosen)
        return _resolve(found, base, environ, where)
    value = _BASE.sub(
        lambda m: str(_base(base, m[1], where, environ, chosen)), value
    )
    return _ENV.sub(lambda m: env(m[1], m[2]), value)


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${base.")


def _base(
    base: dict,
    name: str,
    where: str,
    environ: Mapping[str, str],
    chosen: Mapping[str, str],
) -> Any:
    try:
        return base[name]
    except KeyError:
        pass
    variable = next((v for n, v in chosen.items() if name.startswith(n)), None)
    if variable is None:
        raise ConfigError(f"{where}: no key {name!r} in [tool.typeo.base]")
    prefix = name.removesuffix(environ[variable])
    known = sorted(
        k.removeprefix(prefix) for k in base if k.startswith(prefix)
    )
    raise ConfigError(
        f"{where}: {variable}={environ[variable]!r} is not supported: "
        f"[tool.typeo.base] has no {name!r} (known {variable}: "
        f"{', '.join(known) or 'none'})"
    )


def to_argv(values: Mapping[str, Any], cls: type) -> list[str]:
    """Command-line flags that set ``values`` on the dataclass ``cls``.

    Raises:
        ConfigError: a key that ``cls`` has no field for.
    """
    names = {f.name: f for f in dataclasses.fields(cls)}
    argv: list[str] = []
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"unknown setting {key!r} for {cls.__name__}")
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                argv.append(flag)
        elif isinstance(value, list):
            argv += [flag, *map(str, value)] if value else []
        else:
            argv += [flag, str(value)]
    return argv


def typeo_spec(argv: list[str], prog: str) -> tuple[Path, str] | None:
    """``(FILE, SECTION)`` of ``--typeo FILE[:SECTION]`` in ``argv``
    (SECTION: ``prog``; no FILE: ``pyproject.toml``); None without it."""
    if "--typeo" not in argv:
        return None
    at = argv.index("--typeo")
    spec = argv[at + 1] if at + 1 < len(argv) else "pyproject.toml"
    path, _, section = spec.rpartition(":")
    if not path:
        path, section = spec, prog
    return Path(path), section


def companion_values(
    argv: list[str],
    prog: str,
    other: str,
    keys: Sequence[str],
    environ: Mapping[str, str] | None = None,
) -> tuple[Path, str, dict[str, Any]] | None:
    """The settings ``keys`` of service ``other`` that go with ``prog``'s:
    for ``--typeo FILE:<prog>-<profile>`` in ``argv``, section
    ``<other>-<profile>`` of FILE if it has one, else ``<other>`` (run.sh
    runs every service with one file and one profile).

    Returns:
        ``(FILE, section, {key: value})`` (:func:`section_values`); None
        without ``--typeo`` or such a section in FILE.

    Raises:
        ConfigError: the section lacks one of ``keys`` (a contract checked
            on code defaults instead would pass unnoticed).
    """
    spec = typeo_spec(argv, prog)
    if spec is None:
        return None
    path, section = spec
    _, scripts = read_tables(path)
    profile = section.removeprefix(prog)  # "", "-production", ...
    names = [other + profile, other]
    name = next((n for n in names if n in scripts), None)
    if name is None:
        return None
    values = section_values(path, name, environ)
    missing = [key for key in keys if key not in values]
    if missing:
        raise ConfigError(f"[{name}] of {path} has no {', '.join(missing)}")
    return path, name, {key: values[key] for key in keys}


def parse_settings(
    cls: type[T],
    prog: str,
    argv: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Fill the settings dataclass ``cls`` from ``argv``.

    ``argv`` (default ``sys.argv[1:]``) may hold ``--typeo FILE:SECTION``
    and flags that override the file's values.

    Raises:
        ConfigError: a bad section, reference or key (see module doc).
        SystemExit: argparse's answer to a malformed or missing flag.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    for field in dataclasses.fields(cls):
        if field.type in (bool, "bool") and field.default is not False:
            raise ConfigError(
                f"{cls.__name__}.{field.name}: a flag must default to False"
            )
    args: list[str] = []
    spec = typeo_spec(argv, prog)
    if spec is not None:
        at = argv.index("--typeo")
        del argv[at : at + 2]
        args = to_argv(section_values(*spec, environ), cls)
    # imported here: the rest of this module is the standard library's
    # only, so that run.sh reads the file as the services do
    # (scripts/config_get.py) before any environment is built
    from hermes.typeo import typeo

    saved = sys.argv
    sys.argv = [prog, *args, *argv]
    try:
        return typeo(prog=prog)(cls)()
    finally:
        sys.argv = saved


def audit(
    cls: type, path: Path, section: str, components: tuple[type, ...] = ()
) -> list[str]:
    """Where a value of ``section`` would have a second home.

    Checks that every key of the section is a field of the settings class
    ``cls`` and every field a key (no default in code but ``False`` for
    flags), that each profile section of it changes every value it lists,
    and that no dataclass in ``components`` (the sub-configurations) has a
    default for a value the section sets.

    Returns:
        One line per problem (empty: every value has one home).
    """
    base, scripts = read_tables(Path(path))
    keys = set(scripts.get(section, {}))
    problems = []
    for field in dataclasses.fields(cls):
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        if has_default and field.default is not False:
            problems.append(
                f"{cls.__name__}.{field.name} has a default "
                f"in code ({field.default!r})"
            )
        if field.name not in keys and field.default is not False:
            problems.append(f"[{section}] lacks {field.name}")
    names = {f.name for f in dataclasses.fields(cls)}
    problems += [
        f"[{section}] sets {k}, which {cls.__name__} lacks"
        for k in sorted(keys - names)
    ]
    for name, table in scripts.items():
        if name == section or base_of(name, scripts) != section:
            continue
        for key, value in table.items():
            if scripts[section].get(key) == value:
                problems.append(f"[{name}] repeats {key} = {value!r}")
    for component in components:
        for field in dataclasses.fields(component):
            if field.name in keys and (
                field.default is not dataclasses.MISSING
                or field.default_factory is not dataclasses.MISSING
            ):
                problems.append(
                    f"{component.__name__}.{field.name} has a default in "
                    f"code; its home is [{section}]"
                )
    return problems
