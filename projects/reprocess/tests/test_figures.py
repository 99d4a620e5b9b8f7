"""The figures accumulated block by block equal one Welch call over the
whole chunk (what they were before being streamed)."""

from __future__ import annotations

import numpy as np
import pytest

from reprocess.figures import DFT_BINS
from reprocess.figures import ChunkFigures
from reprocess.figures import MedianWelch
from utils.astro import inspiral_range
from utils.signal import asd_ratio
from utils.signal import psd

RATE = 1024  # Hz: small, the code does not depend on it
BAND = (58.0, 62.0)
FFTLENGTH = 2.0  # s, the ratio's Welch segments (overlap half)


@pytest.mark.parametrize("dft", [False, True])
def test_median_welch_fed_in_pieces_equals_welch(dft):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 37 * RATE + 123)) + 0.3
    band = (58.0, 62.0) if dft else (10.0, 400.0)
    welch = MedianWelch(RATE, 2.0, band, 2, closed=True)
    cuts = [0, 5, 700, 3 * RATE + 1, 20 * RATE, x.shape[1]]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        welch.add(x[:, a:b])
    assert (len(welch.freqs) <= DFT_BINS) == dft  # the path it takes
    freqs, expected = psd(x, RATE, 2.0, 1.0)
    keep = (freqs >= band[0]) & (freqs <= band[1])
    np.testing.assert_allclose(welch.freqs, freqs[keep])
    np.testing.assert_allclose(welch.psd(), expected[:, keep], rtol=1e-10)


def test_chunk_figures_equal_those_of_the_whole_chunk():
    rng = np.random.default_rng(2)
    seconds = 40
    raw = rng.normal(size=seconds * RATE)
    raw += np.sin(2 * np.pi * 60 * np.arange(raw.size) / RATE)
    cleaned = raw - 0.9 * np.sin(2 * np.pi * 60 * np.arange(raw.size) / RATE)
    present = np.ones(seconds, dtype=bool)
    present[[3, 17, 18]] = False
    figures = ChunkFigures(RATE, BAND, FFTLENGTH)
    for first in range(0, seconds, 16):  # blocks of 16 s
        part = slice(first * RATE, (first + 16) * RATE)
        figures.add(
            raw[part], cleaned[part], present[first : first + 16], first
        )
    result = figures.result()
    keep = np.repeat(present, RATE)
    whole_raw, whole_cleaned = raw[keep], cleaned[keep]
    ratio = asd_ratio(
        whole_cleaned, whole_raw, RATE, *BAND, FFTLENGTH, FFTLENGTH / 2
    )
    assert result["asd_ratio"] == pytest.approx(ratio, rel=1e-10)
    assert result["asd_ratio"] < 0.9  # the line is removed
    for name, x in (("raw", whole_raw), ("cleaned", whole_cleaned)):
        freqs, power = psd(x, RATE, 4.0, 2.0)
        expected = inspiral_range(freqs, power)
        assert expected > 0
        assert result[f"range_{name}_mpc"] == pytest.approx(expected, 1e-10)


def test_too_little_data_gives_no_ratio_and_no_range():
    figures = ChunkFigures(RATE, BAND, FFTLENGTH)
    figures.add(np.ones(3 * RATE), np.ones(3 * RATE), np.ones(3, bool), 0)
    result = figures.result()
    assert np.isnan(result["asd_ratio"])
    assert result["range_raw_mpc"] == result["range_cleaned_mpc"] == 0.0
    assert result["blocks"] == []


def test_each_block_has_the_range_of_its_own_segments():
    """A block whose noise is twice as loud has half the range (the
    range goes as 1/ASD); a cleaned series with a line removed has the
    raw one's range up to the line's few bins."""
    rng = np.random.default_rng(3)
    length, loudness = 64, [1.0, 2.0, 1.0]
    figures = ChunkFigures(RATE, BAND, FFTLENGTH)
    for i, scale in enumerate(loudness):
        raw = scale * rng.normal(size=length * RATE)
        figures.add(raw, raw.copy(), np.ones(length, bool), 1000 + i * length)
    blocks = figures.result()["blocks"]
    assert [b["gps"] for b in blocks] == [1000, 1064, 1128]
    ranges = np.array([b["range_raw_mpc"] for b in blocks])
    assert ranges[1] / ranges[0] == pytest.approx(0.5, rel=0.1)
    assert ranges[2] / ranges[0] == pytest.approx(1.0, rel=0.1)
    for b in blocks:
        assert b["range_cleaned_mpc"] == b["range_raw_mpc"]
