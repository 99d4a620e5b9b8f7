"""Compact-binary signals injected into the simulated strain.

Time is cut into slots of ``injection_interval`` whole seconds; slot ``i``
(``[i I, (i + 1) I)``) holds one injection whose parameters are drawn from
the seeds ``[seed, INJECTION_STREAM, i]`` alone, so any second can be
generated on its own and the seconds of one injection join exactly:

- source: BNS or BBH (even odds), component masses uniform in
  :data:`BNS_MASSES` or :data:`BBH_MASSES` (solar masses, no spins);
- waveform: ``IMRPhenomD`` (lalsimulation, conditioned for the time
  domain by ``SimInspiralTD``) from ``injection_low_frequency``: at 50 Hz a
  BNS is ~12-26 s long and every chirp, BNS or BBH, crosses 58-62 Hz at
  full amplitude before merger (the heaviest BBH, 30 + 30, peaks near
  75 Hz; the conditioning taper lies below the start frequency);
- sky uniform on the sphere, polarisation, inclination (isotropic) and
  phase random; projected onto the IFO with its antenna pattern and time
  delay at merger (lal's detector response);
- loudness: the optimal SNR of the projected signal against the
  simulator's background PSD (:func:`utils.synthetic.aligo_psd`, 10 Hz up
  to Nyquist) is uniform in ``injection_snr``; the distance follows;
- time: the merger at the detector lies in the slot's last seconds,
  ``(i + 1) I - 1 - u`` with ``u`` uniform in [0, 1); the whole waveform
  fits in the slot (checked when the :class:`Injector` is made).

Only the strain sees the signal; witnesses and the truth channel do not.
Each injection's record is written beside the frames
(:func:`injection_path`), atomically, as JSON.

lal and lalsimulation (the ``injections`` extra of ``deepclean-utils``)
are imported only when injections are on.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from utils.atomic import write_json
from utils.errors import ConfigError
from utils.names import site_of
from utils.simconfig import SimulationConfig
from utils.synthetic import ALIGO_FLOOR_FREQUENCY
from utils.synthetic import aligo_psd

logger = logging.getLogger(__name__)

INJECTION_STREAM = 5  # seed stream of the injection draws
BNS_MASSES = (1.2, 2.0)  # solar masses, each component
BBH_MASSES = (5.0, 30.0)  # solar masses; 30 + 30 still peaks above 62 Hz
APPROXIMANT = "IMRPhenomD"
REFERENCE_DISTANCE = 1.0  # Mpc, the waveform is made there, then scaled
SLOT_MARGIN = 1.0  # s, at least this much of a slot follows its merger
CACHE_SIZE = 4  # injections whose waveforms are kept


@dataclass(frozen=True)
class InjectionParams:
    """One injection (masses in solar masses, angles in radians).

    Attributes:
        index: slot number (the slot starts at ``index * interval``).
        kind: ``BNS`` or ``BBH``.
        merger_gps: GPS of the merger at the detector.
        snr: optimal SNR against the background PSD.
    """

    index: int
    kind: str
    mass1: float
    mass2: float
    snr: float
    ra: float
    dec: float
    polarization: float
    inclination: float
    phase: float
    merger_gps: float


@dataclass(frozen=True)
class Injection:
    """An injection's parameters and its signal in the strain.

    Attributes:
        params: what was drawn.
        distance: Mpc, such that the optimal SNR is ``params.snr``.
        slot_start: GPS start of its slot.
        start_index: strain sample (from the slot start) of ``signal[0]``.
        signal: ``(num,)`` strain at the strain rate.
        antenna: ``(F+, Fx)`` at merger.
        geocent_gps: GPS of the merger at the Earth's centre.
    """

    params: InjectionParams
    distance: float
    slot_start: int
    start_index: int
    signal: np.ndarray
    antenna: tuple[float, float]
    geocent_gps: float

    def record(self, ifo: str, sample_rate: int) -> dict[str, Any]:
        """What the injection list holds (JSON-ready)."""
        return {
            **asdict(self.params),
            "ifo": ifo,
            "approximant": APPROXIMANT,
            "distance_mpc": self.distance,
            "geocent_gps": self.geocent_gps,
            "antenna_plus": self.antenna[0],
            "antenna_cross": self.antenna[1],
            "sample_rate": sample_rate,
            "signal_start_gps": self.start_gps(sample_rate),
            "signal_length": self.signal.size / sample_rate,
        }

    def start_gps(self, sample_rate: int) -> float:
        return self.slot_start + self.start_index / sample_rate  # signal[0]


def optimal_snr(signal: np.ndarray, sample_rate: float) -> float:
    """``sqrt(4 sum |H(f)|^2 / S(f) df)`` against :func:`aligo_psd`."""
    spectrum = np.fft.rfft(signal) / sample_rate
    freqs = np.fft.rfftfreq(signal.size, 1.0 / sample_rate)
    df = freqs[1] - freqs[0]
    keep = freqs >= ALIGO_FLOOR_FREQUENCY  # the PSD is flat below
    power = np.abs(spectrum[keep]) ** 2 / aligo_psd(freqs[keep])
    return float(np.sqrt(4 * df * np.sum(power)))


def fractional_advance(x: np.ndarray, fraction: float) -> np.ndarray:
    """``y[k] = x(k + fraction)`` (band-limited; zero-padded: no wrap)."""
    pad = x.size
    spectrum = np.fft.rfft(np.concatenate([x, np.zeros(pad)]))
    cycles = np.fft.rfftfreq(2 * pad)  # per sample
    shifted = np.fft.irfft(
        spectrum * np.exp(2j * np.pi * cycles * fraction), n=2 * pad
    )
    return shifted[: x.size]


def injection_path(data_dir: Path, ifo: str, slot_start: int, interval: int):
    """``{data_dir}/injections/{IFO}/{S}-{IFO}_INJECTION-{start}-{I}.json``."""
    name = f"{site_of(ifo)}-{ifo}_INJECTION-{slot_start}-{interval}.json"
    return Path(data_dir) / "injections" / ifo / name


class Injector:
    """Signals of the injections of a simulation (see the module docstring).

    Args:
        config: the simulation (``ifo``, ``seed``, ``strain_rate`` and the
            ``injection_*`` settings; ``injection_interval`` > 0).

    Raises:
        ConfigError: the longest waveform does not fit in a slot, or lal is
            missing.
    """

    def __init__(self, config: SimulationConfig) -> None:
        try:
            import lal
            import lalsimulation
        except ImportError as exc:
            raise ConfigError(
                "injection_interval > 0 needs lalsuite (pip install "
                "'deepclean-utils[injections]')"
            ) from exc
        self._lal, self._lalsim = lal, lalsimulation
        self.ifo, self.seed = config.ifo, config.seed
        self.sample_rate = config.strain_rate
        self.interval = config.injection_interval
        self.snr_range = config.injection_snr
        self.low_frequency = config.injection_low_frequency
        self._detector = lal.cached_detector_by_prefix[config.ifo]
        self._cache: OrderedDict[int, Injection] = OrderedDict()
        longest = self._polarizations(BNS_MASSES[0], BNS_MASSES[0], 0.0, 0.0)
        # the merger is at most SLOT_MARGIN + 1 s before the slot's end
        needed = longest[2] + SLOT_MARGIN + 1.0
        if self.interval < needed:
            raise ConfigError(
                f"injection_interval={self.interval!r}: must be >= "
                f"{int(np.ceil(needed))} s, the longest waveform "
                f"({longest[2]:.1f} s from {self.low_frequency} Hz) and "
                f"{SLOT_MARGIN + 1} s after its merger"
            )

    def params(self, index: int) -> InjectionParams:
        """The drawn parameters of slot ``index``."""
        rng = np.random.default_rng([self.seed, INJECTION_STREAM, int(index)])
        kind = "BNS" if rng.random() < 0.5 else "BBH"
        masses = rng.uniform(*(BNS_MASSES if kind == "BNS" else BBH_MASSES), 2)
        slot_end = (int(index) + 1) * self.interval
        return InjectionParams(
            index=int(index),
            kind=kind,
            mass1=float(masses.max()),
            mass2=float(masses.min()),
            snr=float(rng.uniform(*self.snr_range)),
            ra=float(rng.uniform(0, 2 * np.pi)),
            dec=float(np.arcsin(rng.uniform(-1, 1))),
            polarization=float(rng.uniform(0, np.pi)),
            inclination=float(np.arccos(rng.uniform(-1, 1))),
            phase=float(rng.uniform(0, 2 * np.pi)),
            merger_gps=slot_end - SLOT_MARGIN - float(rng.random()),
        )

    def _polarizations(self, mass1, mass2, inclination, phase):
        """``(h+, hx, seconds before merger)`` at the reference distance."""
        lal, lalsim = self._lal, self._lalsim
        hp, hc = lalsim.SimInspiralTD(
            mass1 * lal.MSUN_SI,
            mass2 * lal.MSUN_SI,
            *(0.0,) * 6,  # no spins
            REFERENCE_DISTANCE * 1e6 * lal.PC_SI,
            inclination,
            phase,
            0.0,  # longitude of ascending nodes
            0.0,  # eccentricity
            0.0,  # mean anomaly
            1.0 / self.sample_rate,
            self.low_frequency,
            self.low_frequency,  # reference frequency
            None,
            lalsim.GetApproximantFromString(APPROXIMANT),
        )
        return hp.data.data, hc.data.data, -float(hp.epoch)

    def injection(self, index: int) -> Injection:
        """Injection of slot ``index`` (cached: the last few are kept)."""
        index = int(index)
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        made = self._make(self.params(index))
        self._cache[index] = made
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return made

    def _make(self, p: InjectionParams) -> Injection:
        lal = self._lal
        hp, hc, before = self._polarizations(
            p.mass1, p.mass2, p.inclination, p.phase
        )
        merger = lal.LIGOTimeGPS(p.merger_gps)
        location = self._detector.location
        delay = lal.TimeDelayFromEarthCenter(location, p.ra, p.dec, merger)
        gmst = lal.GreenwichMeanSiderealTime(merger - delay)
        fplus, fcross = lal.ComputeDetAMResponse(
            self._detector.response, p.ra, p.dec, p.polarization, gmst
        )
        h = fplus * hp + fcross * hc
        # sample k of h is at merger - before + k / rate; put it on the
        # strain's grid (sample n at slot_start + n / rate)
        slot_start = p.index * self.interval
        offset = (p.merger_gps - slot_start - before) * self.sample_rate
        start = int(np.ceil(offset))
        h = fractional_advance(h, start - offset)
        snr = optimal_snr(h, self.sample_rate)
        scale = p.snr / snr
        return Injection(
            params=p,
            distance=REFERENCE_DISTANCE / scale,
            slot_start=slot_start,
            start_index=start,
            signal=h * scale,
            antenna=(float(fplus), float(fcross)),
            geocent_gps=p.merger_gps - delay,
        )

    def signal(self, gps: int) -> np.ndarray:
        """The injected strain of second ``gps``, ``(sample_rate,)``."""
        rate, index = self.sample_rate, int(gps) // self.interval
        made = self.injection(index)
        out = np.zeros(rate)
        first = (int(gps) - made.slot_start) * rate - made.start_index
        lo, hi = max(first, 0), min(first + rate, made.signal.size)
        if lo < hi:
            out[lo - first : hi - first] = made.signal[lo:hi]
        return out

    def write_record(self, data_dir: Path, gps: int) -> Path | None:
        """Write the record of the injection of second ``gps``'s slot if it
        is not there yet; returns its path when written."""
        index = int(gps) // self.interval
        path = injection_path(
            data_dir, self.ifo, index * self.interval, self.interval
        )
        if path.exists():
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        made = self.injection(index)
        return write_json(path, made.record(self.ifo, self.sample_rate))
