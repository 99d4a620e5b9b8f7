"""Compact-binary injections of the simulator: strain only, deterministic
per second, the drawn optimal SNR, a chirp through 58-62 Hz, a record
beside the frames; and a simulation with no coupling at all."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import FEW_WITNESSES
from conftest import GPS
from utils.errors import ConfigError
from utils.injections import BBH_MASSES
from utils.injections import BNS_MASSES
from utils.injections import optimal_snr
from utils.matched_filter import compare_injection
from utils.matched_filter import injection_problems
from utils.simulation import SimulationConfig
from utils.simulation import Simulator

INTERVAL = 28  # s, the shortest slot the longest BNS (from 50 Hz) fits
RATE = 16384
CONFIG = SimulationConfig(
    witness_channels=FEW_WITNESSES, seed=3, injection_interval=INTERVAL
)


@pytest.fixture(scope="module")
def injected() -> Simulator:
    return Simulator(CONFIG)


def slot(sim: Simulator, index: int, attribute: str = "signal") -> np.ndarray:
    return np.concatenate(
        [
            getattr(sim.second(gps), attribute)
            for gps in range(index * INTERVAL, (index + 1) * INTERVAL)
        ]
    )


def first_slot() -> int:
    return GPS // INTERVAL + 1


def test_off_by_default_and_strain_unchanged() -> None:
    sim = Simulator(replace(CONFIG, injection_interval=0))
    second = sim.second(GPS)
    assert sim.injector is None and not second.signal.any()
    np.testing.assert_array_equal(
        second.strain, second.background + second.truth
    )


def test_only_the_strain_sees_the_signal(injected) -> None:
    plain = Simulator(replace(CONFIG, injection_interval=0))
    index = first_slot()
    made = injected.injector.injection(index)
    gps = made.slot_start + made.start_index // RATE + 2  # inside the chirp
    a, b = injected.second(gps), plain.second(gps)
    assert np.abs(a.signal).max() > 0
    np.testing.assert_array_equal(a.strain, b.strain + a.signal)
    np.testing.assert_array_equal(a.truth, b.truth)
    for name, series in a.witnesses.items():
        np.testing.assert_array_equal(series.data, b.witnesses[name].data)


def test_seconds_generated_alone_join_exactly(injected) -> None:
    index = first_slot()
    joined = slot(injected, index)
    made = injected.injector.injection(index)
    expected = np.zeros(INTERVAL * RATE)
    start = made.start_index
    expected[start : start + made.signal.size] = made.signal
    np.testing.assert_array_equal(joined, expected)
    # a fresh simulator, one second alone (no cache): the same samples
    gps = made.slot_start + INTERVAL - 3
    alone = Simulator(CONFIG).second(gps).signal
    offset = (gps - made.slot_start) * RATE
    np.testing.assert_array_equal(alone, joined[offset : offset + RATE])
    # the whole waveform lies inside its slot: nothing leaks next door
    assert start >= 0 and start + made.signal.size < INTERVAL * RATE


def test_parameters_are_drawn_in_range(injected) -> None:
    kinds = set()
    for index in range(first_slot(), first_slot() + 12):
        made = injected.injector.injection(index)
        p = made.params
        kinds.add(p.kind)
        low, high = BNS_MASSES if p.kind == "BNS" else BBH_MASSES
        assert low <= p.mass2 <= p.mass1 <= high
        assert 8.0 <= p.snr <= 30.0
        # the strain carries exactly the drawn optimal SNR
        assert optimal_snr(made.signal, RATE) == pytest.approx(p.snr, 1e-6)
        assert made.distance > 0
        peak = made.start_index + np.argmax(np.abs(made.signal))
        assert abs(made.slot_start + peak / RATE - p.merger_gps) < 0.01
    assert kinds == {"BNS", "BBH"}


def test_every_chirp_crosses_58_62_hz_at_full_amplitude(injected) -> None:
    for index in range(first_slot(), first_slot() + 12):
        signal = injected.injector.injection(index).signal
        spectrum = np.abs(np.fft.rfft(signal))
        freqs = np.fft.rfftfreq(signal.size, 1.0 / RATE)
        band = spectrum[(freqs >= 58) & (freqs <= 62)].mean()
        above = spectrum[(freqs >= 62) & (freqs <= 70)].mean()
        # an inspiral's |h(f)| falls as f^(-7/6): more at 60 Hz than above
        # unless the start taper reached into 58-62 Hz
        assert band > 0.9 * above, index


def test_the_record_is_written_beside_the_frames(injected, tmp_path) -> None:
    index = first_slot()
    made = injected.injector.injection(index)
    injected.write(made.slot_start + 5, tmp_path)
    paths = list((tmp_path / "injections" / "L1").iterdir())
    assert [p.name for p in paths] == [
        f"L-L1_INJECTION-{made.slot_start}-{INTERVAL}.json"
    ]
    record = json.loads(paths[0].read_text())
    assert record["merger_gps"] == made.params.merger_gps
    assert record["snr"] == made.params.snr
    assert record["approximant"] == "IMRPhenomD"
    assert record["distance_mpc"] == pytest.approx(made.distance)
    assert {"mass1", "mass2", "ra", "dec", "inclination"} <= set(record)


def test_exact_cleaning_of_simulated_data_keeps_the_signal(injected) -> None:
    """raw - truth (exact removal of the coupled noise) passes the check,
    raw - truth - 3 % of the signal does not (4096 Hz as in the cleaner
    is not needed for the check itself: 16384 Hz here)."""
    index = first_slot()
    raw = slot(injected, index, "strain")
    truth = slot(injected, index, "truth")
    signal = slot(injected, index)
    good = compare_injection(raw, raw - truth, signal, RATE)
    assert injection_problems(good) == []
    bad = compare_injection(raw, raw - truth - 0.03 * signal, signal, RATE)
    assert injection_problems(bad)


def test_no_coupling_at_all() -> None:
    sim = Simulator(replace(CONFIG, line_ratio=0.0, sideband_ratio=0.0))
    second = sim.second(GPS)
    assert not second.truth.any()
    mains = second.witnesses[FEW_WITNESSES[0]].data
    assert np.std(mains) > 0.5  # the mains witness still sees its line


@pytest.mark.parametrize(
    "changes",
    [
        {"injection_interval": -1},
        {"injection_snr": (0.0, 10.0)},
        {"injection_snr": (20.0, 10.0)},
        {"injection_low_frequency": 60.0},
        {"line_ratio": -1.0},
    ],
)
def test_bad_settings_are_refused(changes) -> None:
    with pytest.raises(ConfigError, match=next(iter(changes))):
        replace(CONFIG, **changes)


def test_a_slot_too_short_for_the_longest_chirp_is_refused() -> None:
    with pytest.raises(ConfigError, match="injection_interval=20"):
        Simulator(replace(CONFIG, injection_interval=20))
