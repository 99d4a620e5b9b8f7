"""Configuration of the frame source (frozen, validated at start-up)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from utils.errors import ConfigError
from utils.simulation import Fault, SimulationConfig

_FAULT = re.compile(r"^(?P<kind>[a-z_]+):(?P<start>-?\d+)(-(?P<stop>-?\d+))?$")


def parse_faults(entries: list[str] | tuple[str, ...]) -> dict[int, Fault]:
    """``["drop:120", "late:200", "drop:300-330"]`` -> ``{offset: Fault}``.

    Offsets are seconds relative to the first live second (negative ones
    fall in the prefill); ``a-b`` is the inclusive range ``a..b``.

    Raises:
        ConfigError: an entry is malformed or names an unknown fault.
    """
    out: dict[int, Fault] = {}
    kinds = ", ".join(f.value for f in Fault)
    for entry in entries:
        match = _FAULT.match(entry.strip())
        if match is None:
            raise ConfigError(
                f"fault {entry!r} is not 'kind:offset' or 'kind:start-stop'"
            )
        try:
            fault = Fault(match["kind"])
        except ValueError:
            raise ConfigError(
                f"unknown fault {match['kind']!r} in {entry!r}; one of {kinds}"
            ) from None
        start = int(match["start"])
        stop = int(match["stop"]) if match["stop"] is not None else start
        if stop < start:
            raise ConfigError(f"fault range {entry!r} ends before it starts")
        for offset in range(start, stop + 1):
            out[offset] = fault
    return out


@dataclass(frozen=True)
class PaceConfig:
    """When seconds are written.

    Attributes:
        speed: simulated seconds per wall second (1: real time).
        start_gps: GPS of the first live second; 0: the current GPS second.
        duration: live seconds to write; 0: until stopped.
        keep_length: seconds of frames kept in each folder (older pruned);
            0 keeps everything.
        max_lag_length: wall seconds behind schedule after which the
            overdue seconds are skipped (left as a gap); 0 never skips.
    """

    speed: float = 1.0
    start_gps: int = 0
    duration: int = 0
    keep_length: int = 600
    max_lag_length: float = 60.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ConfigError(f"speed must be > 0, got {self.speed}")
        for name in ("start_gps", "duration", "keep_length", "max_lag_length"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")


@dataclass(frozen=True)
class SimulateConfig:
    """The ``simulate`` mode.

    Attributes:
        data_dir: output root (``kafka/``, ``lldetchar/``, ``truth/``).
        simulation: what to simulate.
        pace: when to write and what to keep.
        prefill_length: seconds written at once before the first live one.
        faults: offset (s, from the first live second) -> fault.
        fault_rate: probability that any other second gets a random fault.
        fault_kinds: the faults drawn at ``fault_rate``.
        late_delay: seconds a LATE frame is held back.
    """

    data_dir: Path
    simulation: SimulationConfig
    pace: PaceConfig = field(default_factory=PaceConfig)
    prefill_length: int = 0
    faults: dict[int, Fault] = field(default_factory=dict)
    fault_rate: float = 0.0
    fault_kinds: tuple[Fault, ...] = (Fault.DROP, Fault.LATE)
    late_delay: float = 1.5

    def __post_init__(self) -> None:
        if self.prefill_length < 0:
            raise ConfigError("prefill_length must be >= 0")
        keep = self.pace.keep_length
        if keep and self.prefill_length > keep:
            raise ConfigError(
                f"prefill_length {self.prefill_length} s > keep_length "
                f"{keep} s: the prefill would be pruned at once"
            )
        if not 0 <= self.fault_rate <= 1:
            raise ConfigError(f"fault_rate {self.fault_rate} not in [0, 1]")
        if self.fault_rate > 0 and not self.fault_kinds:
            raise ConfigError("fault_rate > 0 needs fault_kinds")
        if self.late_delay < 0:
            raise ConfigError("late_delay must be >= 0")


@dataclass(frozen=True)
class PlaybackConfig:
    """The ``replay`` mode.

    Attributes:
        source_dir: recorded frames, same layout as ``data_dir``
            (``kafka/{IFO}/``, ``lldetchar/{IFO}/``, optional ``truth/``).
        data_dir: output root.
        ifo: interferometer.
        pace: when to write and what to keep.
        restamp: rewrite the frames with new GPS times (from ``start_gps``
            or now) instead of copying them under their own names.
        loop: start again at the end (only with ``restamp``).
    """

    source_dir: Path
    data_dir: Path
    ifo: str
    pace: PaceConfig = field(default_factory=PaceConfig)
    restamp: bool = True
    loop: bool = False

    def __post_init__(self) -> None:
        if Path(self.source_dir).resolve() == Path(self.data_dir).resolve():
            raise ConfigError("source_dir and data_dir must differ")
        if self.loop and not self.restamp:
            raise ConfigError("loop needs restamp (names would repeat)")
