"""End to end: run.sh on simulated frames -> the trainer trains a first
version -> the exporter exports it -> the cleaner cleans through the real
Triton server -> the monitor validates and promotes -> the OUT_DQ gate
opens. Asserts on the carousel, the archive, the status page and the API.

Nothing is mocked: real tmux, tritonserver, Flask over HTTP, GWF files.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import requests

from pipeline import wait_until
from utils.channels import State
from utils.gpstime import gps_now
from utils.gwf import read_frame
from utils.names import FrameName
from utils.quality import out_of_band_change
from utils.quality import removed_fraction
from utils.quality import truth_4096

pytestmark = pytest.mark.timeout(1800)

CLEAN_SECONDS = 32  # s of gate-open, production-cleaned data to assess


def _gate_open_stretch(pipe, production: int, length: int):
    """The newest ``length`` contiguous seconds cleaned by ``production``
    with the OUT_DQ gate fully open, or None."""
    gps = pipe.carousel_gps()
    run: list[int] = []
    for g in reversed(gps):
        try:
            frame = pipe.frame(g)
        except Exception:  # pruned meanwhile
            break
        state = frame[pipe.channels.state]
        ok = (
            np.all(state & State.OUT_DQ_ON)
            and np.all(state & State.INPUT_OK)
            and frame[pipe.channels.production_version][0] == production
        )
        if not ok or (run and run[-1] != g + 1):
            if len(run) >= length:
                break
            run = []
            if not ok:
                continue
        run.append(g)
        if len(run) >= length:
            break
    return sorted(run) if len(run) >= length else None


@pytest.fixture(scope="module")
def cleaned(pipeline):
    production = pipeline.versions()["production"]
    stretch = wait_until(
        lambda: _gate_open_stretch(pipeline, production, CLEAN_SECONDS),
        f"{CLEAN_SECONDS} s with the OUT_DQ gate open",
        240,
        interval=3,
    )
    frames = [pipeline.frame(g) for g in stretch]
    return production, stretch, frames


def test_one_frame_per_second_in_order(pipeline, cleaned):
    gps = pipeline.carousel_gps()
    assert len(gps) >= 60
    # contiguous, no duplicates, no hidden temporaries left around
    assert gps == list(range(gps[0], gps[-1] + 1))
    names = [p.name for p in pipeline.carousel.iterdir()]
    assert all(
        re.fullmatch(r"L-L1_DEEPCLEAN-\d{10}-1\.gwf", n)
        for n in names
        if not n.startswith(".")
    )
    assert len(gps) <= 300


def test_frames_carry_channels_and_tags(pipeline, cleaned):
    production, stretch, frames = cleaned
    versions = pipeline.versions()
    ch = pipeline.channels
    path = (
        pipeline.carousel / FrameName("L", "L1_DEEPCLEAN", stretch[0]).filename
    )
    series = read_frame(path)
    assert set(series) == set(ch.sample_rates)
    for name, rate in ch.sample_rates.items():
        assert series[name].sample_rate == rate
        assert series[name].data.size == rate
    for frame in frames:
        assert frame[ch.production_version][0] == production
        assert frame[ch.canary_version][0] == versions["canary"]
        # the gate is open: OUT_DQ is the production-cleaned strain
        np.testing.assert_array_equal(frame[ch.out_dq], frame[ch.production])


def test_cleaning_quality(pipeline, cleaned):
    _, stretch, frames = cleaned
    ch = pipeline.channels
    raw = np.concatenate([f[ch.raw] for f in frames])
    truth = truth_4096(pipeline.data_dir, "L1", stretch[0], stretch[-1] + 1)
    for channel in (ch.production, ch.out_dq):
        cleaned_data = np.concatenate([f[channel] for f in frames])
        removed = removed_fraction(cleaned_data, raw, truth)
        print(f"{channel}: removed {removed:.4f} of the removable power")
        assert removed >= 0.9
        assert out_of_band_change(cleaned_data, raw) <= 0.01


def test_versions_api(pipeline):
    versions = pipeline.versions()
    assert versions["production"] is not None
    numbers = {v["version"] for v in versions["versions"]}
    assert versions["production"] in numbers
    assert versions["canary"] in numbers
    for v in versions["versions"]:
        assert v["gps_stop"] > v["gps_start"]
    health = requests.get(f"{pipeline.exporter_url}/health", timeout=5)
    assert health.status_code == 200


def test_archive_holds_stretches(pipeline, cleaned):
    archive = pipeline.project_dir / "archive"
    files = wait_until(
        lambda: sorted(archive.glob("L-L1_DEEPCLEAN-*.gwf")),
        "an archived stretch",
        180,
        interval=3,
    )
    name = FrameName.parse(files[0])
    series = read_frame(files[0])
    ch = pipeline.channels
    for channel in ch.strains:
        assert series[channel].data.size == name.duration * 4096


def test_status_page(pipeline):
    def page():
        r = requests.get(pipeline.status_url + "/", timeout=5)
        return r.text if r.ok and "<img" in r.text else None

    html = wait_until(page, "the status page", 120, interval=3)
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert images
    for src in images:
        r = requests.get(f"{pipeline.status_url}/{src.lstrip('/')}", timeout=5)
        assert r.status_code == 200
        assert r.content[:4] == b"\x89PNG"
    # the health verdict beside it, as LIGO's dashboard reads it: fresh,
    # and not CRITICAL (frames are written every second)
    packet = requests.get(pipeline.status_url + "/nagios.json", timeout=5)
    assert packet.status_code == 200
    now, later = packet.json()["status_intervals"]
    assert abs(gps_now() - packet.json()["created_gps"]) < 60
    assert now["num_status"] in (0, 1), now["txt_status"]
    assert now["txt_status"].startswith("L1 DeepClean ")
    assert (later["num_status"], later["start_sec"]) == (3, 120)
