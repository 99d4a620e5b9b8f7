"""The frame source's settings and the frozen sub-configs of its modes.

:class:`ReplaySettings` is read from ``[tool.typeo.scripts.replay]`` of the
root ``pyproject.toml`` (:func:`utils.config.parse_settings`); its
``Args:`` are ``replay --help``. It validates every value at start-up and
builds the sub-config of the mode by keyword: :class:`SimulateConfig` or
:class:`PlaybackConfig`, both with a :class:`PaceConfig`. A sub-config has
no default for a value the section sets. A profile the file lacks
(``replay-production``) is ``[replay]`` itself (:mod:`utils.config`).
No ``from __future__ import annotations`` here: typeo reads the real
annotation objects.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Literal, Tuple

from utils.errors import ConfigError
from utils.fields import ChannelFields
from utils.fields import ProjectFields
from utils.fields import documented
from utils.settings import check_rules
from utils.settings import check_sub_configs
from utils.settings import convert_fields
from utils.settings import port_rule
from utils.settings import require
from utils.settings import sub_config
from utils.simulation import Fault
from utils.simulation import SimulationConfig

MODES = ("simulate", "replay")
FAULT_NAMES = {fault.value for fault in Fault}
_FAULT = re.compile(r"^(?P<kind>[a-z_]+):(?P<start>-?\d+)(-(?P<stop>-?\d+))?$")


def parse_faults(entries: List[str] | Tuple[str, ...]) -> Dict[int, Fault]:
    """``["drop:120", "late:200", "drop:300-330"]`` -> ``{offset: Fault}``.

    Offsets are seconds relative to the first live second (negative ones
    fall in the prefill); ``a-b`` is the inclusive range ``a..b``.

    Raises:
        ConfigError: an entry is malformed or names an unknown fault.
    """
    out: Dict[int, Fault] = {}
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

    speed: float
    start_gps: int
    duration: int
    keep_length: int
    max_lag_length: float

    def __post_init__(self) -> None:
        require(self.speed > 0, "speed", self.speed, "> 0")
        for name in ("start_gps", "duration", "keep_length", "max_lag_length"):
            value = getattr(self, name)
            require(value >= 0, name, value, ">= 0")


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
    pace: PaceConfig
    prefill_length: int
    faults: Dict[int, Fault]
    fault_rate: float
    fault_kinds: Tuple[Fault, ...]
    late_delay: float

    def __post_init__(self) -> None:
        prefill, keep = self.prefill_length, self.pace.keep_length
        require(prefill >= 0, "prefill_length", prefill, ">= 0")
        require(
            not keep or prefill <= keep,
            "prefill_length",
            prefill,
            f"<= keep_length={keep!r} s, or the prefill would be "
            "pruned at once",
        )
        rate = self.fault_rate
        require(0 <= rate <= 1, "fault_rate", rate, "in [0, 1]")
        require(
            rate == 0 or bool(self.fault_kinds),
            "fault_kinds",
            self.fault_kinds,
            f"not empty with fault_rate={rate!r}",
        )
        require(self.late_delay >= 0, "late_delay", self.late_delay, ">= 0")


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
    pace: PaceConfig
    restamp: bool
    loop: bool

    def __post_init__(self) -> None:
        source = Path(self.source_dir)
        require(
            source.resolve() != Path(self.data_dir).resolve(),
            "source_dir",
            str(source),
            "differs from data_dir",
        )
        require(
            self.restamp or not self.loop,
            "loop",
            self.loop,
            "needs restamping (keep_gps off): names would repeat",
        )


@documented
@dataclass(frozen=True)
class ReplaySettings(ChannelFields, ProjectFields):
    """Write LIGO-like low-latency frames into data_dir, simulated or
    replayed, until SIGTERM/SIGINT (or duration).

    The channels are those simulate writes (a MAINSMON witness drives the
    coupling).

    Args:
        mode:
            simulate: make frames; replay: play the frames in source_dir.
        data_dir:
            Output root: kafka/IFO (strain), lldetchar/IFO (witnesses) and
            truth/IFO (simulated coupled noise, for evaluation only).
        project_dir:
            DeepClean project folder; the log goes to its logs/replay.log.
        seed:
            simulate: the data are a function of it and the GPS second.
        line_ratio:
            simulate: ASD of the coupled 60 Hz line over the background
            ASD at 60 Hz; 0: no line in the strain.
        sideband_ratio:
            simulate: RMS ASD of the coupled sidebands (58.2-61.8 Hz) over
            the background ASD; 0 (with line_ratio 0): no coupling at all.
        num_coupled:
            simulate: ASC witnesses whose motion modulates the coupling.
        coupling_drift:
            simulate: relative depth (in [0, 1)) of the slow modulation of
            every coupling, the line's and each sideband's.
        coupling_drift_period:
            simulate: whole seconds of that modulation, shared by every
            coupling; 0: each its own, drawn in 600-3600 s.
        coupling_phase_drift:
            simulate: radians by which the phase of the whole coupling
            swings over coupling_drift_period; 0: a fixed phase.
        asc_band:
            simulate: low and high Hz of the ASC motion; only motion below
            2 Hz puts sidebands into 58-62 Hz.
        injection_interval:
            simulate: whole seconds per compact-binary injection (BNS or
            BBH, strain only, listed in data_dir/injections/IFO); 0: none.
        injection_snr:
            simulate: low and high optimal SNR of the injections (uniform).
        injection_low_frequency:
            simulate: Hz where the injected waveforms start (below 58).
        speed:
            Seconds of data written per wall-clock second (1: real time).
        start_gps:
            GPS of the first live second; 0: the current GPS second.
        duration:
            Live seconds to write before exiting; 0: until SIGTERM.
        prefill_length:
            simulate: seconds of past data written at once at start-up.
        keep_length:
            Seconds of frames kept in each folder (LIGO shared memory keeps
            a few hundred); 0 keeps everything.
        max_lag_length:
            Wall seconds behind schedule after which overdue seconds are
            skipped (a gap); 0 never skips.
        faults:
            simulate: scheduled faults separated by spaces, kind:offset or
            kind:start-stop with offsets in s from the first live second,
            e.g. "drop:120 late:200 drop:300-340"; empty: none.
        fault_rate:
            simulate: probability of a random fault in any other second.
        fault_kinds:
            simulate: the kinds drawn at fault_rate.
        late_delay:
            simulate: seconds a late frame is held back.
        source_dir:
            replay: recorded frames laid out like data_dir; empty in
            simulate mode.
        metrics_port:
            Prometheus port on 127.0.0.1; 0 disables.
        keep_gps:
            replay: copy the frames under their own names and GPS times
            instead of restamping them from start_gps (or now).
        loop:
            replay: start again at the end of the recording (restamping).
        verbose:
            Log every frame (DEBUG).
    """

    mode: Literal["simulate", "replay"]
    data_dir: Path
    seed: int
    line_ratio: float
    sideband_ratio: float
    num_coupled: int
    coupling_drift: float
    coupling_drift_period: int
    coupling_phase_drift: float
    asc_band: List[float]
    injection_interval: int
    injection_snr: List[float]
    injection_low_frequency: float
    speed: float
    start_gps: int
    duration: int
    prefill_length: int
    keep_length: int
    max_lag_length: float
    faults: str
    fault_rate: float
    fault_kinds: List[str]
    late_delay: float
    source_dir: str
    metrics_port: int
    keep_gps: bool = False
    loop: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        convert_fields(self)
        kinds = ", ".join(f.value for f in Fault)
        rules = [
            ("mode", self.mode in MODES, f"one of {MODES}"),
            port_rule("metrics_port", self.metrics_port),
            (
                "fault_kinds",
                all(k in FAULT_NAMES for k in self.fault_kinds),
                f"each one of {kinds}",
            ),
            (
                "source_dir",
                self.mode != "replay" or bool(self.source_dir),
                "a recording folder in mode 'replay'",
            ),
        ]
        check_rules(self, rules)
        # SimulationConfig raises ValueError; the others name the setting
        check_sub_configs(
            "replay settings", self.source_config, errors=(ValueError,)
        )

    def pace_config(self) -> PaceConfig:
        return sub_config(PaceConfig, self)

    def simulation_config(self) -> SimulationConfig:
        # every simulator setting this section has; the rest: its defaults
        return sub_config(
            SimulationConfig,
            self,
            defaults=False,
            asc_band=tuple(self.asc_band),
            injection_snr=tuple(self.injection_snr),
        )

    def simulate_config(self) -> SimulateConfig:
        return sub_config(
            SimulateConfig,
            self,
            simulation=self.simulation_config(),
            pace=self.pace_config(),
            faults=parse_faults(self.faults.replace(",", " ").split()),
            fault_kinds=tuple(Fault(kind) for kind in self.fault_kinds),
        )

    def playback_config(self) -> PlaybackConfig:
        return sub_config(
            PlaybackConfig,
            self,
            source_dir=Path(self.source_dir),
            pace=self.pace_config(),
            restamp=not self.keep_gps,
        )

    def source_config(self) -> SimulateConfig | PlaybackConfig:
        """The sub-config of :attr:`mode`."""
        if self.mode == "replay":
            return self.playback_config()
        return self.simulate_config()
