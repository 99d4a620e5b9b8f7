"""Configuration of the frame simulator (:mod:`utils.simulation`) and the
production witness lists it simulates by default (docs/architecture.md,
"Input frames")."""

from __future__ import annotations

from dataclasses import dataclass

from utils.errors import ConfigError

ASC_NAMES = (
    "CHARD_P",
    "CHARD_Y",
    "CSOFT_P",
    "CSOFT_Y",
    "DHARD_P",
    "DHARD_Y",
    "DSOFT_P",
    "DSOFT_Y",
    "INP1_P",
    "INP1_Y",
    "MICH_P",
    "MICH_Y",
    "PRC1_P",
    "PRC1_Y",
    "PRC2_P",
    "PRC2_Y",
    "SRC1_P",
    "SRC1_Y",
    "SRC2_P",
    "SRC2_Y",
)
H1_ONLY = (
    "CSOFT_Y",
    "DSOFT_Y",
    "INP1_Y",
)  # docs/architecture.md, "Input frames"
MAINS_CHANNEL = "PEM-CS_MAINSMON_EBAY_1_DQ"
TRUTH_CHANNEL = "DEEPCLEAN-TRUTH_NOISE"
WELCH_ENBW = 0.75  # Hz, noise bandwidth of a 2 s Hann window
ASC_BAND = (0.1, 1.8)  # Hz, default frequencies of the ASC sinusoids
MAINS_FREQUENCY = 60.0  # Hz, the simulated mains line
# Hz: the line and its sidebands (ASC motion below 2 Hz lands within)
COUPLED_BAND = (MAINS_FREQUENCY - 2.0, MAINS_FREQUENCY + 2.0)
BACKGROUND_STREAM = 0  # id of the background noise among the seeded streams


def default_witness_channels(ifo: str) -> tuple[str, ...]:
    """The production witnesses of ``ifo`` (18 for L1, 21 for H1: the L1
    list, then :data:`H1_ONLY`, the order of ``pyproject.toml``)."""
    asc = [n for n in ASC_NAMES if n not in H1_ONLY]
    asc += list(H1_ONLY) if ifo == "H1" else []
    return (f"{ifo}:{MAINS_CHANNEL}",) + tuple(
        f"{ifo}:ASC-{name}_OUT_DQ" for name in asc
    )


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.

    Attributes:
        ifo: interferometer, e.g. ``L1``.
        witness_channels: full names; empty: :func:`default_witness_channels`.
            The first ``*MAINSMON*`` channel drives the coupling.
        seed: everything is a function of it and the GPS second.
        num_coupled: ASC channels whose motion modulates the line.
        line_ratio: line ASD / background ASD at 60 Hz.
        sideband_ratio: RMS ASD of the sidebands (58.2-61.8 Hz without
            the line) / background ASD at 60 Hz.
        coupling_drift: relative depth of the slow modulation of every
            coupling (the line's and each sideband's).
        coupling_drift_period: whole seconds of that modulation, the same
            for every coupling; 0: each its own, drawn in 600-3600 s.
        coupling_phase_drift: radians by which the phase of the whole
            coupling swings (a sinusoid of ``coupling_drift_period``);
            0: a fixed phase.
        asc_band: ``(low, high)`` Hz of the ASC sinusoids; the sidebands
            lie at ``60 +- f``, so only motion below 2 Hz lands in 58-62 Hz.
        sensor_noise: white witness noise relative to the signal RMS.
        strain_rate, mains_rate, asc_rate, state_rate: Hz.
        state_ready: state-vector value of a good second (bits 0 and 1).
        state_not_ready: value in NOT_READY seconds.
        late_delay: seconds a LATE frame is held back by default.
        partial_pause: seconds between the two halves of a PARTIAL write.
        injection_interval: whole seconds between compact-binary
            injections into the strain (:mod:`utils.injections`); 0: none.
        injection_snr: ``(low, high)`` of the uniform optimal SNR.
        injection_low_frequency: Hz where the injected waveforms start.
        strain_channel: full name; empty: ``{ifo}:GDS-CALIB_STRAIN``.
        state_channel: full name; empty: ``{ifo}:GDS-CALIB_STATE_VECTOR``.
    """

    ifo: str = "L1"
    witness_channels: tuple[str, ...] = ()
    seed: int = 0
    num_coupled: int = 6
    line_ratio: float = 50.0
    sideband_ratio: float = 5.0
    coupling_drift: float = 0.02
    coupling_drift_period: int = 0
    coupling_phase_drift: float = 0.0
    asc_band: tuple[float, float] = ASC_BAND
    sensor_noise: float = 0.01
    strain_rate: int = 16384
    mains_rate: int = 1024
    asc_rate: int = 512
    state_rate: int = 16
    state_ready: int = 3
    state_not_ready: int = 1
    late_delay: float = 1.5
    partial_pause: float = 0.5
    injection_interval: int = 0
    injection_snr: tuple[float, float] = (8.0, 30.0)
    injection_low_frequency: float = 50.0
    strain_channel: str = ""
    state_channel: str = ""

    def __post_init__(self) -> None:
        if not self.witness_channels:
            channels = default_witness_channels(self.ifo)
            object.__setattr__(self, "witness_channels", channels)
        object.__setattr__(
            self, "witness_channels", tuple(self.witness_channels)
        )
        for name, default in (
            ("strain_channel", "GDS-CALIB_STRAIN"),
            ("state_channel", "GDS-CALIB_STATE_VECTOR"),
        ):
            if not getattr(self, name):
                object.__setattr__(self, name, f"{self.ifo}:{default}")
        mains = [c for c in self.witness_channels if "MAINSMON" in c]
        if not mains:
            raise ConfigError(
                f"witness_channels need a MAINSMON channel: "
                f"{self.witness_channels}"
            )
        for channel in self.witness_channels:
            if not channel.startswith(f"{self.ifo}:"):
                raise ConfigError(f"channel {channel} is not of {self.ifo}")
        if self.num_coupled < 0 or self.seed < 0:
            raise ConfigError("num_coupled and seed must be >= 0")
        for name in ("line_ratio", "sideband_ratio", "injection_interval"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r}: >= 0")
        self._check_injections()
        self._check_couplings()
        if self.strain_rate % self.state_rate:
            raise ConfigError("state_rate must divide strain_rate")

    def _check_couplings(self) -> None:
        object.__setattr__(self, "asc_band", tuple(map(float, self.asc_band)))
        low, high = self.asc_band if len(self.asc_band) == 2 else (0, 0)
        if not 0 < low < high < self.asc_rate / 2:
            raise ConfigError(
                f"asc_band={self.asc_band!r}: (low, high) Hz, "
                f"0 < low < high < {self.asc_rate / 2:g}"
            )
        if not 0 <= self.coupling_drift < 1:
            raise ConfigError(
                f"coupling_drift={self.coupling_drift!r}: in [0, 1), a "
                "coupling that never changes sign"
            )
        if self.coupling_drift_period < 0 or self.coupling_phase_drift < 0:
            raise ConfigError(
                "coupling_drift_period and coupling_phase_drift must be >= 0"
            )

    def _check_injections(self) -> None:
        object.__setattr__(
            self, "injection_snr", tuple(map(float, self.injection_snr))
        )
        snr = self.injection_snr
        if len(snr) != 2 or not 0 < snr[0] <= snr[1]:
            raise ConfigError(f"injection_snr={snr!r}: (low, high), 0 < low")
        low, high = COUPLED_BAND
        if not 10.0 <= self.injection_low_frequency < low:
            raise ConfigError(
                f"injection_low_frequency={self.injection_low_frequency!r}:"
                f" in [10, {low:g}) Hz, so that every chirp crosses "
                f"{low:g}-{high:g} Hz"
            )

    @property
    def mains_channel(self) -> str:
        """The witness whose line couples into strain."""
        return next(c for c in self.witness_channels if "MAINSMON" in c)

    def sample_rate(self, channel: str) -> int:
        """Native rate of a witness channel, Hz."""
        return self.mains_rate if "MAINSMON" in channel else self.asc_rate
