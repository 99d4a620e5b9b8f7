"""Announcing runs to the exporter, which may be down or refuse.

The exporter here is a tiny real HTTP server (http.server on a free port):
it is the trainer's neighbour, not the thing under test.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from conftest import FakeExporter
from trainer.metrics import TrainerMetrics
from trainer.notifier import ExportConfig
from trainer.notifier import ExportNotifier
from trainer.runs import DONE_FILE
from trainer.runs import EXPORTED_FILE
from utils.testing import free_port
from utils.testing import metric_value
from utils.waiting import wait_for

TOKEN = "s3cret-token"
RUN = "1400000000-1400000016"


@pytest.fixture()
def train_dir(tmp_path: Path) -> Path:
    """One finished run (its content does not matter to the notifier)."""
    run = tmp_path / "train" / RUN
    run.mkdir(parents=True)
    (run / DONE_FILE).write_text("1\n")
    (tmp_path / "train" / "1399999000-1399999016").mkdir()  # not DONE
    return tmp_path / "train"


def _notifier(train_dir: Path, port: int, metrics=None) -> ExportNotifier:
    config = ExportConfig(
        f"http://127.0.0.1:{port}",
        TOKEN,
        timeout=1.0,
        backoff=0.05,
        max_backoff=0.2,
        rescan_interval=0.2,
    )
    return ExportNotifier(config, train_dir, metrics or TrainerMetrics())


def _count(metrics: TrainerMetrics, outcome: str) -> float:
    return metric_value(metrics.exports, outcome)


def _wait_for_refusal(metrics: TrainerMetrics) -> None:
    wait_for(
        lambda: _count(metrics, "refused") == 1,
        "the refusal",
        timeout=10,
        interval=0.02,
    )


def _wait_until_exported(run: Path, timeout: float = 10.0) -> None:
    """The notifier wrote ``run``'s exported.json (bounded wait)."""
    wait_for(
        lambda: (run / EXPORTED_FILE).exists(),
        f"{run.name}/{EXPORTED_FILE}",
        timeout=timeout,
        interval=0.02,
    )


def test_exporter_down_then_up(train_dir: Path) -> None:
    """Nobody listens at first: retries with back-off; once the exporter
    comes up the run is exported and exported.json written."""
    port = free_port()
    metrics = TrainerMetrics()
    notifier = _notifier(train_dir, port, metrics)
    notifier.start()
    exporter = None
    try:
        wait_for(
            lambda: _count(metrics, "retry") >= 2,
            "two failed POSTs",
            timeout=10,
            interval=0.02,
        )
        assert not (train_dir / RUN / EXPORTED_FILE).exists()
        exporter = FakeExporter(port, [202])
        _wait_until_exported(train_dir / RUN)
    finally:
        notifier.stop()
        if exporter is not None:
            exporter.close()
    assert exporter.requests == [
        {"path": "/versions", "body": {"run": RUN}, "auth": f"Bearer {TOKEN}"},
    ]
    record = json.loads((train_dir / RUN / EXPORTED_FILE).read_text())
    assert record["status"] == 202 and record["response"] == {"job": 1}
    assert notifier.pending == []


def test_server_errors_are_retried(train_dir: Path) -> None:
    port = free_port()
    exporter = FakeExporter(port, [503, 503, 202])
    notifier = _notifier(train_dir, port)
    notifier.start()
    try:
        _wait_until_exported(train_dir / RUN)
    finally:
        notifier.stop()
        exporter.close()
    assert len(exporter.requests) == 3


def test_refusal_is_not_retried(train_dir: Path) -> None:
    """A 4xx (bad token here) is logged and not hammered: one request,
    no exported.json, even across rescans."""
    port = free_port()
    exporter = FakeExporter(port, [401])
    metrics = TrainerMetrics()
    notifier = _notifier(train_dir, port, metrics)
    notifier.start()
    try:
        _wait_for_refusal(metrics)
        threading.Event().wait(0.6)  # three rescan intervals
    finally:
        notifier.stop()
        exporter.close()
    assert len(exporter.requests) == 1
    assert not (train_dir / RUN / EXPORTED_FILE).exists()


def test_a_refused_run_is_forgotten_once_it_is_gone(
    train_dir: Path, tmp_path: Path
) -> None:
    """The refused runs are those still on disk (they stay as many as
    the runs kept): a run refused, moved away over a rescan and put back
    (a run of that name made again) is sent again."""
    port = free_port()
    exporter = FakeExporter(port, [401, 202])
    metrics = TrainerMetrics()
    notifier = _notifier(train_dir, port, metrics)
    notifier.start()
    try:
        _wait_for_refusal(metrics)
        away = tmp_path / "away"
        (train_dir / RUN).rename(away)
        threading.Event().wait(0.6)  # three rescan intervals
        away.rename(train_dir / RUN)
        _wait_until_exported(train_dir / RUN)
    finally:
        notifier.stop()
        exporter.close()
    assert len(exporter.requests) == 2


def test_new_run_is_sent_at_once(train_dir: Path) -> None:
    (train_dir / RUN / EXPORTED_FILE).write_text("{}")  # done before
    port = free_port()
    exporter = FakeExporter(port, [202])
    notifier = _notifier(train_dir, port)
    notifier.start()
    try:
        new = train_dir / "1400000008-1400000024"
        new.mkdir()
        (new / DONE_FILE).write_text("1\n")
        notifier.notify(new.name)
        _wait_until_exported(new, timeout=5)
    finally:
        notifier.stop()
        exporter.close()
    assert [r["body"]["run"] for r in exporter.requests] == [new.name]
