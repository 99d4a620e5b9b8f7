"""Frames written by the simulator (through gwframe) are read by gwpy.

gwpy lives only in the monitor environment: run this file with
``.venv/monitor/bin/python -m pytest libs/utils/tests/test_gwpy_interop.py``.
Elsewhere it is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import GPS, MAINS, STATE, STRAIN

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
