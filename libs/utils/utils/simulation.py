"""Simulated low-latency LIGO frames: strain, witnesses, state and truth.

The model (all of it a pure function of the seed and the GPS second, so any
second can be generated on its own, and consecutive seconds join smoothly):

- witnesses: the mains monitor (``*MAINSMON*``, 1024 Hz) is a 60 Hz line
  with slow frequency drift and amplitude modulation; every other channel
  (ASC, 512 Hz) is a sum of 10-20 sinusoids between 0.1 and 1.8 Hz; each
  gets white sensor noise of relative size ``sensor_noise``;
- truth (the coupled noise, 16384 Hz), from the noiseless witnesses:
  ``a(t) m(t) + m(t) sum_i b_i(t) asc_i(t)`` over ``num_coupled`` ASC
  channels: the line, plus bilinear sidebands at ``60 +- f_asc`` Hz (inside
  58-62 Hz), which no linear filter of the witnesses can predict; the
  couplings drift slowly by ``coupling_drift`` (non-stationarity);
- strain = background + truth (+ signal) exactly, the background being
  Gaussian noise with the aLIGO-like ASD of
  :func:`utils.synthetic.aligo_psd`, the signal the compact-binary
  injections of :mod:`utils.injections` (every ``injection_interval``
  seconds; none by default), which only the strain sees;
- the state vector (16 Hz) is ``state_ready`` except in NOT_READY seconds.

Amplitudes: the line's peak ASD (Welch, 2 s Hann) is ``line_ratio`` times
the background ASD at 60 Hz; the sidebands' RMS ASD over 58.2-61.8 Hz is
``sideband_ratio`` times that background (both 0: no coupling at all,
the mains witness still sees its line).

Files: ``kafka/{IFO}/{S}-{IFO}_llhoft-{GPS}-1.gwf`` (strain, state),
``lldetchar/{IFO}/{S}-{IFO}_lldetchar-{GPS}-1.gwf`` (witnesses, float32 at
native rates) and ``truth/{IFO}/{S}-{IFO}_TRUTH-{GPS}-1.gwf``
(``{IFO}:DEEPCLEAN-TRUTH_NOISE``; for evaluation, never read by services).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils.follower import FrameSecond
from utils.gwf import Series
from utils.gwf import read_frame
from utils.injections import Injector
from utils.simconfig import BACKGROUND_STREAM
from utils.simconfig import MAINS_FREQUENCY
from utils.simconfig import TRUTH_CHANNEL
from utils.simconfig import WELCH_ENBW
from utils.simconfig import SimulationConfig
from utils.simconfig import default_witness_channels
from utils.simwriter import Fault
from utils.simwriter import apply_data_fault
from utils.simwriter import truth_path
from utils.simwriter import write_second
from utils.simwriter import write_stretch
from utils.stream import PreprocessConfig
from utils.stream import Preprocessor
from utils.synthetic import ColoredNoise
from utils.synthetic import Coupling
from utils.synthetic import MainsParams
from utils.synthetic import Witness
from utils.synthetic import aligo_psd
from utils.synthetic import mains as synthetic_mains
from utils.synthetic import quantize_frequency
from utils.synthetic import slow_cycles

__all__ = [
    "Fault",
    "SimulatedSecond",
    "SimulationConfig",
    "Simulator",
    "default_witness_channels",
    "preprocessed",
    "read_truth",
]

logger = logging.getLogger(__name__)
TRUTH_ROW = "TRUTH"  # pseudo-channel carrying the truth through resampling


def make_witness(config: SimulationConfig, name: str) -> Witness:
    """Draw the parameters of witness ``name`` (seeded by its name)."""
    stream = zlib.crc32(name.encode())
    rng = np.random.default_rng([config.seed, stream, 1])
    rate = config.sample_rate(name)
    if "MAINSMON" in name:
        params = MainsParams(
            frequency=MAINS_FREQUENCY,
            amplitude=1.0,
            phase=rng.uniform(0, 2 * np.pi),
            drift=0.01,
            drift_period=97,
            am_depth=0.05,
            am_period=31,
            am_phase=rng.uniform(0, 2 * np.pi),
        )
        return Witness(name, rate, stream, mains=params)
    num = int(rng.integers(10, 21))
    amplitudes = rng.uniform(0.2, 1.0, num)
    amplitudes /= np.sqrt(np.sum(amplitudes**2) / 2)  # unit RMS
    return Witness(
        name,
        rate,
        stream,
        quanta=quantize_frequency(rng.uniform(*config.asc_band, num)),
        amplitudes=amplitudes,
        phases=rng.uniform(0, 2 * np.pi, num),
    )


@dataclass
class SimulatedSecond:
    """One simulated GPS second.

    Attributes:
        gps: GPS start.
        strain: ``(strain_rate,)`` float64, background + truth (NaNs in a
            NAN_STRAIN second).
        state: ``(state_rate,)`` int32 state vector.
        witnesses: name -> :class:`~utils.gwf.Series` (float32, native rate).
        truth: ``(strain_rate,)`` the coupled noise.
        background: ``(strain_rate,)`` the Gaussian detector noise.
        signal: ``(strain_rate,)`` the injected signals (zeros if none).
    """

    gps: int
    strain: np.ndarray
    state: np.ndarray
    witnesses: dict[str, Series]
    truth: np.ndarray
    background: np.ndarray
    signal: np.ndarray


class Simulator:
    """Generate (:meth:`second`) and write (:meth:`write`) frames.

    Args:
        config: what to simulate.
    """

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.witnesses = {
            name: make_witness(config, name)
            for name in config.witness_channels
        }
        self.background = ColoredNoise(
            config.seed, BACKGROUND_STREAM, config.strain_rate
        )
        line = np.array([MAINS_FREQUENCY])
        self.background_asd = float(np.sqrt(aligo_psd(line)[0]))
        self._draw_couplings()
        self.injector = None
        if config.injection_interval:
            self.injector = Injector(config)

    def signal(self, gps: int) -> np.ndarray:
        """Injected signal of second ``gps``, ``(strain_rate,)``."""
        if self.injector is None:
            return np.zeros(self.config.strain_rate)
        return self.injector.signal(gps)

    def _draw_couplings(self) -> None:
        config = self.config
        rng = np.random.default_rng([config.seed, 2])
        asc = [c for c in config.witness_channels if "MAINSMON" not in c]
        num = min(config.num_coupled, len(asc))
        picked = sorted(rng.choice(len(asc), num, replace=False))
        self.coupled_channels = tuple(asc[i] for i in picked)
        mains = self.witnesses[config.mains_channel].mains
        peak = self.background_asd * np.sqrt(2 * WELCH_ENBW)

        def period() -> int:  # drawn always: the default scene stays put
            drawn = int(rng.integers(600, 3600))
            return config.coupling_drift_period or drawn

        self.line = Coupling(
            config.line_ratio * peak / mains.amplitude,
            config.coupling_drift,
            period(),
            rng.uniform(0, 2 * np.pi),
        )
        # m(t) b_i asc_i(t) has power b_i^2 A^2 / 2 (asc_i has unit RMS),
        # spread over the sidebands 60 +- asc_band
        weights = rng.uniform(0.5, 1.5, num) * rng.choice([-1.0, 1.0], num)
        low, high = config.asc_band
        total = (config.sideband_ratio * self.background_asd) ** 2 * (
            2 * (high - low)
        )
        scale = np.sqrt(2 * total / np.sum(weights**2)) / mains.amplitude
        self.couplings = {
            name: Coupling(
                scale * weight,
                config.coupling_drift,
                period(),
                rng.uniform(0, 2 * np.pi),
            )
            for name, weight in zip(
                self.coupled_channels, weights, strict=True
            )
        }
        # the phase of the whole coupling swings around 0 (drawn last)
        self.phase_period = period()
        self.phase_offset = rng.uniform(0, 2 * np.pi)

    def coupling_phase(self, gps: int, size: int) -> np.ndarray:
        """Radians added to the phase of the coupling, ``(size,)``."""
        rate = self.config.strain_rate
        cycles = slow_cycles(gps, size, rate, self.phase_period)
        swing = np.sin(2 * np.pi * cycles + self.phase_offset)
        return self.config.coupling_phase_drift * swing

    def truth(self, gps: int) -> np.ndarray:
        """Coupled noise of second ``gps``, ``(strain_rate,)``."""
        rate = self.config.strain_rate
        witness = self.witnesses[self.config.mains_channel]
        mains = witness.signal(gps, rate)
        if self.config.coupling_phase_drift:
            # the mains line shifted by phi(t): m cos(phi) + m_q sin(phi),
            # m_q the line a quarter cycle ahead
            quarter = dataclasses.replace(
                witness.mains, phase=witness.mains.phase + np.pi / 2
            )
            phi = self.coupling_phase(gps, rate)
            mains = mains * np.cos(phi) + np.sin(phi) * synthetic_mains(
                gps, rate, rate, quarter
            )
        gain = self.line.at(gps, rate, rate)
        for name, coupling in self.couplings.items():
            motion = self.witnesses[name].signal(gps, rate)
            gain = gain + coupling.at(gps, rate, rate) * motion
        return gain * mains

    def witness_data(self, gps: int) -> dict[str, Series]:
        """Witness channels of second ``gps`` (signal + sensor noise)."""
        out = {}
        for name, witness in self.witnesses.items():
            rate = witness.sample_rate
            signal = witness.signal(gps, rate)
            rms = witness.mains.amplitude / np.sqrt(2) if witness.mains else 1
            seeds = [self.config.seed, gps, witness.stream]
            rng = np.random.default_rng(seeds)
            noise = rng.standard_normal(rate) * self.config.sensor_noise * rms
            out[name] = Series((signal + noise).astype(np.float32), rate)
        return out

    def second(self, gps: int, fault: Fault | None = None) -> SimulatedSecond:
        """Simulate second ``gps``, with the data-level effect of ``fault``
        (NaNs, a missing channel, not ready); file-level faults (drop, late,
        partial, corrupt) leave the data untouched."""
        gps = int(gps)
        background = self.background.second(gps)
        truth = self.truth(gps)
        signal = self.signal(gps)
        state = np.full(
            self.config.state_rate, self.config.state_ready, np.int32
        )
        second = SimulatedSecond(
            gps,
            background + truth + signal,
            state,
            self.witness_data(gps),
            truth,
            background,
            signal,
        )
        if fault is not None:
            apply_data_fault(self.config, second, fault)
        return second

    def write(
        self,
        gps: int,
        data_dir: Path,
        fault: Fault | None = None,
        delay: float | None = None,
        overwrite: bool = False,
    ) -> threading.Thread | None:
        """Write second ``gps`` under ``data_dir`` (truth, witness, strain).

        Args:
            gps: GPS second.
            data_dir: root holding ``kafka/``, ``lldetchar/``, ``truth/``.
            fault: how to break it (None: a normal atomic write).
            delay: seconds a LATE write is held back (default
                ``config.late_delay``).
            overwrite: replace existing files instead of raising.

        Returns:
            For LATE and PARTIAL, the started thread finishing the write
            (``join`` it to wait); otherwise ``None``.

        Raises:
            FileExistsError: a file exists and ``overwrite`` is off.
        """
        if self.injector is not None:
            self.injector.write_record(data_dir, gps)
        return write_second(self, gps, data_dir, fault, delay, overwrite)

    def write_stretch(
        self,
        data_dir: Path,
        gps_start: int,
        duration: int,
        faults: dict[int, Fault] | None = None,
        overwrite: bool = False,
    ) -> None:
        """Write ``duration`` seconds from ``gps_start``; ``faults`` maps GPS
        seconds to a :class:`Fault`. Returns when every file is complete."""
        write_stretch(self, data_dir, gps_start, duration, faults, overwrite)


def read_truth(data_dir: Path, ifo: str, gps: int) -> np.ndarray:
    """The coupled noise of second ``gps`` written by the simulator."""
    path = truth_path(Path(data_dir), ifo, gps)
    return read_frame(path, [f"{ifo}:{TRUTH_CHANNEL}"])[
        f"{ifo}:{TRUTH_CHANNEL}"
    ].data


def preprocessed(
    sim: Simulator, gps_start: int, duration: int, sample_rate: int = 4096
) -> np.ndarray:
    """Simulated seconds ``[gps_start, gps_start + duration)`` in-process
    (no files), through the same :class:`utils.stream.Preprocessor` as live
    frames, the truth alongside, so that all share one resampling.

    Returns:
        ``(2 + witnesses, duration * sample_rate)``: the strain, the
        witnesses in ``config.witness_channels`` order, the truth.
    """
    config = sim.config
    truth_name = f"{config.ifo}:{TRUTH_ROW}"
    channels = [config.strain_channel, *config.witness_channels, truth_name]
    rates = {c: config.sample_rate(c) for c in config.witness_channels}
    rates[config.strain_channel] = rates[truth_name] = config.strain_rate
    # the services' resampling context; nothing to taper (no drops)
    pre = Preprocessor(
        channels,
        rates,
        PreprocessConfig(
            sample_rate=sample_rate,
            resample_context_length=1,
            drop_lookahead_length=0,
            taper_length=0.5,
            ready_mask=config.state_ready,
        ),
    )
    out = []
    # from the first second's past context to the last one's output
    context = pre.config.resample_context_length
    for gps in range(gps_start - context, gps_start + duration + pre.delay):
        s = sim.second(gps)
        witnesses = dict(s.witnesses)
        witnesses[truth_name] = Series(s.truth, config.strain_rate)
        frame = FrameSecond(
            gps,
            Series(s.strain, config.strain_rate),
            Series(s.state, config.state_rate),
            witnesses,
            seen_at=0.0,
        )
        out += [x.data for x in pre.push(frame) if x.gps >= gps_start]
    return np.concatenate(out[:duration], axis=-1)
