"""Frames written by the simulator (through gwframe) are read by gwpy, and
the BNS range of ``utils.astro`` is gwpy's SenseMonitor range.

gwpy lives only in the monitor environment: run this file with
``.venv/monitor/bin/python -m pytest libs/utils/tests/test_gwpy_interop.py``.
Elsewhere it is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import GPS
from conftest import MAINS
from conftest import STATE
from conftest import STRAIN
from utils.astro import RANGE_FFTLENGTH
from utils.astro import inspiral_range
from utils.signal import psd
from utils.testing import simulated_stretch

gwpy_timeseries = pytest.importorskip(
    "gwpy.timeseries", reason="gwpy is only installed in .venv/monitor"
)


def test_gwpy_reads_simulated_frames(tmp_path, sim) -> None:
    sim.write_stretch(tmp_path, GPS, 2)
    strain_file = tmp_path / "kafka" / "L1" / f"L-L1_llhoft-{GPS}-1.gwf"
    witness_file = (
        tmp_path / "lldetchar" / "L1" / f"L-L1_lldetchar-{GPS}-1.gwf"
    )
    second = sim.second(GPS)
    data = gwpy_timeseries.TimeSeriesDict.read(
        str(strain_file), [STRAIN, STATE]
    )
    assert data[STRAIN].t0.value == GPS
    assert data[STRAIN].sample_rate.value == 16384
    np.testing.assert_array_equal(data[STRAIN].value, second.strain)
    np.testing.assert_array_equal(data[STATE].value, second.state)
    mains = gwpy_timeseries.TimeSeries.read(str(witness_file), MAINS)
    assert mains.sample_rate.value == 1024
    np.testing.assert_array_equal(mains.value, second.witnesses[MAINS].data)


def test_gwpy_reads_a_stretch(tmp_path, sim) -> None:
    sim.write_stretch(tmp_path, GPS, 3)
    files = sorted(str(p) for p in (tmp_path / "kafka" / "L1").iterdir())
    data = gwpy_timeseries.TimeSeries.read(files, STRAIN)
    assert data.duration.value == 3
    expected = np.concatenate([sim.second(GPS + k).strain for k in range(3)])
    np.testing.assert_array_equal(data.value, expected)


@pytest.mark.parametrize("fmin", [10.0, 30.0])
def test_the_range_is_gwpys_sensemon_range(sim, fmin) -> None:
    """One range for the status page and the reprocessing report:
    gwpy's ``sensemon_range`` (LIGO-T030276) of the same PSD, to 0.5 %
    (they differ in constants and the ISCO cut-off)."""
    from gwpy.astro import sensemon_range
    from gwpy.frequencyseries import FrequencySeries

    strain, _, _ = simulated_stretch(sim, GPS, 32, 4096)
    freqs, power = psd(strain, 4096, RANGE_FFTLENGTH, RANGE_FFTLENGTH / 2)
    series = FrequencySeries(power, f0=freqs[0], df=freqs[1] - freqs[0])
    expected = sensemon_range(series, fmin=fmin).value
    assert inspiral_range(freqs, power, fmin) == pytest.approx(
        expected, rel=5e-3
    )
