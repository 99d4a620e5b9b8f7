"""What every service's frozen settings dataclass does with its values:
converts a few fields, validates them all, builds its sub-configs.

- Validation: one message for a value that breaks its rule,
  ``ConfigError("name=value: rule")``, naming the setting and what it must
  be. A settings class lists its rules as ``(name, holds, rule)`` and
  checks them in order with :func:`check_rules`; a sub-config checks a
  field at a time with :func:`require`. Rules that several services share
  (a port, the channels of one interferometer) are built here.
- :func:`convert_fields`: typeo gives strings and lists; ``Path``s and
  lists are set in ``__post_init__``.
- :func:`check_sub_configs`: every sub-config is built once at start-up.
- :func:`sub_config`: a component's frozen sub-config from the settings
  of the same names (the others given by keyword).
"""

from __future__ import annotations

import dataclasses
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


def port_rule(name: str, port: int) -> Rule:
    """``port`` is a TCP port on which to listen, 0 for none."""
    return (name, 0 <= port <= MAX_PORT, f"0 (off) .. {MAX_PORT}")


def channel_rules(settings: object) -> list[Rule]:
    """The settings ``strain_channel``, ``state_channel`` and
    ``witness_channels`` (one or more) are channels of ``ifo``."""
    ifo = settings.ifo
    of_ifo = [
        c.startswith(f"{ifo}:")
        for c in (
            settings.strain_channel,
            settings.state_channel,
            *settings.witness_channels,
        )
    ]
    return [
        ("strain_channel", of_ifo[0], f"a channel of ifo={ifo!r}"),
        ("state_channel", of_ifo[1], f"a channel of ifo={ifo!r}"),
        (
            "witness_channels",
            len(of_ifo) > 2 and all(of_ifo[2:]),
            f"one or more channels, all of ifo={ifo!r}",
        ),
    ]


def band_rules(settings: object) -> list[Rule]:
    """The band ``freq_low`` .. ``freq_high`` (Hz) lies below the Nyquist
    frequency of ``sample_rate``."""
    low, high = settings.freq_low, settings.freq_high
    rate = settings.sample_rate
    return [
        ("freq_low", 0 < low < high, f"0 < freq_low < freq_high={high!r}"),
        ("freq_high", high < rate / 2, f"< sample_rate / 2 = {rate / 2:g} Hz"),
    ]


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


def stream_rules(settings: object) -> list[Rule]:
    """The settings of the live input stream
    (:class:`utils.follower.StreamConfig`) and its analysis-ready mask."""
    return [
        ("ready_mask", settings.ready_mask >= 0, ">= 0"),
        ("frame_timeout", settings.frame_timeout > 0, "> 0 s"),
        (
            "max_consecutive_drops",
            settings.max_consecutive_drops >= 1,
            ">= 1",
        ),
        ("start_timeout", settings.start_timeout > 0, "> 0 s"),
    ]


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


def convert_fields(settings: object, **converters: Callable) -> None:
    """Set each field ``name`` of the frozen dataclass ``settings`` to
    ``converters[name](value)``, e.g. ``project_dir=Path``."""
    for name, convert in converters.items():
        object.__setattr__(settings, name, convert(getattr(settings, name)))


def sub_config(cls: type[T], settings: object, **values: Any) -> T:
    """The dataclass ``cls`` built by keyword: ``values``, and each other
    field without a default from the setting of the same name (a field
    with a default keeps it: its home is ``cls``)."""
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    }
    named = {name: getattr(settings, name) for name in required - set(values)}
    return cls(**named, **values)
