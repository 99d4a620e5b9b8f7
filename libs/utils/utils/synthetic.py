"""Building blocks of the frame simulator (:mod:`utils.simulation`).

Everything here is a pure function of its arguments, so that any GPS second
can be generated on its own (no state carried from second to second):

- :func:`aligo_psd` / :class:`ColoredNoise`: Gaussian noise with an
  aLIGO-like amplitude spectral density, continuous across seconds;
- :func:`sum_of_sines`: sums of sinusoids evaluated exactly at any GPS time
  (frequencies are multiples of :data:`FREQ_QUANTUM` so that the phase at a
  whole GPS second is computed in integer arithmetic);
- :func:`mains`: the 60 Hz mains line with slow frequency drift and amplitude
  modulation, in closed form.

Times are split into a whole GPS second ``gps`` and offsets ``t`` (seconds,
``0 <= t < 1``) so that no precision is lost at GPS ~ 1.4e9.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

FREQ_QUANTUM_BITS = 16
FREQ_QUANTUM = 2.0**-FREQ_QUANTUM_BITS  # Hz, grid of simulated frequencies
ALIGO_KNEE = 215.0  # Hz, x = f / knee in the zero-detuned high-power fit
ALIGO_SCALE = 1e-49  # 1/Hz, overall scale of that fit
ALIGO_FLOOR_FREQUENCY = 10.0  # Hz, the PSD is held constant below this


def aligo_psd(frequencies: np.ndarray) -> np.ndarray:
    """One-sided PSD (strain^2/Hz) of the analytic aLIGO ZDHP fit.

    ``S(f) = 1e-49 [x^-4.14 - 5 x^-2 + 111 (1 - x^2 + x^4/2) / (1 + x^2/2)]``
    with ``x = f / 215 Hz``, held at its 10 Hz value below 10 Hz.
    """
    f = np.maximum(np.asarray(frequencies, dtype=float), ALIGO_FLOOR_FREQUENCY)
    x = f / ALIGO_KNEE
    return ALIGO_SCALE * (
        x**-4.14
        - 5.0 * x**-2
        + 111.0 * (1.0 - x**2 + 0.5 * x**4) / (1.0 + 0.5 * x**2)
    )


def quantize_frequency(frequency: np.ndarray | float) -> np.ndarray:
    """Integer multiples of :data:`FREQ_QUANTUM` nearest to ``frequency``."""
    return np.rint(np.asarray(frequency) / FREQ_QUANTUM).astype(np.int64)


def cycles_at(gps: int, quanta: np.ndarray) -> np.ndarray:
    """Fractional cycles ``frac(f * gps)`` of frequencies ``quanta *
    FREQ_QUANTUM`` at a whole GPS second, exactly (integer arithmetic)."""
    mask = (1 << FREQ_QUANTUM_BITS) - 1
    product = (np.asarray(quanta, dtype=np.int64) * (int(gps) & mask)) & mask
    return product.astype(float) * FREQ_QUANTUM


def _block_size(size: int) -> int:
    block = 1 << max(0, (int(size).bit_length() - 1) // 2)
    while size % block:
        block //= 2
    return block


def sum_of_sines(
    gps: int,
    size: int,
    sample_rate: float,
    quanta: np.ndarray,
    amplitudes: np.ndarray,
    phases: np.ndarray,
) -> np.ndarray:
    """``sum_k a_k sin(2 pi f_k (gps + n / sample_rate) + phi_k)``.

    Evaluated for ``n = 0 .. size-1`` with two small matrix products
    (``sin(A + B) = sin A cos B + cos A sin B`` over blocks of samples), so
    many sinusoids at 16384 Hz cost well under a millisecond.

    Args:
        gps: whole GPS second of sample 0.
        size: number of samples.
        sample_rate: Hz.
        quanta: frequencies as integer multiples of ``FREQ_QUANTUM``, (K,).
        amplitudes: (K,).
        phases: radians, (K,).

    Returns:
        ``(size,)`` float64.
    """
    freqs = np.asarray(quanta, dtype=np.int64) * FREQ_QUANTUM
    start = 2 * np.pi * cycles_at(gps, quanta) + np.asarray(phases)
    block = _block_size(size)
    outer = np.arange(size // block) * block / sample_rate  # block starts
    inner = np.arange(block) / sample_rate
    a = start[:, None] + 2 * np.pi * freqs[:, None] * outer[None, :]
    b = 2 * np.pi * freqs[:, None] * inner[None, :]
    amps = np.asarray(amplitudes, dtype=float)[:, None]
    out = (np.sin(a) * amps).T @ np.cos(b) + (np.cos(a) * amps).T @ np.sin(b)
    return out.reshape(size)


def slow_cycles(gps: int, size: int, sample_rate: float, period: int):
    """Phase (in cycles, modulo 1) of a sinusoid of whole ``period`` s."""
    if period < 1:
        raise ValueError(f"period must be a whole number >= 1 s, got {period}")
    t = (int(gps) % int(period)) + np.arange(size) / sample_rate
    return t / period


@dataclass(frozen=True)
class MainsParams:
    """Parameters of :func:`mains` (frequencies in Hz, periods whole s)."""

    frequency: float
    amplitude: float
    phase: float
    drift: float
    drift_period: int
    am_depth: float
    am_period: int
    am_phase: float

    @property
    def quanta(self) -> int:
        return int(quantize_frequency(self.frequency))


def mains(
    gps: int,
    size: int,
    sample_rate: float,
    params: MainsParams,
) -> np.ndarray:
    """The mains voltage ``A(t) sin(phi(t))`` (closed form).

    ``f(t) = f0 + drift sin(2 pi t / P)``, hence
    ``phi(t) = 2 pi [f0 t - drift P / (2 pi) cos(2 pi t / P)] + phi0``;
    ``A(t) = amplitude (1 + am_depth sin(2 pi t / P_am + psi))``.
    """
    t = np.arange(size) / sample_rate
    drift = slow_cycles(gps, size, sample_rate, params.drift_period)
    am = slow_cycles(gps, size, sample_rate, params.am_period)
    base = cycles_at(gps, np.array([params.quanta]))[0]
    phase = 2 * np.pi * (base + params.quanta * FREQ_QUANTUM * t)
    phase -= params.drift * params.drift_period * np.cos(2 * np.pi * drift)
    envelope = 1.0 + params.am_depth * np.sin(2 * np.pi * am + params.am_phase)
    return params.amplitude * envelope * np.sin(phase + params.phase)


class ColoredNoise:
    """Continuous Gaussian noise with PSD :func:`aligo_psd`, one second at a
    time, from per-second white noise.

    Second ``g`` is white noise ``w_g`` (from the seeds ``[seed, g,
    stream]``) filtered by a fixed linear-phase FIR of ``filter_length``
    seconds, with the end of ``w_{g-1}`` (regenerated from its seed) as
    history: exactly the same samples as filtering the whole stream at once.

    Args:
        seed: simulation seed.
        stream: id of this noise stream among the simulator's.
        sample_rate: Hz (whole).
        filter_length: seconds of the FIR (<= 1).
    """

    def __init__(
        self,
        seed: int,
        stream: int,
        sample_rate: int,
        filter_length: float = 0.5,
    ) -> None:
        self.seed = int(seed)
        self.stream = int(stream)
        self.sample_rate = int(sample_rate)
        taps = int(round(filter_length * sample_rate))
        if not 0 < taps <= self.sample_rate:
            raise ValueError(f"FIR of {filter_length} s at {sample_rate} Hz")
        self.fir = self._design(taps)

    def _design(self, taps: int) -> np.ndarray:
        freqs = np.fft.rfftfreq(taps, 1.0 / self.sample_rate)
        # white noise of unit variance has one-sided PSD 2 / fs
        gain = np.sqrt(aligo_psd(freqs) * self.sample_rate / 2.0)
        fir = np.roll(np.fft.irfft(gain, n=taps), taps // 2)
        return fir * np.hanning(taps)

    def white(self, gps: int) -> np.ndarray:
        """Unit-variance white noise of second ``gps``."""
        rng = np.random.default_rng([self.seed, int(gps), self.stream])
        return rng.standard_normal(self.sample_rate)

    def second(self, gps: int) -> np.ndarray:
        """Coloured noise of second ``gps``, ``(sample_rate,)``."""
        previous = self.white(gps - 1)
        history = previous[previous.size - (self.fir.size - 1) :]
        x = np.concatenate([history, self.white(gps)])
        return fftconvolve(x, self.fir, mode="valid")


@dataclass(frozen=True)
class Witness:
    """Seeded parameters of one witness channel."""

    name: str
    sample_rate: int
    stream: int  # seed stream of its sensor noise
    mains: MainsParams | None = None
    quanta: np.ndarray | None = None  # ASC sinusoids
    amplitudes: np.ndarray | None = None
    phases: np.ndarray | None = None

    def signal(self, gps: int, sample_rate: int) -> np.ndarray:
        """Noiseless signal of second ``gps`` at ``sample_rate``."""
        if self.mains is not None:
            return mains(gps, sample_rate, sample_rate, self.mains)
        return sum_of_sines(
            gps,
            sample_rate,
            sample_rate,
            self.quanta,
            self.amplitudes,
            self.phases,
        )

    @property
    def frequencies(self) -> np.ndarray:
        """Hz of the ASC sinusoids (empty for mains)."""
        if self.quanta is None:
            return np.zeros(0)
        return self.quanta * FREQ_QUANTUM


@dataclass(frozen=True)
class Coupling:
    """``b (1 + depth sin(2 pi t / period + phase))``."""

    scale: float
    depth: float
    period: int
    phase: float

    def at(self, gps: int, size: int, sample_rate: float) -> np.ndarray:
        cycles = slow_cycles(gps, size, sample_rate, self.period)
        return self.scale * (
            1 + self.depth * np.sin(2 * np.pi * cycles + self.phase)
        )
