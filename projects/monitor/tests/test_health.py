"""The health verdict of ``nagios.json``: what each condition makes it,
the packet LIGO's dashboard reads, and a monitor that writes, serves,
counts and logs it."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
import requests
from monitor_helpers import GPS0
from monitor_helpers import IFO
from monitor_helpers import FakeExporter
from monitor_helpers import FrameSource
from monitor_helpers import make_config
from monitor_helpers import tick_until

from monitor.health import FILE
from monitor.health import MAX_TEXT
from monitor.health import HealthConfig
from monitor.health import Status
from monitor.health import Watched
from monitor.health import judge
from monitor.history import SecondRecord
from monitor.monitor import Monitor
from utils.channels import State
from utils.errors import ConfigError
from utils.testing import free_port

CONFIG = HealthConfig(
    ifo=IFO, window_length=60, frame_age=30.0, gate_open_min=0.5, timeout=120
)
NEWEST = GPS0 + 99  # the newest processed and written second
NOW = NEWEST + 1 + 4.0  # its end, then the cleaner's latency


def seconds(n: int = 100, **fields) -> list[SecondRecord]:
    """``n`` processed seconds to :data:`NEWEST`: production v3 cleaned
    with the gate open, unless ``fields`` say otherwise."""
    values = dict(
        input_ok=True,
        out_dq_on=1.0,
        out_dq_taper=0.0,
        production_version=3,
        canary_version=4,
        latency=4.0,
    )
    values.update(fields)
    start = NEWEST + 1 - n
    return [SecondRecord(gps=start + i, **values) for i in range(n)]


def verdict(records=None, now: float = NOW, **watched):
    records = seconds() if records is None else records
    return judge(CONFIG, now, records, Watched(NEWEST, **watched))


def test_a_cleaning_pipeline_is_ok_and_says_what_is_live():
    health = verdict()
    assert health.status == Status.OK
    assert health.text == (
        "L1 DeepClean OK: production v3, OUT_DQ gate open 100 % of the "
        "last 60 s, newest frame 4 s old"
    )


def test_the_packet_is_what_the_dashboard_reads():
    packet = verdict(exporter_error="refused").packet(NOW, CONFIG)
    assert json.loads(json.dumps(packet)) == packet
    assert packet["created_gps"] == int(NOW)
    now, later = packet["status_intervals"]
    assert (now["start_sec"], now["num_status"]) == (0, 1)
    assert now["txt_status"].startswith("L1 DeepClean WARNING: exporter")
    assert (later["start_sec"], later["num_status"]) == (120, 3)
    assert "not updated this status for 120 s" in later["txt_status"]


def test_frames_that_stopped_are_critical_and_named_first():
    records = seconds()
    records[-5:] = [replace(r, input_ok=False) for r in records[-5:]]
    health = verdict(records, now=NOW + 40)
    assert health.status == Status.CRITICAL
    assert health.text == (
        "L1 DeepClean CRITICAL: no cleaned frame for 44 s (newest GPS "
        f"{NEWEST}); 5 of the last 60 s without raw input"
    )
    # within frame_age the same frames are fine
    assert verdict(now=NOW + 25).status == Status.OK
    empty = judge(CONFIG, NOW, [], Watched(None))
    assert empty.status == Status.CRITICAL
    assert "no cleaned frame in the carousel" in empty.text
    assert "no second processed yet" in empty.text


def test_no_production_model_warns_that_out_dq_is_raw():
    records = seconds(production_version=0, out_dq_on=0.0)
    health = verdict(records)
    assert health.status == Status.WARNING
    assert "no production model: OUT_DQ is the raw strain" in health.text
    assert "gate" not in health.text  # the reason is the model, not it


@pytest.mark.parametrize("open_fraction, warns", [(0.3, True), (0.6, False)])
def test_a_gate_closed_too_often_warns(open_fraction, warns):
    closed = round(60 * (1 - open_fraction))
    records = seconds(60 - closed) + seconds(closed, out_dq_on=0.0)
    records = [replace(r, gps=NEWEST - 59 + i) for i, r in enumerate(records)]
    health = verdict(records)
    percent = f"{100 * open_fraction:.0f} %"
    assert (health.status == Status.WARNING) is warns
    assert f"OUT_DQ gate open {percent} of the last 60 s" in health.text


def test_the_gate_is_judged_over_the_seconds_with_a_model():
    """The first model promoted 40 s ago, its gate open half of it: that
    is what is judged and said, not 20 s of a gate that had no model."""
    records = seconds(20, production_version=0, out_dq_on=0.0) + seconds(
        40, out_dq_on=0.5
    )
    records = [replace(r, gps=NEWEST - 59 + i) for i, r in enumerate(records)]
    health = verdict(records)
    assert health.status == Status.OK
    assert "gate open 50 % of the 40 s with a model of the last 60 s" in (
        health.text
    )
    records[-30:] = [replace(r, out_dq_on=0.0) for r in records[-30:]]
    health = verdict(records)
    assert health.status == Status.WARNING
    assert health.text.endswith(
        "gate open 12 % of the 40 s with a model of the last 60 s "
        "(raw strain otherwise)"
    )


def test_only_gaps_within_the_window_warn():
    inside = verdict(gaps=[(NEWEST - 70, NEWEST - 48)])  # 11 s of it inside
    assert inside.status == Status.WARNING
    assert "11 s missing from the carousel in the last 60 s" in inside.text
    assert verdict(gaps=[(NEWEST - 90, NEWEST - 59)]).status == Status.OK


def test_the_production_watch_and_the_exporter_warn():
    health = verdict(stale=True, harmful=True, exporter_error="x" * 1000)
    assert health.status == Status.WARNING
    assert "production v3 stale; retraining asked" in health.text
    assert "production v3 adds power outside the band" in health.text
    assert health.text.endswith("exporter unreachable: " + "x" * MAX_TEXT)
    assert "no answer" in verdict(exporter_error="").text


@pytest.mark.parametrize(
    "field, value",
    [("window_length", 0), ("frame_age", 0.0), ("gate_open_min", 1.5)],
)
def test_a_bad_health_config_is_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        replace(CONFIG, **{field: value})


# -- the monitor writes, serves, counts and logs it ----------------------


def test_a_monitor_writes_serves_and_logs_its_verdict(tmp_path, caplog):
    """No frame yet: CRITICAL, logged once however often it is judged;
    frames cleaned with a live model: OK, logged as the change. The file
    is served beside the page and its status is a metric."""
    frames = FrameSource(tmp_path / "carousel")
    exporter = FakeExporter().start()
    clock = {"gps": GPS0 + 4.0}
    config = make_config(
        tmp_path,
        exporter.url,
        loop={"metrics_port": free_port()},
        status={"port": free_port()},
        health={"window_length": 20},
    )
    on = int(State.INPUT_OK | State.PRODUCTION_OK | State.OUT_DQ_ON)
    try:
        with Monitor(config, gps_clock=lambda: clock["gps"]) as monitor:
            with caplog.at_level(logging.INFO, logger="monitor.monitor"):
                monitor.render_status()
                monitor.render_status()
                frames.write(GPS0, 30, state=on, production_version=1)
                tick_until(
                    monitor, lambda: monitor.sequencer.cursor == GPS0 + 30
                )
                clock["gps"] = GPS0 + 30 + 4.5
                monitor.render_status()
            said = [
                (r.levelname, r.getMessage())
                for r in caplog.records
                if r.getMessage().startswith("health: ")
            ]
            url = f"http://127.0.0.1:{monitor.server.port}/{FILE}"
            served = requests.get(url, timeout=5)
            port = config.loop.metrics_port
            metrics = requests.get(
                f"http://127.0.0.1:{port}/metrics", timeout=5
            ).text
    finally:
        exporter.stop()
    assert [level for level, _ in said] == ["WARNING", "INFO"]
    assert said[0][1].startswith("health: L1 DeepClean CRITICAL: no cleaned")
    assert said[1][1] == (
        "health: L1 DeepClean OK: production v1, OUT_DQ gate open 100 % "
        "of the last 20 s, newest frame 4 s old"
    )
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "application/json"
    packet = served.json()
    assert packet["created_gps"] == GPS0 + 34
    assert packet["status_intervals"][0]["num_status"] == 0
    assert "\ndeepclean_monitor_health 0.0" in metrics
    page = (config.status.status_dir / "index.html").read_text()
    assert "health (nagios.json)" in page and "DeepClean OK" in page
