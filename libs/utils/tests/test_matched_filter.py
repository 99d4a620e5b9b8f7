"""The matched filter recovers a known SNR, and the injection check fails
on harmful subtractions (added noise, a prediction holding part of the
signal or a shifted copy of it) while passing an exact one.

Noise: the simulator's coloured background (:class:`ColoredNoise`, PSD
:func:`aligo_psd`) at 4096 Hz; signal: a Newtonian chirp sweeping 30-300 Hz
(through 58-62 Hz) scaled to a known optimal SNR against that PSD.
"""

from __future__ import annotations

import numpy as np
import pytest

from utils.injections import optimal_snr
from utils.matched_filter import MAX_SNR_LOSS
from utils.matched_filter import compare_injection
from utils.matched_filter import injection_problems
from utils.matched_filter import matched_filter
from utils.signal import bandpass
from utils.synthetic import ColoredNoise
from utils.synthetic import MainsParams
from utils.synthetic import aligo_psd
from utils.synthetic import mains

RATE = 4096
GPS = 1400000000
LENGTH = 32  # s of data
CHIRP_LENGTH = 10.0  # s from 30 Hz to 300 Hz
SNR = 20.0
# |z| = |SNR + n| with n complex unit Gaussian: 4 sigma, plus a few % for
# the PSD estimated from 32 s (median of 15 segments)
SNR_TOLERANCE = 4.0 + 0.05 * SNR
# the |SNR| peak is broad (the chirp's whitened bandwidth is ~22 Hz around
# ~73 Hz): noise moves it by ~ rate / (2 pi 22 Hz SNR) = 1.5 samples; 4x
LAG_TOLERANCE = 6


def chirp(snr: float, start: float = 12.0) -> np.ndarray:
    """A chirp in ``LENGTH`` s of zeros: f(t) ~ (tc - t)^(-3/8), amplitude
    ~ f^(2/3), Hann ramps at both ends; optimal SNR ``snr``."""
    t = np.arange(int(CHIRP_LENGTH * RATE)) / RATE
    f0, f1 = 30.0, 300.0
    # tau(f) ~ f^(-8/3): solve for tc so that f(0) = f0, f(end) = f1
    k = CHIRP_LENGTH / (f0 ** (-8 / 3) - f1 ** (-8 / 3))
    tau = k * f0 ** (-8 / 3) - t
    freq = (tau / k) ** (-3 / 8)
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    ramp = int(0.5 * RATE)
    window = np.ones(t.size)
    window[:ramp] = np.hanning(2 * ramp)[:ramp]
    window[-ramp:] = np.hanning(2 * ramp)[ramp:]
    wave = freq ** (2 / 3) * np.cos(phase) * window
    out = np.zeros(LENGTH * RATE)
    first = int(start * RATE)
    out[first : first + wave.size] = wave
    return out * snr / optimal_snr(out, RATE)


def noise(seed: int, stream: int = 0) -> np.ndarray:
    source = ColoredNoise(seed, stream, RATE)
    return np.concatenate([source.second(GPS + k) for k in range(LENGTH)])


def coupled_line(amplitude_ratio: float = 50.0) -> np.ndarray:
    """A drifting, modulated 60 Hz line ``amplitude_ratio`` times the
    background ASD at 60 Hz (per sqrt(Hz)), as the simulator couples it."""
    params = MainsParams(60.0, 1.0, 0.3, 0.01, 97, 0.05, 31, 1.0)
    asd = np.sqrt(2 * 0.75 * aligo_psd(np.array([60.0]))[0])
    return (
        amplitude_ratio
        * asd
        * np.concatenate(
            [mains(GPS + k, RATE, RATE, params) for k in range(LENGTH)]
        )
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_known_snr_is_recovered(seed: int) -> None:
    signal = chirp(SNR)
    result = matched_filter(noise(seed) + signal, signal, RATE)
    assert abs(result.peak_snr - SNR) < SNR_TOLERANCE
    assert abs(result.peak_lag) <= LAG_TOLERANCE
    # at the true time the noise moves the phase by ~1 / SNR = 0.05 rad
    assert abs(np.angle(result.snr[0])) < 0.2
    # without the signal the filter sees noise only: |z| of a few
    blank = matched_filter(noise(seed), signal, RATE)
    assert blank.peak_snr < 6.0


def test_a_time_shift_and_a_phase_are_measured() -> None:
    signal = chirp(10 * SNR)  # loud: the peak is sharp to a sample
    # data hold the signal 5 samples later, its phase rotated by 90 deg
    spectrum = np.fft.rfft(np.roll(signal, 5)) * -1j
    data = noise(4) + np.fft.irfft(spectrum, n=signal.size)
    result = matched_filter(data, signal, RATE)
    assert result.peak_lag == 5
    assert abs(result.peak_phase - (-np.pi / 2)) < 0.05


def scenario(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(background, coupled line, signal)."""
    return noise(seed), coupled_line(), chirp(SNR)


def test_exact_subtraction_passes_and_gains_on_average() -> None:
    changes = []
    for seed in range(5, 13):
        background, line, signal = scenario(seed)
        raw = background + line + signal
        cleaned = background + signal  # raw minus exactly the coupling
        comparison = compare_injection(raw, cleaned, signal, RATE)
        assert injection_problems(comparison) == [], seed
        # with RAW's PSD for both, the data at the signal did not change:
        # the gain is the cleaned PSD weighting 58-62 Hz more
        assert abs(comparison.data_change) < 0.003, seed
        changes.append(comparison.snr_change)
    # the line hid the 58-62 Hz part of the chirp in raw: cleaning wins it
    # back on average (one noise draw may still cost a hair)
    assert np.mean(changes) > 0.002


def test_added_in_band_noise_fails() -> None:
    background, line, signal = scenario(8)
    raw = background + line + signal
    extra = bandpass(noise(8, stream=9), 40.0, 300.0, RATE)  # same PSD
    cleaned = background + signal + extra
    comparison = compare_injection(raw, cleaned, signal, RATE)
    problems = injection_problems(comparison)
    assert comparison.snr_change < -MAX_SNR_LOSS
    assert problems and "SNR" in problems[0]


@pytest.mark.parametrize("fraction", [0.02, 0.1])
def test_a_prediction_holding_part_of_the_signal_fails(fraction) -> None:
    background, line, signal = scenario(9)
    raw = background + line + signal
    cleaned = raw - line - fraction * signal
    comparison = compare_injection(raw, cleaned, signal, RATE)
    assert comparison.snr_change < -MAX_SNR_LOSS
    # the part of the signal taken, seen apart from the PSD's re-weighting
    assert comparison.data_change == pytest.approx(-fraction, rel=0.15)
    assert injection_problems(comparison)


@pytest.mark.parametrize("shift", [2, 3, 5])
def test_subtracting_a_shifted_copy_of_the_signal_fails(shift: int) -> None:
    background, line, signal = scenario(10)
    raw = background + line + signal
    cleaned = raw - line - np.roll(signal, shift)
    comparison = compare_injection(raw, cleaned, signal, RATE)
    assert injection_problems(comparison)


def test_bad_inputs_are_refused() -> None:
    signal = chirp(SNR)
    with pytest.raises(ValueError, match="template"):
        matched_filter(noise(1), signal[:-1], RATE)
    data = noise(1)
    data[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        matched_filter(data, signal, RATE)
    with pytest.raises(ValueError, match="no power"):
        matched_filter(noise(1), np.zeros_like(signal), RATE)
