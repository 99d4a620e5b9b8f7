"""The status page in a real headless browser, and the metrics endpoint.

Needs a Chromium binary for the browser test (Debian/Ubuntu package
``chromium``; ``chromium-browser`` or Google Chrome work too); that test is
skipped only when no such binary exists.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import requests
from matplotlib.image import imread
from monitor_helpers import GPS0
from monitor_helpers import IFO
from monitor_helpers import FakeExporter
from monitor_helpers import FrameSource
from monitor_helpers import make_config
from monitor_helpers import tick_until

from monitor.metrics import PREFIX
from monitor.monitor import Monitor
from utils.channels import State
from utils.gpstime import gps_to_unix
from utils.names import cleaned_name
from utils.testing import free_port

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LATENCY = 4.5  # s, set as the frames' mtime after the end of their second
FIGURES = {
    "versions.png",
    "asd_ratio.png",
    "range.png",
    "latency.png",
    "gate.png",
}


class ImgSources(HTMLParser):
    """Collects the ``src`` of every ``<img>``."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A monitor that processed 45 s (a missing second, a dropped input,
    then 40 s with production 1 gated on and canary 2), rendered its page
    and serves it and its metrics on free ports (shared by this module's
    tests, which only read it)."""
    root = tmp_path_factory.mktemp("served")
    frames = FrameSource(root / "carousel")
    on = int(
        State.INPUT_OK
        | State.PRODUCTION_OK
        | State.CANARY_OK
        | State.OUT_DQ_ON
        | State.ANALYSIS_READY
    )
    # canary 2 removes more of the coupled noise than production 1
    better = {"production_version": 1, "canary": 0.99}
    frames.write(GPS0, 2, state=on, **better)
    frames.write(
        GPS0 + 3, 1, state=on & ~State.INPUT_OK, **better
    )  # a dropped input
    frames.write(GPS0 + 4, 41, state=on, **better)
    for gps in range(GPS0, GPS0 + 45):
        path = frames.carousel / cleaned_name(IFO, gps)
        if path.exists():
            stamp = gps_to_unix(gps + 1) + LATENCY
            os.utime(path, (stamp, stamp))
    exporter = FakeExporter().start()
    config = make_config(
        root,
        exporter.url,
        loop={"metrics_port": free_port(), "missing_timeout": 0.2},
        status={"port": free_port()},
        validation={"window_length": 20},
    )
    with Monitor(config) as monitor:
        tick_until(monitor, lambda: monitor.sequencer.cursor == GPS0 + 45)
        monitor.render_status()
        yield monitor
    exporter.stop()


def test_status_page_renders_in_a_headless_browser(served, tmp_path, caplog):
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None:
        pytest.skip("no headless browser binary (chromium) on this machine")
    folder = served.config.status.status_dir
    html = (folder / "index.html").read_text()
    parser = ImgSources()
    parser.feed(html)
    assert set(parser.sources) == FIGURES
    url = f"http://127.0.0.1:{served.server.port}/"
    for src in parser.sources:
        assert (folder / src).stat().st_size > 1000
        response = requests.get(url + src, timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/png"
        assert response.content.startswith(PNG_MAGIC)
    shot = tmp_path / "shot.png"
    with caplog.at_level(logging.DEBUG, logger="monitor.server"):
        caplog.clear()
        result = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'ud'}",
                "--window-size=1200,4000",
                "--hide-scrollbars",
                f"--screenshot={shot}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        messages = [r.getMessage() for r in caplog.records]
    assert result.returncode == 0, result.stderr[-2000:]
    # the browser fetched the page and every plot it references
    for src in ["/ HTTP", *(f"/{s} HTTP" for s in parser.sources)]:
        assert any(f"GET {src}" in m and '" 200' in m for m in messages), src
    image = imread(shot)
    assert image.shape[:2] == (4000, 1200)
    # not a blank page: plots put many distinct colours on it
    rgb = (image[..., :3] * 255).astype(np.uint32)
    colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    assert len(colours) > 50


def test_status_page_says_what_happened(served):
    html = (served.config.status.status_dir / "index.html").read_text()
    assert "production <b>2</b>, canary <b>4</b>" in html  # exporter
    assert "version 2 validated: 20/20 s" in html
    # both figures of the verdict, and why production is what it is
    assert re.search(
        r"v2 validated: 0\.\d+ vs raw, 0\.\d+ vs production v1", html
    )
    assert "live production" in html
    hist = served.history
    assert hist.missing_total == 1 and hist.dropped_total == 1
    assert list(hist.gaps) == [(GPS0 + 2, GPS0 + 3)]
    np.testing.assert_allclose(
        [r.latency for r in hist.records], LATENCY, atol=1e-3
    )
    # range of the last 32 s: cleaning a narrow band barely changes it
    ((gps, ranges),) = hist.ranges
    assert ranges["raw"] > 1.0
    assert abs(ranges["production"] / ranges["raw"] - 1) < 0.05


def test_metrics_endpoint_scraped(served):
    port = served.config.loop.metrics_port
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    names = (
        "asd_ratio",
        "canary_validation_ratio",
        "canary_validation_seconds",
        "version",
        "out_dq_gate_open",
        "dropped_seconds_total",
        "missing_seconds_total",
        "carousel_frames",
        "spool_frames",
        "archive_write_seconds_bucket",
        "archived_seconds_total",
        "promotions_total",
        "frame_latency_seconds",
        "inspiral_range_mpc",
    )
    for name in names:
        assert f"\n{PREFIX}{name}" in text, name
    samples = [line for line in text.splitlines() if line[:1] not in "#"]
    # one naming scheme, one registry: no sample but the monitor's
    assert all(line.startswith(PREFIX) for line in samples)
    values = {
        line.split(" ")[0].removeprefix(PREFIX): float(line.split(" ")[1])
        for line in samples
    }
    assert values['version{role="production"}'] == 1
    assert values['version{role="canary"}'] == 2
    assert values["missing_seconds_total"] == 1
    assert values["dropped_seconds_total"] == 1
    assert values["out_dq_gate_open"] == 1
    assert values['promotions_total{outcome="promoted"}'] == 1
    # production removes 95% of the coupled noise: far below 1 in band
    assert values['asd_ratio{product="production"}'] < 0.5
    assert values['asd_ratio{product="canary"}'] < 1.0
