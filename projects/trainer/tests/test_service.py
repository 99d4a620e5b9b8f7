"""The service on a prefilled DATA_DIR: runs on a cadence, warm starts,
restarts, refusals; the run folder contract the exporter relies on."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

from conftest import GPS
from conftest import WITNESSES
from conftest import with_
from trainer.main import build_service
from trainer.metrics import TrainerMetrics
from trainer.run_once import train_span
from trainer.runs import finished_runs
from trainer.runs import load_latest
from trainer.service import start_gps
from trainer.worker import TrainingWorker
from utils.errors import DataCheckError
from utils.gpstime import gps_now
from utils.names import strain_name
from utils.nn.checkpoint import load_model
from utils.runs import parse_run_name
from utils.signal import bandpass
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.simulation import read_truth
from utils.testing import metric_value
from utils.train_request import request_path
from utils.train_request import write_request
from utils.waiting import wait_for

RATE = 4096
RUN_FILES = {
    "weights.pt",
    "model.json",
    "history.json",
    "checks.json",
    "verify.npz",
    "loss.png",
    "asd.png",
    "DONE",
}


def _service(settings, metrics, previous=None, last_stop=None):
    """The service and its worker, wired as ``main`` wires them."""
    worker = TrainingWorker(settings.run_config(), previous, metrics=metrics)
    return build_service(settings, worker, metrics, last_stop), worker


def _follow(service, worker, frames: int) -> None:
    """Feed ``frames`` seconds, letting each queued run finish first (so
    the test does not depend on how fast this machine trains)."""
    worker.start()
    try:
        for _ in range(frames):
            service.step(service.follower.next_second())
            wait_for(
                lambda: not worker.busy,
                "the training run",
                timeout=120,
                interval=0.05,
            )
    finally:
        worker.stop()


def _follow_one(service, worker) -> None:
    """:func:`_follow` one second, the worker already started."""
    service.step(service.follower.next_second())
    wait_for(lambda: not worker.busy, "the run", timeout=120, interval=0.05)


def _extra(run: Path) -> dict:
    return json.loads((run / "model.json").read_text())["extra"]


def test_prefilled_data_trains_on_cadence_with_warm_starts(
    sim, settings
) -> None:
    """16 s runs every 8 s: the first from scratch, each later one
    warm-started from the one before with lr x 0.1. The prefill holds
    just the first run (16 s and the 2 s lead-in), so the service starts
    at its oldest frame; the rest arrives after the start."""
    sim.write_stretch(settings.data_dir, GPS, 18)
    metrics = TrainerMetrics()
    service, worker = _service(settings, metrics)
    sim.write_stretch(settings.data_dir, GPS + 18, 18)
    _follow(service, worker, 36)
    runs = finished_runs(settings.train_dir)
    # output seconds GPS+1 .. GPS+33: runs end at GPS+17, +25, +33
    assert [r.name for r in runs] == [
        f"{GPS + 1}-{GPS + 17}",
        f"{GPS + 9}-{GPS + 25}",
        f"{GPS + 17}-{GPS + 33}",
    ]
    assert not list(settings.train_dir.glob(".*"))  # no temporary folders
    parents = [_extra(r)["parent"] for r in runs]
    assert parents == [None, runs[0].name, runs[1].name]
    assert [_extra(r)["lr"] for r in runs] == pytest.approx([1e-3, 1e-4, 1e-4])
    for run in runs:
        assert {p.name for p in run.iterdir()} == RUN_FILES
    assert metric_value(metrics.runs, "finished") == 3
    assert metric_value(metrics.seconds_collected) == 16  # capped


def test_run_folder_contract(sim, settings) -> None:
    """What the exporter reads: weights with scalers (raw witnesses in,
    noise in strain units out), meta, verify data, history, plots."""
    settings = with_(settings, kernel_stride=0.25, max_epochs=4)
    sim.write_stretch(settings.data_dir, GPS, 36)
    worker = TrainingWorker(settings.run_config())
    run = train_span(
        settings.stream_config(),
        settings.preprocess_config(),
        settings.collect_config(32),
        worker,
        GPS + 1,
        GPS + 33,
    )
    model, meta = load_model(run)
    assert (meta.gps_start, meta.gps_stop) == (GPS + 1, GPS + 33)
    assert meta.witness_channels == WITNESSES and meta.sample_rate == RATE
    extra = meta.extra
    assert extra["epochs"] <= 4 and extra["parent"] is None
    assert extra["best_valid_loss"] < 0.6 * extra["initial_valid_loss"]
    assert 0 < extra["valid_asd_ratio"] < 0.6
    with np.load(run / "verify.npz", allow_pickle=False) as verify:
        assert list(verify) == ["witness"]
        witness = verify["witness"]
    assert witness.dtype == np.float32 and witness.shape == (3, 4 * RATE)
    # verify holds the first 4 s of validation data (GPS+25 .. GPS+29);
    # the band-passed prediction there follows the simulator's truth
    with torch.no_grad():
        noise = model(torch.as_tensor(witness[None]))[0].double().numpy()
    seconds = range(GPS + 25, GPS + 29)
    truth = np.concatenate(
        [read_truth(settings.data_dir, "L1", g) for g in seconds]
    )
    truth = bandpass(resample_poly(truth, 1, 4), 58.0, 62.0, RATE)
    noise = bandpass(noise, 58.0, 62.0, RATE)
    inner = slice(RATE // 2, -RATE // 2)  # away from the filter edges
    assert np.corrcoef(noise[inner], truth[inner])[0, 1] > 0.8
    assert np.std(noise[inner]) / np.std(truth[inner]) == pytest.approx(
        1.0, abs=0.5
    )
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, extra["epochs"] + 1))
    assert all(
        set(h)
        == {
            "epoch",
            "train_loss",
            "valid_loss",
            "lr",
            "seconds",
            "cpu_seconds",
        }
        for h in history
    )
    assert json.loads((run / "checks.json").read_text())["passed"]
    for plot in ("loss.png", "asd.png"):
        assert (run / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_restart_resumes_and_warm_starts_from_disk(sim, settings) -> None:
    """After a restart the newest run on disk is the warm start, and the
    next run comes retrain_cadence after it, not on old data again."""
    sim.write_stretch(settings.data_dir, GPS, 30)
    first = train_span(
        settings.stream_config(),
        settings.preprocess_config(),
        settings.collect_config(16),
        TrainingWorker(settings.run_config()),
        GPS + 1,
        GPS + 17,
    )
    latest = load_latest(settings.train_dir, WITNESSES, RATE)
    assert latest is not None and latest[2] == first.name
    model, meta, name = latest
    metrics = TrainerMetrics()
    service, worker = _service(settings, metrics, (model, name), meta.gps_stop)
    assert service.next_train_gps == GPS + 25
    # resume = stop + cadence - duration = GPS + 9, minus 2 s of lead-in
    assert start_gps(settings.service_config(), meta.gps_stop) == GPS + 7
    _follow(service, worker, 30 - 7)
    runs = finished_runs(settings.train_dir)
    assert [r.name for r in runs] == [first.name, f"{GPS + 9}-{GPS + 25}"]
    second = _extra(runs[1])
    assert second["parent"] == first.name and second["warm_start"]
    assert second["lr"] == pytest.approx(1e-4)


def test_incoherent_data_are_refused_with_reasons(tmp_path, settings) -> None:
    """Strain without coupled noise: the checks refuse it, checks.json and
    FAILED say why, no DONE (the exporter never sees it)."""
    quiet = Simulator(
        SimulationConfig(
            ifo="L1",
            witness_channels=WITNESSES,
            seed=2,
            line_ratio=0.0,
            sideband_ratio=0.0,
        )
    )
    quiet.write_stretch(settings.data_dir, GPS, 20)
    metrics = TrainerMetrics()
    worker = TrainingWorker(settings.run_config(), metrics=metrics)
    with pytest.raises(DataCheckError, match="coherence"):
        train_span(
            settings.stream_config(),
            settings.preprocess_config(),
            settings.collect_config(16),
            worker,
            GPS + 1,
            GPS + 17,
        )
    run = settings.train_dir / f"{GPS + 1}-{GPS + 17}"
    assert {p.name for p in run.iterdir()} == {"checks.json", "FAILED"}
    checks = json.loads((run / "checks.json").read_text())
    assert not checks["passed"]
    assert "coherence" in (run / "FAILED").read_text()
    assert finished_runs(settings.train_dir) == []
    assert metric_value(metrics.runs, "refused") == 1


def test_training_never_blocks_collection(sim, settings) -> None:
    """While a run trains in its thread, the main loop keeps reading."""
    slow = with_(settings, max_epochs=30, patience=30)
    sim.write_stretch(settings.data_dir, GPS, 18)  # starts at the oldest
    metrics = TrainerMetrics()
    service, worker = _service(slow, metrics)
    sim.write_stretch(settings.data_dir, GPS + 18, 12)
    worker.start()
    stop = threading.Event()
    try:
        service.run(stop, max_seconds=19)  # queues the first run
        assert worker.busy
        service.run(stop, max_seconds=10)
        assert worker.busy  # still training, yet 10 more seconds were read
        assert service.collector.gps_stop == GPS + 27
    finally:
        worker.stop(timeout=60)
    assert not worker.busy
    assert metric_value(metrics.runs, "interrupted") == 1


def test_first_run_trains_on_the_newest_data_present(sim, settings) -> None:
    """A prefilled DATA_DIR: the first run takes the newest
    train_duration seconds (plus the lead-in), not the oldest; with less
    than that present, it starts from the oldest."""
    config = settings.service_config()
    duration = config.schedule.train_duration
    sim.write_stretch(settings.data_dir, GPS, duration + 40)
    newest = GPS + duration + 40 - 1
    # a frame of another kind, newer, in the strain folder: not counted;
    # nor a stray of a second not begun (found by review: the first wait
    # lasted until its second)
    (config.stream.strain_dir / f"L-L1_R-{newest + 50}-1.gwf").touch()
    stray = int(gps_now()) + 86400
    (config.stream.strain_dir / strain_name("L1", stray)).touch()
    # the preprocessing's delay: 1 s look-ahead + 1 s resampling context
    assert start_gps(config, None) == newest + 1 - duration - 2
    short = settings.data_dir.parent / "short"
    sim.write_stretch(short, GPS, duration // 2)
    shorter = replace(config, stream=replace(config.stream, data_dir=short))
    assert start_gps(shorter, None) == GPS


def _submitted(service, worker, frames: int) -> list:
    """The stretches ``frames`` seconds queue for training (recorded, not
    trained: the worker is not started)."""
    stretches = []
    worker.submit = lambda stretch: stretches.append(stretch) or True
    for _ in range(frames):
        service.step(service.follower.next_second())
    return stretches


@pytest.mark.parametrize("frames_at_start", [True, False])
def test_a_run_ahead_of_the_stream_does_not_stop_training(
    sim, settings, caplog, frames_at_start
) -> None:
    """The newest run on disk ends long after the stream (older data
    replayed after a live run, a run folder stamped ahead): the trainer
    says so, naming both GPS seconds, and trains on the stream, instead
    of waiting for a GPS second the stream never reaches. Found at start
    (frames present) or once the first frames came (none at start)."""
    ahead = GPS + 100_000
    present = 40 if frames_at_start else 0
    sim.write_stretch(settings.data_dir, GPS, present)
    with caplog.at_level(logging.WARNING, logger="trainer.service"):
        service, worker = _service(settings, TrainerMetrics(), None, ahead)
        # the stream goes on
        sim.write_stretch(settings.data_dir, GPS + present, 60 - present)
        stretches = _submitted(service, worker, 20)
    assert stretches, "no run"
    assert GPS < stretches[0].gps_stop <= GPS + 60  # the stream's data
    warned = [
        r.getMessage() for r in caplog.records if r.name == "trainer.service"
    ]
    assert len(warned) == 1, warned
    assert f"ends at GPS {ahead}" in warned[0]
    assert "after the stream (GPS 14000000" in warned[0]


def test_train_now_request_starts_a_run_ahead_of_the_cadence(
    sim, settings
) -> None:
    """A cadence of 100 s would give one run in 48 s of data; the
    monitor's train-now request gives a second one within the poll
    interval, on the newest data. A malformed request is moved aside and
    changes nothing."""
    slow_cadence = with_(settings, retrain_cadence=100)
    sim.write_stretch(settings.data_dir, GPS, 18)
    metrics = TrainerMetrics()
    service, worker = _service(slow_cadence, metrics)
    sim.write_stretch(settings.data_dir, GPS + 18, 30)
    path = request_path(settings.project_dir)
    path.parent.mkdir(parents=True)
    path.write_text('{"gps": "soon"}')  # a claim, not a request
    counts = []
    worker.start()
    for i in range(32):
        if i == 24:
            assert not path.exists() and list(path.parent.glob("*.bad-*"))
            write_request(settings.project_dir, GPS + 23, 1, 0.7, 0.2, "stale")
        _follow_one(service, worker)
        counts.append(len(finished_runs(settings.train_dir)))
    worker.stop()
    assert counts[23] == 1  # one run on the cadence so far
    runs = finished_runs(settings.train_dir)
    assert not path.exists()
    assert metric_value(metrics.requests) == 1
    assert len(runs) == 2
    start, stop = parse_run_name(runs[1].name)
    # on the newest data when the request was taken (within the poll)
    assert stop - start == 16 and GPS + 23 <= stop <= GPS + 31
