"""The summary page: its charts are drawn from the figures each task
wrote, a range point per block (a point per file from older figures)."""

from __future__ import annotations

import itertools
import json
import math
import re
import xml.etree.ElementTree as ET

import pytest

from reprocess.summary import TICKS
from reprocess.summary import _ticks
from reprocess.summary import svg_chart
from reprocess.summary import write_summary

SVG = "{http://www.w3.org/2000/svg}"


def figures(name: str, gps: int, ratio: float, blocks: list | None) -> dict:
    out = {
        "name": name,
        "gps": gps,
        "duration": 512,
        "seconds_present": 512,
        "asd_ratio": ratio,
        "range_raw_mpc": 100.0,
        "range_cleaned_mpc": 101.0,
    }
    if blocks is not None:
        out["blocks"] = blocks
    return out


def charts(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg.*?</svg>", page)]


def test_page_charts_a_point_per_block_and_lists_failures(tmp_path):
    blocks = [
        {"gps": 1000 + 256 * i, "range_raw_mpc": r, "range_cleaned_mpc": r + 2}
        for i, r in enumerate([90.0, 95.0])
    ]
    written = [
        figures("L-L1_HOFT_DEEPCLEAN-1000-512.gwf", 1000, 0.4, blocks),
        # written by an older run: no blocks, its file's ranges stand in
        figures("L-L1_HOFT_DEEPCLEAN-1512-512.gwf", 1512, 0.5, None),
    ]
    # its figures written, then its frame's write failed
    unwritten = figures("L-L1_HOFT_DEEPCLEAN-2536-512.gwf", 2536, 0.9, None)
    summary = tmp_path / "summary"
    summary.mkdir()
    for f in [*written, unwritten]:
        (summary / f["name"].replace(".gwf", ".json")).write_text(
            json.dumps(f)
        )
    for f in written:
        (tmp_path / f["name"]).write_bytes(b"a frame")
    page = write_summary(
        summary,
        tmp_path,
        [written[0]["name"]],
        [written[1]["name"]],
        {"L-L1_HOFT_DEEPCLEAN-2024-512.gwf": "FrameCorrupt: bad.gwf"},
    ).read_text()
    ratio, ranges = charts(page)
    assert len(ratio.findall(f"{SVG}circle")) == 2
    # raw and cleaned: 2 blocks + the older file's point each
    assert len(ranges.findall(f"{SVG}circle")) == 6
    assert "FrameCorrupt: bad.gwf" in page
    assert "hours since GPS 1000" in page
    assert unwritten["name"] not in page
    record = json.loads((summary / "run.json").read_text())
    assert record["skipped"] == [written[1]["name"]]


def test_points_follow_their_values_and_gaps_break_the_line():
    svg = ET.fromstring(
        svg_chart(
            {"a": [(0, 1.0), (1, 3.0), (2, float("nan")), (3, 2.0)]},
            "x",
            "y",
        )
    )
    lines = svg.findall(f"{SVG}polyline")
    assert len(lines) == 2  # the NaN splits the line
    circles = svg.findall(f"{SVG}circle")
    heights = [float(c.get("cy")) for c in circles]
    assert len(heights) == 3
    # SVG's y grows downwards: 3.0 highest, then 2.0, then 1.0
    assert heights[1] < heights[2] < heights[0]
    lefts = [float(c.get("cx")) for c in circles]
    assert lefts == sorted(lefts)


def test_no_finite_point_is_said_not_drawn():
    assert svg_chart({"a": [(0, float("nan"))]}, "x", "y") == (
        "<p>(no data)</p>"
    )


@pytest.mark.parametrize(
    "low, high", [(-0.2844, 5.973), (104.4, 118.6), (0.0025, 1.048), (7, 7.3)]
)
def test_axis_values_are_round_and_inside_the_axis(low, high):
    ticks = _ticks(low, high)
    assert 3 <= len(ticks) <= TICKS
    assert low <= ticks[0] and ticks[-1] <= high
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5)
    assert all(len(f"{t:g}") <= 6 for t in ticks)
