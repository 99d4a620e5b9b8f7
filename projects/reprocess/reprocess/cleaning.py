"""Cleaning one block of stored data at the native strain rate.

A block ``[start, stop)`` is read with ``pad_length`` seconds more on each
side (:class:`~reprocess.reading.FrameReader`), then, over the padded
span:

1. seconds without strain or witnesses are dropped (zeros, never
   invented); the seconds beside a drop are Hann-tapered at their native
   rates, as the live preprocessor tapers them (:mod:`utils.taper`);
2. the witnesses are resampled to the model's rate (4096 Hz) and the
   model predicts the noise of the whole padded span;
3. the prediction is band-passed (zero-phase Butterworth,
   :func:`utils.signal.bandpass`) and up-sampled to the strain's rate;
4. cleaned = raw strain - that prediction (:func:`utils.subtraction.subtract`
   tapers it next to drops): out of band the strain is untouched, not even
   resampled.

Only ``[start, stop)`` is kept: the pad holds the resampling filters, the
network's receptive field and the band-pass ringing, so the result does
not depend on where blocks are cut (max difference ~1e-12 of the strain
RMS for the default 8 s pad; the tests require 1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from reprocess.reading import SpanData
from utils.channels import STATE_RATE
from utils.channels import State
from utils.errors import ConfigError
from utils.errors import ModelError
from utils.ready import ready_samples
from utils.signal import bandpass
from utils.subtraction import subtract
from utils.taper import taper_second

# witnesses (C, size) at the model's rate -> noise (size,)
NoiseModel = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CleaningConfig:
    """How a block is cleaned.

    Attributes:
        sample_rate: Hz of the model (witnesses are resampled to it).
        strain_rate: Hz of the raw strain: the output's rate.
        freq_low: Hz, lower edge of the band-pass (the band: offline
            there is no tracker to fit the margins, so none are
            subtracted, as the live cleaner does until it has a fit).
        freq_high: Hz, upper edge.
        filter_order: Butterworth order (even).
        taper_length: seconds of the Hann ramps beside a dropped second.
        pad_length: whole seconds read beyond each end of a block.
        ready_mask: state-vector bits meaning analysis ready.
        strain_channel: full name of the strain.
        state_channel: full name of the raw state vector.
        witness_channels: the model's inputs, in order.
    """

    sample_rate: int
    strain_rate: int
    freq_low: float
    freq_high: float
    filter_order: int
    taper_length: float
    pad_length: int
    ready_mask: int
    strain_channel: str
    state_channel: str
    witness_channels: tuple[str, ...]

    def __post_init__(self) -> None:
        ratio = Fraction(self.strain_rate, self.sample_rate)
        if ratio.denominator != 1:
            raise ConfigError(
                f"strain_rate={self.strain_rate}: a whole multiple of "
                f"sample_rate={self.sample_rate}"
            )
        if self.pad_length < 1:
            raise ConfigError(f"pad_length={self.pad_length}: >= 1 s")


@dataclass
class CleanedBlock:
    """The output of ``[start, start + duration)``.

    Attributes:
        start: GPS start.
        raw: ``(duration * strain_rate,)`` raw strain (zeros if absent).
        cleaned: ``(duration * strain_rate,)``.
        state: ``(duration * 16,)`` int32 bits of
            :class:`utils.channels.State`.
        versions: ``(duration,)`` int32 model version per second (0: none).
    """

    start: int
    raw: np.ndarray
    cleaned: np.ndarray
    state: np.ndarray
    versions: np.ndarray


def _drop_flags(present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per second: the previous one is dropped, the next one is."""
    dropped = ~present
    before = np.concatenate([[False], dropped[:-1]])
    after = np.concatenate([dropped[1:], [False]])
    return before, after


def taper_drops(
    x: np.ndarray, rate: int, config: CleaningConfig, flags: tuple
) -> np.ndarray:
    """``x`` at ``rate`` with absent seconds zeroed and their neighbours
    tapered (``flags``: :func:`drop_flags`)."""
    present, before, after = flags
    seconds = x.reshape(present.size, rate).copy()
    seconds[~present] = 0.0
    for i in np.flatnonzero(present & (before | after)):
        seconds[i] = taper_second(
            seconds[i], rate, config.taper_length, before[i], after[i]
        )
    return seconds.reshape(-1)


def drop_flags(present: np.ndarray) -> tuple:
    """``(present, previous dropped, next dropped)`` per second."""
    return (present, *_drop_flags(present))


def model_input(
    witness: SpanData, config: CleaningConfig, flags: tuple
) -> np.ndarray:
    """``(C, size)`` tapered witnesses resampled to the model's rate: what
    the model predicts from, and what train-as-you-go trains on."""
    from scipy.signal import resample_poly

    fs = config.sample_rate
    channels = config.witness_channels
    resampled = np.empty((len(channels), witness.duration * fs))
    for row, channel in enumerate(channels):
        rate = witness.rates[channel]
        x = taper_drops(witness.data[channel], rate, config, flags)
        ratio = Fraction(fs, rate)
        if ratio != 1:
            x = resample_poly(x, ratio.numerator, ratio.denominator)
        resampled[row] = x
    return resampled


def predict_noise(
    witness: SpanData,
    model: NoiseModel,
    config: CleaningConfig,
    flags: tuple,
) -> np.ndarray:
    """Band-passed noise of the whole padded span at the strain's rate.

    Raises:
        ModelError: the model predicted NaN or inf (the band-pass would
            spread it over the span): nothing is cleaned with it.
    """
    from scipy.signal import resample_poly

    fs = config.sample_rate
    noise = np.asarray(
        model(model_input(witness, config, flags)), dtype=np.float64
    )
    bad = np.flatnonzero(~np.isfinite(noise))
    if bad.size:
        raise ModelError(
            f"the model predicted non-finite noise in GPS "
            f"{witness.start}-{witness.start + witness.duration} (first at "
            f"GPS {witness.start + bad[0] // fs}): nothing written from it"
        )
    noise = bandpass(
        noise,
        config.freq_low,
        config.freq_high,
        fs,
        config.filter_order,
    )
    return resample_poly(noise, config.strain_rate // fs, 1)


def clean_block(
    strain: SpanData,
    witness: SpanData,
    model: NoiseModel,
    version: int,
    config: CleaningConfig,
) -> CleanedBlock:
    """Clean the span read, but its pads (module docstring).

    Args:
        strain: strain and state of the padded span.
        witness: witnesses of the same span.
        model: the noise model.
        version: the model's tag in the output (> 0).
        config: rates, band, taper, pad.
    """
    pad, fs = config.pad_length, config.strain_rate
    flags = drop_flags(strain.present & witness.present)
    present, before, after = flags
    noise = predict_noise(witness, model, config, flags)
    raw = strain.data[config.strain_channel]
    tapered = taper_drops(raw, fs, config, flags)
    cleaned = tapered - noise
    for i in np.flatnonzero(present & (before | after)):
        part = slice(i * fs, (i + 1) * fs)
        cleaned[part] = subtract(
            tapered[part],
            noise[part],
            fs,
            config.taper_length,
            before[i],
            after[i],
        )
    seconds = cleaned.reshape(strain.duration, fs)
    seconds[~present] = 0.0
    state = _state(strain, config, flags)
    versions = np.where(present, version, 0).astype(np.int32)
    keep = slice(pad, strain.duration - pad)
    samples = slice(pad * fs, (strain.duration - pad) * fs)
    return CleanedBlock(
        strain.start + pad,
        raw[samples].copy(),
        cleaned[samples].copy(),
        state[pad * STATE_RATE : (strain.duration - pad) * STATE_RATE],
        versions[keep],
    )


def ready_seconds(strain: SpanData, config: CleaningConfig) -> np.ndarray:
    """``(duration,)`` bool: the state vector says analysis ready."""
    rate = strain.rates[config.state_channel]
    return ready_samples(
        strain.data[config.state_channel].reshape(strain.duration, rate),
        config.ready_mask,
    ).all(axis=1)


def _state(strain: SpanData, config: CleaningConfig, flags: tuple):
    """``(duration * 16,)`` DeepClean state vector of the span."""
    present, before, after = flags
    ready = ready_seconds(strain, config)
    bits = np.zeros(present.size, dtype=np.int32)
    cleaned = State.INPUT_OK | State.PRODUCTION_OK | State.OUT_DQ_ON
    bits[present] |= int(cleaned)
    bits[present & (before | after)] |= int(State.INPUT_TAPERED)
    bits[present & ready] |= int(State.ANALYSIS_READY)
    return np.repeat(bits, STATE_RATE)
