"""Pre-training data checks: they accept simulated data and can fail."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import GPS
from conftest import PREPROCESS
from utils.errors import DataCheckError
from utils.follower import FrameSecond
from utils.gwf import Series
from utils.nn.datacheck import CheckConfig
from utils.nn.datacheck import band_coherence
from utils.nn.datacheck import chance_coherence
from utils.nn.datacheck import check_training_data
from utils.nn.datacheck import is_flat
from utils.nn.simdata import simulate_stretch
from utils.stream import Preprocessor

RATE = 4096
DURATION = 64  # s: 63 Welch segments, chance coherence well below 0.2
CONFIG = CheckConfig(
    sample_rate=RATE,
    freq_low=58.0,
    freq_high=62.0,
    min_coherence=0.2,
    max_dropped_fraction=0.1,
)


@pytest.fixture(scope="module")
def data(sim):
    stretch, truth = simulate_stretch(sim, GPS, DURATION)
    return stretch.witness, stretch.strain, truth, sim.config.witness_channels


def _failed(report) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


def assert_refused(report, failed: set[str], match: str) -> None:
    """``report`` fails exactly the checks ``failed``, and the error it
    raises matches ``match``."""
    assert _failed(report) == failed
    with pytest.raises(DataCheckError, match=match):
        report.raise_for_failure(f"GPS {GPS}")


def test_simulated_data_pass(data) -> None:
    witness, strain, _, channels = data
    report = check_training_data(witness, strain, channels, CONFIG)
    assert report.passed, report.failures
    # the mains monitor carries the line: it is the coherent witness
    assert max(report.coherence, key=report.coherence.get) == channels[0]
    assert report.coherence[channels[0]] > 0.9
    json.dumps(report.to_json())  # what checks.json holds
    report.raise_for_failure("GPS span")  # no error


@pytest.mark.parametrize("row", [0, 5])
def test_nan_is_refused(data, row) -> None:
    witness, strain, _, channels = data
    witness, strain = witness.copy(), strain.copy()
    if row == 0:
        strain[1000:1010] = np.nan
        name = "strain"
    else:
        witness[row, 7] = np.inf
        name = channels[row]
    report = check_training_data(witness, strain, channels, CONFIG)
    assert_refused(report, {"finite"}, f"finite.*{name}")


def test_flat_strain_is_refused(data) -> None:
    witness, strain, _, channels = data
    flat = np.full_like(strain, 1e-21)
    report = check_training_data(witness, flat, channels, CONFIG)
    assert _failed(report) == {"strain_live", "coherence"}


def test_all_witnesses_flat_is_refused(data) -> None:
    witness, strain, _, channels = data
    dead = np.zeros_like(witness) + np.arange(len(channels))[:, None]
    report = check_training_data(dead, strain, channels, CONFIG)
    assert _failed(report) == {"witnesses_live", "coherence"}
    assert set(report.flat_witnesses) == set(channels)


def test_one_dead_witness_is_reported_not_refused(data) -> None:
    witness, strain, _, channels = data
    witness = witness.copy()
    witness[3] = 2.5
    report = check_training_data(witness, strain, channels, CONFIG)
    assert report.passed
    assert report.flat_witnesses == (channels[3],)


def test_incoherent_data_are_refused(data) -> None:
    """Strain without the coupled noise (background only): no witness
    explains anything in band, so there is nothing to train on."""
    witness, strain, truth, channels = data
    report = check_training_data(witness, strain - truth, channels, CONFIG)
    assert max(report.coherence.values()) < CONFIG.min_coherence
    assert_refused(report, {"coherence"}, "coherence")


def test_min_coherence_0_reports_without_refusing(data) -> None:
    """The clean-data study's switch: incoherent data pass, and the report
    still says how little coherence there was."""
    witness, strain, truth, channels = data
    config = replace(CONFIG, min_coherence=0.0)
    report = check_training_data(witness, strain - truth, channels, config)
    assert report.passed
    (check,) = [c for c in report.checks if c.name == "coherence"]
    assert "not enforced" in check.detail
    assert max(report.coherence.values()) < CONFIG.min_coherence
    with pytest.raises(ValueError, match="min_coherence"):
        replace(CONFIG, min_coherence=-0.1)


def test_a_stretch_mostly_dropped_is_refused(data) -> None:
    """The collector keeps a few dropped seconds in a row, zero-filled: a
    stream that drops most seconds, a few at a time, must not make a
    training set of gaps (the coherence of what is left still passes)."""
    witness, strain, _, channels = data
    witness, strain = witness.copy(), strain.copy()
    limit = int(CONFIG.max_dropped_fraction * DURATION)
    for second in range(1, 1 + limit):  # as many as allowed: passes
        strain[second * RATE : (second + 1) * RATE] = 0.0
    assert check_training_data(witness, strain, channels, CONFIG).passed
    strain[40 * RATE : 41 * RATE] = 0.0  # one more
    report = check_training_data(witness, strain, channels, CONFIG)
    assert_refused(report, {"dropped"}, f"{limit + 1} of 64 s zero")


def test_too_short_is_refused(data) -> None:
    witness, strain, _, channels = data
    size = 8 * RATE
    report = check_training_data(
        witness[:, :size], strain[:size], channels, CONFIG
    )
    assert "duration" in _failed(report)


def test_resampled_dead_channel_is_flat(small_sim) -> None:
    """A constant channel at 512 Hz resampled to 4096 Hz keeps a ripple of
    ~3e-4 of its value; it is still a dead channel."""
    channel, rate = "L1:ASC-TEST", 512
    pre = Preprocessor(
        ["L1:GDS-CALIB_STRAIN", channel],
        {"L1:GDS-CALIB_STRAIN": 16384, channel: rate},
        PREPROCESS,
    )
    out = []
    for gps in range(GPS, GPS + 6):
        s = small_sim.second(gps)
        frame = FrameSecond(
            gps,
            Series(s.strain, 16384),
            Series(s.state, 16),
            {channel: Series(np.full(rate, 3.7, np.float32), rate)},
        )
        out += [x.data[1] for x in pre.push(frame)]
    dead = np.concatenate(out).astype(np.float32)
    assert np.std(dead) > 1e-4 * 3.7  # the ripple is there
    assert is_flat(dead)
    assert not is_flat(dead + 1e-3 * np.sin(np.arange(dead.size) / 50))


def test_chance_level_holds_for_noise() -> None:
    """Pure noise passes the coherence check at about the configured
    false-alarm rate (0.2 here, so it can be counted): 100 trials of 8 s,
    binomial standard deviation 0.04, tolerance 3 of them."""
    config = replace(CONFIG, min_coherence=1e-6, false_alarm=0.2)
    rng = np.random.default_rng(0)
    size, trials, passed = 8 * RATE, 100, 0
    threshold = chance_coherence(size, 3 * 9, config)  # 9 bins in band
    for _ in range(trials):
        witness = rng.standard_normal((3, size))
        strain = rng.standard_normal(size)
        passed += band_coherence(witness, strain, config).max() >= threshold
    assert passed / trials == pytest.approx(0.2, abs=0.12)
