"""The health verdict of ``nagios.json``: what each condition makes it,
the packet LIGO's dashboard reads, and a monitor that writes, serves,
counts and logs it."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
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
from monitor.health import PROMOTION_LAG
from monitor.health import HealthConfig
from monitor.health import Status
from monitor.health import Watched
from monitor.health import judge
from monitor.history import History
from monitor.history import SecondRecord
from monitor.monitor import Monitor
from utils.channels import State
from utils.errors import ConfigError
from utils.gpstime import unix_to_gps
from utils.names import cleaned_name
from utils.testing import free_port

CONFIG = HealthConfig(
    ifo=IFO, window_length=60, frame_age=30.0, gate_open_min=0.5, timeout=120
)
NEWEST = GPS0 + 99  # the newest processed and written second
NOW = 1_700_000_000.0  # Unix time of the verdict
WRITTEN = NOW - 4.0  # the newest frame's mtime


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


def restamped(records: list[SecondRecord]) -> list[SecondRecord]:
    """``records`` renumbered to end at :data:`NEWEST`."""
    start = NEWEST + 1 - len(records)
    return [replace(r, gps=start + i) for i, r in enumerate(records)]


def verdict(records=None, now: float = NOW, **fields):
    """The verdict on ``records`` (default: :func:`seconds`), processed
    up to the newest frame, written at :data:`WRITTEN`, production v3."""
    records = seconds() if records is None else records
    values = dict(
        newest_frame=NEWEST,
        newest_written=WRITTEN,
        cursor=NEWEST + 1,
        since=records[0].gps if records else None,
        uptime=3600.0,
        production=3,
        production_from=NEWEST - 1000,  # live for a while
    )
    values.update(fields)
    return judge(CONFIG, now, records, Watched(**values))


def test_a_cleaning_pipeline_is_ok_and_says_what_is_live():
    health = verdict()
    assert health.status == Status.OK
    assert health.text == (
        "L1 DeepClean OK: production v3, OUT_DQ gate open 100 % of the "
        "last 60 s, newest frame written 4 s ago"
    )


def test_the_packet_is_what_the_dashboard_reads():
    packet = verdict(production=None).packet(1400000000.7, CONFIG)
    assert json.loads(json.dumps(packet)) == packet
    assert packet["created_gps"] == 1400000000
    now, later = packet["status_intervals"]
    assert (now["start_sec"], now["num_status"]) == (0, 1)
    assert now["txt_status"].startswith(
        "L1 DeepClean WARNING: the exporter did not answer"
    )
    assert (later["start_sec"], later["num_status"]) == (120, 3)
    assert "not updated this status for 120 s" in later["txt_status"]
    # never sooner than the timeout
    late = verdict().packet(0, replace(CONFIG, timeout=1.2))
    assert late["status_intervals"][1]["start_sec"] == 2


def test_frames_no_longer_written_are_critical_and_named_first():
    records = seconds()
    records[-5:] = [replace(r, input_ok=False) for r in records[-5:]]
    health = verdict(records, now=NOW + 40)
    assert health.status == Status.CRITICAL
    assert health.text == (
        "L1 DeepClean CRITICAL: no cleaned frame written for 44 s (newest: "
        f"GPS {NEWEST}); 5 of the last 60 s without raw input"
    )
    # within frame_age the same frames are fine, whatever their GPS
    assert verdict(now=NOW + 25).status == Status.OK
    assert verdict(now=NOW + 25, newest_frame=GPS0).status == Status.OK
    empty = verdict([], newest_frame=None, newest_written=None, cursor=None)
    assert empty.status == Status.CRITICAL
    assert "no cleaned frame in the carousel" in empty.text
    assert "no second processed yet" in empty.text
    # a monitor just started has not given the cleaner its first frame's
    # time yet
    starting = verdict(
        [], newest_frame=None, newest_written=None, cursor=None, uptime=10.0
    )
    assert starting.status == Status.WARNING


def test_no_input_at_all_is_critical():
    health = verdict(seconds(input_ok=False, production_version=0))
    assert health.status == Status.CRITICAL
    assert "no raw input for the last 60 s: OUT_DQ is zeros" in health.text
    # nor is it read as a missing model: the newest second with input is
    assert "model" not in health.text


def test_no_production_model_warns_that_out_dq_is_raw():
    records = seconds(production_version=0, out_dq_on=0.0)
    health = verdict(records, production=0)
    assert health.status == Status.WARNING
    assert health.text == (
        "L1 DeepClean WARNING: no production model: OUT_DQ is the raw strain"
    )
    # the exporter has one, the frames have not carried it for 60 s; a
    # model lost for up to PROMOTION_LAG s is no warning
    health = verdict(records, production=3)
    assert health.text.endswith(
        "production v3 not applied for 60 s: OUT_DQ is the raw strain "
        "(Triton down?)"
    )
    just = restamped(
        seconds(90) + seconds(PROMOTION_LAG, production_version=0)
    )
    assert verdict(just, production=3).status == Status.OK
    # a first promotion the frames have not caught up with yet: not "not
    # applied" (they never had a model), nor "no production model"
    first = verdict(records, production=1, production_from=NEWEST - 4)
    assert first.status == Status.OK
    assert first.text.startswith("L1 DeepClean OK: production v1, newest")
    assert verdict(
        records, production=1, production_from=NEWEST - 20
    ).text.endswith(
        "production v1 not applied for 21 s: OUT_DQ is the raw "
        "strain (Triton down?)"
    )
    # the exporter silent too, the frames had a model a moment ago
    lost = restamped(seconds(40) + seconds(20, production_version=0))
    health = verdict(lost, production=None)
    assert "the newest seconds carry no model" in health.text
    assert "did not answer" in health.text
    # a dropped newest second (tags 0) is not read as a missing model
    records = seconds()
    records[-1] = replace(records[-1], input_ok=False, production_version=0)
    health = verdict(records)
    assert health.text.endswith("1 of the last 60 s without raw input")


@pytest.mark.parametrize("open_fraction, warns", [(0.3, True), (0.6, False)])
def test_a_gate_closed_too_often_warns(open_fraction, warns):
    closed = round(60 * (1 - open_fraction))
    records = restamped(seconds(60 - closed) + seconds(closed, out_dq_on=0))
    health = verdict(records)
    percent = f"{100 * open_fraction:.0f} %"
    assert (health.status == Status.WARNING) is warns
    assert f"OUT_DQ gate open {percent} of the last 60 s" in health.text


def test_the_gate_is_judged_over_the_seconds_with_a_model():
    """The first model promoted 40 s ago, its gate open half of it: that
    is what is judged and said, not 20 s of a gate that had no model; and
    not before the model's seconds are half the window (the gate takes
    ~12 s to open after a first promotion)."""
    without = seconds(20, production_version=0, out_dq_on=0.0)
    records = restamped(without + seconds(40, out_dq_on=0.5))
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
    just_promoted = restamped(seconds(45, production_version=0) + seconds(15))
    just_promoted[-15:-5] = [
        replace(r, out_dq_on=0.0) for r in just_promoted[-15:-5]
    ]
    assert verdict(just_promoted).status == Status.OK
    # a pipeline just started: 20 s, the gate closed while it filled
    started = seconds(20)
    started[:12] = [replace(r, out_dq_on=0.0) for r in started[:12]]
    assert verdict(started).status == Status.OK


def test_seconds_without_a_record_are_missing_up_to_the_cursor():
    """Declared gaps, unreadable (quarantined) frames and seconds missing
    before a restart all leave no record: each second of the window
    without one is counted, up to the cursor (not to the newest record),
    and no earlier than the history reaches."""
    records = seconds()
    del records[50:61]  # 11 s inside the window
    health = verdict(records)
    assert health.status == Status.WARNING
    assert "11 of the last 60 s missing from the carousel or unreadable" in (
        health.text
    )
    # the newest 20 s unreadable: the cursor passed them, no record
    health = verdict(seconds()[:-20], cursor=NEWEST + 1)
    assert "20 of the last 60 s missing" in health.text
    # every second since the history began unreadable: CRITICAL
    health = verdict([], since=NEWEST - 29)
    assert health.status == Status.CRITICAL
    assert "every second of the last 30 s missing" in health.text
    # a history that starts 10 s ago judges those 10 s only
    health = verdict(seconds(10), since=NEWEST - 9)
    assert health.status == Status.OK
    assert "gate open 100 % of the last 10 s" in health.text
    # records past the cursor (left from before a rewind) are not judged
    health = verdict(seconds(), cursor=NEWEST - 49, newest_frame=NEWEST - 50)
    assert health.status == Status.OK
    assert "gate open 100 % of the last 50 s" in health.text


@dataclass
class Second:
    """What :meth:`History.add` reads of a processed second (a
    :class:`monitor.frames.SecondData` without its strain)."""

    gps: int
    production_version: int = 3
    canary_version: int = 4
    latency: float = 4.0

    def all_set(self, bits: State) -> bool:
        return True

    def fraction_set(self, bits: State) -> float:
        return 1.0 if bits == State.OUT_DQ_ON else 0.0


def test_the_history_starts_over_when_gps_goes_back():
    """An hour of an old stream fills the history; GPS goes back (a new
    stream): the window is the new stream's, not "no second processed"
    until the new one fills the history."""
    history = History(history_length=300, psd_length=4)
    for gps in range(5000, 5400):
        history.add(Second(gps))
    assert history.since == 5100  # full: the oldest kept
    for gps in range(1000, 1050):
        history.add(Second(gps))
    assert history.since == 1000
    watched = Watched(
        newest_frame=1049,
        newest_written=WRITTEN,
        cursor=1050,
        since=history.since,
        uptime=3600.0,
        production=3,
        production_from=0,
    )
    health = judge(CONFIG, NOW, history.records, watched)
    assert health.status == Status.OK
    assert "gate open 100 % of the last 50 s" in health.text
    history.add_gap(1050, 1052)
    history.add(Second(1052))
    assert history.since == 1000


def test_a_monitor_behind_the_carousel_says_so():
    health = verdict(seconds()[:-40], cursor=NEWEST - 39)
    assert health.status == Status.WARNING
    assert "the monitor is 40 s behind the carousel" in health.text
    assert verdict(seconds()[:-10], cursor=NEWEST - 9).status == Status.OK


def test_the_production_watch_and_the_exporter_warn():
    error = "Connection pool boilerplate " * 20 + "[Errno 111] refused"
    health = verdict(
        stale=True, harmful=True, production=None, exporter_error=error
    )
    assert health.status == Status.WARNING
    assert "production v3 stale; retraining asked" in health.text
    assert "production v3 adds power outside the band" in health.text
    # the error's end is kept, where the reason is
    assert health.text.endswith("[Errno 111] refused")
    assert len(health.text) < 200 + MAX_TEXT
    assert verdict(production=None).text.endswith("did not answer: no answer")
    forged = verdict(production=None, exporter_error="refused\x1b[2J\x00")
    assert forged.text.endswith("did not answer: refused\\x1b[2J\\x00")


@pytest.mark.parametrize(
    "field, value",
    [
        ("window_length", 0),
        ("frame_age", 0.0),
        ("gate_open_min", 1.5),
        ("timeout", 0.5),
    ],
)
def test_a_bad_health_config_is_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        replace(CONFIG, **{field: value})


# -- the monitor writes, serves, counts and logs it ----------------------


def test_a_monitor_writes_serves_and_logs_its_verdict(tmp_path, caplog):
    """No frame yet, just started: WARNING, logged once however often it
    is judged; frames cleaned with a live model: OK, logged as the change.
    The file is served beside the page and its status is a metric (3,
    UNKNOWN, before any verdict and when the verdict fails)."""
    frames = FrameSource(tmp_path / "carousel")
    exporter = FakeExporter().start()
    clock = {"now": NOW}
    config = make_config(
        tmp_path,
        exporter.url,
        loop={"metrics_port": free_port()},
        status={"port": free_port()},
        health={"window_length": 20},
    )
    on = int(State.INPUT_OK | State.PRODUCTION_OK | State.OUT_DQ_ON)

    def health_metric() -> str:
        port = config.loop.metrics_port
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        return next(
            line
            for line in text.text.splitlines()
            if line.startswith("deepclean_monitor_health ")
        )

    try:
        with Monitor(config, wall_clock=lambda: clock["now"]) as monitor:
            metrics = [health_metric()]
            with caplog.at_level(logging.INFO, logger="monitor.monitor"):
                monitor.render_status()
                monitor.render_status()
                frames.write(GPS0, 30, state=on, production_version=1)
                newest = frames.carousel / cleaned_name(IFO, GPS0 + 29)
                os.utime(newest, (NOW - 4.5, NOW - 4.5))
                tick_until(
                    monitor, lambda: monitor.sequencer.cursor == GPS0 + 30
                )
                monitor.render_status()
            said = [
                (r.levelname, r.getMessage())
                for r in caplog.records
                if r.getMessage().startswith("health: ")
            ]
            url = f"http://127.0.0.1:{monitor.server.port}/{FILE}"
            served = requests.get(url, timeout=5)
            metrics.append(health_metric())
            page = (config.status.status_dir / "index.html").read_text()
            # a verdict that fails is logged and reads UNKNOWN
            with caplog.at_level(logging.ERROR, logger="monitor.monitor"):
                clock["now"] = "not a time"
                monitor.render_status()
                assert "health verdict failed" in caplog.text
            metrics.append(health_metric())
    finally:
        exporter.stop()
    assert [level for level, _ in said] == ["WARNING", "INFO"]
    assert said[0][1].startswith("health: L1 DeepClean WARNING: no cleaned")
    assert said[1][1] == (
        "health: L1 DeepClean OK: production v1, OUT_DQ gate open 100 % "
        "of the last 20 s, newest frame written 4 s ago"
    )
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "application/json"
    packet = served.json()
    assert packet["created_gps"] == int(unix_to_gps(NOW))
    assert packet["status_intervals"][0]["num_status"] == 0
    assert metrics == [
        "deepclean_monitor_health 3.0",
        "deepclean_monitor_health 0.0",
        "deepclean_monitor_health 3.0",
    ]
    assert "health (nagios.json)" in page and "DeepClean OK" in page
