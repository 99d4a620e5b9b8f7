"""Prediction history, the streaming band-pass and the subtraction."""

from dataclasses import replace

import numpy as np
import pytest
from configs import SETTINGS
from simdata import BAND
from simdata import GPS
from simdata import RATE
from simdata import LocalModel
from simdata import resampled

from cleaner.postprocess import FilterConfig
from cleaner.postprocess import PredictionHistory
from cleaner.postprocess import StreamingFilter
from utils.errors import ConfigError
from utils.signal import bandpass
from utils.subtraction import subtract

DURATION = 40  # s of simulated prediction
FILTER = SETTINGS.filter_config()  # the repository's [cleaner] band-pass


@pytest.fixture(scope="module")
def prediction(sim, coefficients) -> np.ndarray:
    """The test model's noise prediction over DURATION s (4096 Hz)."""
    _, witness, _ = resampled(sim, GPS, DURATION)
    return LocalModel(coefficients)(witness.astype(np.float32)).production


def test_history_is_continuous_and_bounded():
    history = PredictionHistory(RATE, GPS - 0.25)
    one = np.arange(RATE, dtype=float)
    history.append(GPS - 0.25, one, 3)
    # a missing chunk (no prediction) leaves zeros of version 0
    history.append(GPS + 1.75, one + 1, 4)
    assert history.end == GPS + 2.75
    segment = history.segment(GPS - 1, GPS + 2.75)
    assert segment.size == 3.75 * RATE
    assert np.all(segment[: RATE * 3 // 4] == 0)  # before the record
    np.testing.assert_array_equal(segment[RATE * 3 // 4 : RATE * 7 // 4], one)
    assert np.all(segment[RATE * 7 // 4 : RATE * 11 // 4] == 0)  # the gap
    versions = history.versions(GPS, GPS + 2.75)
    assert set(versions[: RATE * 3 // 4]) == {3}
    assert set(versions[RATE * 3 // 4 : RATE * 7 // 4]) == {0}
    assert set(versions[RATE * 7 // 4 :]) == {4}
    history.trim(GPS + 1)
    np.testing.assert_array_equal(
        history.segment(GPS + 1.75, GPS + 2.75), one + 1
    )
    assert history.segment(GPS, GPS + 1).sum() == 0  # forgotten: zeros
    with pytest.raises(ValueError, match="overlaps"):
        history.append(GPS + 2.5, one, 4)
    with pytest.raises(ValueError, match="ends at"):
        history.segment(GPS, GPS + 3)


def streaming_error(prediction, config: FilterConfig) -> tuple:
    """(relative RMS, relative max) error of the streaming band-pass of
    seconds 8..DURATION-8 (the band and its margins) against one
    zero-phase pass over everything, relative to the RMS of the
    band-passed prediction."""
    reference = config.bandpass(prediction)
    history = PredictionHistory(RATE, GPS)
    history.append(GPS, prediction, 1)
    run = StreamingFilter(config)
    errors = []
    for i in range(8, DURATION - 8):
        got = run(history, GPS + i)
        errors.append(got - reference[:, i * RATE : (i + 1) * RATE])
    error = np.concatenate(errors, axis=1)
    rms = np.sqrt(np.mean(reference[0, 8 * RATE : -8 * RATE] ** 2))
    return np.sqrt(np.mean(error**2)) / rms, np.abs(error).max() / rms


def test_streaming_bandpass_matches_one_shot(prediction):
    """The default P = 2 s, F = 0.75 s with the AR extension: the edge error
    of the streaming filter is below 1e-3 of the noise RMS (the design
    target), and the extension is what gets it there."""
    rms, peak = streaming_error(prediction, FILTER)
    assert rms < 1e-3 and peak < 1e-2, (rms, peak)
    plain = streaming_error(prediction, replace(FILTER, extrapolation_order=0))
    assert plain[0] > 3 * rms, plain  # odd extension alone: ~6e-3
    # more memory does not help: the past edge is already negligible
    longer = streaming_error(prediction, replace(FILTER, memory_length=4.0))
    assert abs(longer[0] - rms) < 0.1 * rms
    # the band's margins (a wider band-pass) stream as well
    margins = streaming_error(prediction, replace(FILTER, margin=0.25))
    assert margins[0] < 1e-3 and margins[1] < 1e-2, margins


def test_the_bands_are_the_band_and_the_rest_of_a_wider_one(prediction):
    """Row 0 is the band's band-pass, rows 0 + 1 the band-pass ``margin``
    Hz wider on each side; without a margin only the band."""
    margins = replace(FILTER, margin=0.25)
    bands = margins.bandpass(prediction)
    np.testing.assert_allclose(bands[0], bandpass(prediction, *BAND, RATE))
    low, high = BAND[0] - margins.margin, BAND[1] + margins.margin
    wide = bandpass(prediction, low, high, RATE)
    np.testing.assert_allclose(
        bands.sum(axis=0), wide, atol=1e-12 * wide.std()
    )
    # the margins hold what the band's transition leaves: less, not none
    assert 0.01 < bands[1].std() / bands[0].std() < 0.5
    alone = replace(FILTER, margin=0.0).bandpass(prediction)
    assert alone.shape == (1, prediction.size)


def test_filter_config_is_validated():
    with pytest.raises(ConfigError, match="pad_length"):
        replace(FILTER, pad_length=1 / 3)
    with pytest.raises(ConfigError, match="too short"):
        replace(FILTER, extrapolation_fit_length=16 / 4096)
    with pytest.raises(ConfigError, match="margin"):
        replace(FILTER, margin=-0.5)


def test_subtract_tapers_noise_next_to_drops(prediction):
    strain = np.ones(RATE)
    noise = bandpass(prediction, *BAND, RATE)[10 * RATE : 11 * RATE]
    plain = subtract(strain, noise, RATE, 0.5, False, False)
    np.testing.assert_array_equal(plain, strain - noise)
    both = subtract(strain, noise, RATE, 0.5, True, True)
    # the noise is ramped down to nothing at both edges ...
    assert both[0] == 1.0 and abs(both[-1] - 1.0) < 1e-3 * np.abs(noise).max()
    # ... and untouched in the middle
    middle = slice(RATE // 2, RATE // 2 + 1)
    np.testing.assert_array_equal(both[middle], plain[middle])
