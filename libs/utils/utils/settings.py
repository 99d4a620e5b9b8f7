"""What every service's frozen settings dataclass does with its values:
converts a few fields, validates them all, builds its sub-configs.

- Validation: one message for a value that breaks its rule,
  ``ConfigError("name=value: rule")``, naming the setting and what it must
  be. A settings class lists its rules as ``(name, holds, rule)`` and
  checks them in order with :func:`check_rules`; a sub-config checks a
  field at a time with :func:`require`. A rule that several services
  share is built here (a port) or is a method of the group of settings it
  is about (:mod:`utils.fields`).
- :func:`convert_fields`: typeo and TOML give strings and sequences; the
  fields' annotations say which become ``Path``s and lists.
- :func:`check_sub_configs`: every sub-config is built once at start-up.
- :func:`sub_config`: a component's frozen sub-config from the settings
  of the same names, or of its prefix (``gate_threshold`` for the gate's
  ``threshold``); the others given by keyword.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import MISSING
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from utils.errors import ConfigError
from utils.signal import Subbands

T = TypeVar("T")
Rule = tuple[str, bool, str]  # (setting, whether its rule holds, the rule)
MAX_PORT = 65535  # the largest TCP port


def require(ok: bool, name: str, value: object, rule: str) -> None:
    """Validate one field.

    Raises:
        ConfigError: ``"name=value: rule"`` unless ``ok``.
    """
    if not ok:
        raise ConfigError(f"{name}={value!r}: {rule}")


def check_rules(settings: object, rules: Iterable[Rule]) -> None:
    """Every rule holds, checked in order.

    Args:
        settings: the object whose attribute ``name`` each rule is about.
        rules: ``(name, holds, rule)`` triples.

    Raises:
        ConfigError: the first that does not hold, naming the setting and
            its value (:func:`require`).
    """
    for name, holds, rule in rules:
        require(holds, name, getattr(settings, name), rule)


def require_positive(settings: object, *names: str) -> None:
    """Each attribute ``names`` of ``settings`` is a positive finite
    number; ConfigError (:func:`require`) names the first that is not."""
    _require_each(settings, names, _is_positive, "a positive finite number")


def require_counts(settings: object, *names: str) -> None:
    """Each attribute ``names`` of ``settings`` is a positive integer;
    ConfigError (:func:`require`) names the first that is not."""
    _require_each(settings, names, _is_count, "a positive integer")


def _require_each(
    settings: object,
    names: Iterable[str],
    holds: Callable[[object], bool],
    rule: str,
) -> None:
    for name in names:
        value = getattr(settings, name)
        require(holds(value), name, value, rule)


def _is_positive(value: object) -> bool:
    return (
        isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and value > 0


def port_rule(name: str, port: int) -> Rule:
    """``port`` is a TCP port on which to listen, 0 for none."""
    return (name, 0 <= port <= MAX_PORT, f"0 (off) .. {MAX_PORT}")


def subband_rules(settings: object) -> list[Rule]:
    """``subband_edges`` split the band ``freq_low`` .. ``freq_high``
    (:class:`utils.signal.Subbands`); nothing to say of them while the
    band itself is wrong (its own rule names it)."""
    if not settings.freq_low < settings.freq_high:
        return []
    try:
        Subbands(
            settings.freq_low,
            settings.freq_high,
            tuple(settings.subband_edges),
        )
    except (TypeError, ValueError) as exc:
        return [("subband_edges", False, str(exc))]
    return []


def check_sub_configs(
    label: str,
    *builders: Callable[[], object],
    errors: tuple[type[Exception], ...] = (ConfigError, ValueError),
) -> None:
    """Build each sub-config once, at start-up: each validates its own
    fields, so a bad combination fails before the service runs.

    Args:
        label: what the message starts with (``cleaner settings``).
        builders: the settings' sub-config methods.
        errors: the errors of a sub-config that are reported (others
            pass through).

    Raises:
        ConfigError: ``"<label>: <error>"``, from the first error.
    """
    try:
        for build in builders:
            build()
    except errors as exc:
        raise ConfigError(f"{label}: {exc}") from exc


def convert_fields(settings: object) -> None:
    """Set each field of the frozen dataclass ``settings`` annotated
    ``Path`` to an absolute ``Path`` and each annotated ``List[...]`` to a
    list (the annotation is the one place that says what a setting is).

    A path is made absolute from the folder the service starts in, so that
    a worker elsewhere (a batch job in its scratch folder) reads and writes
    the same files. ``""`` and ``"."``, which the command line cannot tell
    apart, stay ``"."``: not set, as each service's rules say."""
    hints = typing.get_type_hints(type(settings))
    for field in dataclasses.fields(settings):
        hint = hints[field.name]
        if hint is Path:
            convert = _absolute
        elif typing.get_origin(hint) is list:
            convert = list
        else:
            continue
        value = getattr(settings, field.name)
        object.__setattr__(settings, field.name, convert(value))


def _absolute(value: str | Path) -> Path:
    path = Path(value)  # "" arrives as "." too: not set (the rules say)
    return path if path == Path() else path.absolute()


def sub_config(
    cls: type[T],
    settings: object,
    prefix: str = "",
    *,
    defaults: bool = True,
    **values: Any,
) -> T:
    """The dataclass ``cls`` built by keyword: ``values``, and each other
    field without a default from the setting ``prefix + name`` where there
    is one (``gate_threshold`` for ``threshold``), else ``name`` (a field
    with a default keeps it: its home is ``cls``). ``defaults=False``: a
    field with a default too comes from the settings where they have it
    (a config of ``libs/utils`` whose defaults serve tests and benchmarks
    while a service sets it from its own section)."""
    named = {}
    for field in dataclasses.fields(cls):
        default = field.default, field.default_factory
        if field.name in values:
            continue
        if default != (MISSING, MISSING):
            if defaults or not hasattr(settings, field.name):
                continue
        name = prefix + field.name
        if not prefix or not hasattr(settings, name):
            name = field.name
        named[field.name] = getattr(settings, name)
    return cls(**named, **values)
