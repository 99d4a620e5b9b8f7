"""The entry points as processes: ``trainer`` and ``train-run`` read typeo
configuration, and the configurations of the root pyproject are valid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import (
    GPS,
    STATE,
    STRAIN,
    WITNESSES,
    FakeExporter,
    free_port,
    with_,
)
from hermes.typeo import spoof
from trainer.config import TrainerSettings
from trainer.runs import EXPORTED_FILE, finished_runs
from utils.errors import ConfigError
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
TOKEN = "test-token"


def _toml(tmp_path: Path, exporter_port: int, metrics_port: int) -> Path:
    """A typeo config with small, fast values (as the root's sections)."""
    values = {
        "ifo": "L1", "project_dir": str(tmp_path / "project"),
        "data_dir": str(tmp_path / "data"), "strain_channel": STRAIN,
        "state_channel": STATE, "witness_channels": list(WITNESSES),
        "frame_timeout": 0.5, "max_consecutive_drops": 3,
        "exporter_url": f"http://127.0.0.1:{exporter_port}",
        "train_duration": 16, "retrain_cadence": 600,
        "ready_settle_length": 2, "kernel_length": 2.0,
        "kernel_stride": 0.5, "batch_size": 8, "max_epochs": 2,
        "niceness": 0, "metrics_port": metrics_port,
        "export_rescan_interval": 0.5,
    }  # fmt: skip
    lines = ["[tool.typeo.scripts.trainer]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _env() -> dict:
    env = dict(os.environ, DEEPCLEAN_API_TOKEN=TOKEN)
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.parametrize("section", ["trainer", "trainer-production"])
def test_root_sections_are_valid(monkeypatch, tmp_path, section) -> None:
    monkeypatch.setenv("IFO", "H1")
    monkeypatch.setenv("PROJECT_DIR", str(tmp_path / "project"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    kwargs = spoof(TrainerSettings, filename=str(ROOT / "pyproject.toml"),
                   script=section)  # fmt: skip
    settings = TrainerSettings(**kwargs)
    assert settings.ifo == "H1" and settings.metrics_port == 9101
    assert all(c.startswith("H1:") for c in settings.witness_channels)
    assert settings.project_dir == tmp_path / "project"
    config = settings.train_config()
    assert config.valid_fraction == 0.25 and config.fine_tune_decay == 0.1
    if section == "trainer-production":  # DESIGN.md §8
        assert (settings.train_duration, settings.retrain_cadence) == (
            4096, 2048,
        )  # fmt: skip
        assert (config.kernel_length, config.kernel_stride) == (8.0, 0.0625)
        assert (config.batch_size, config.lr, config.weight_decay) == (
            256, 1e-3, 1e-5,
        )  # fmt: skip
        assert (config.max_epochs, config.patience) == (50, 5)
        assert config.device == "cuda"
    else:  # the embedded default trains within its cadence on 1 thread
        assert settings.device == "cpu" and settings.num_threads == 1
        assert settings.retrain_cadence >= settings.train_duration / 2


def test_train_run_writes_a_run(sim, tmp_path) -> None:
    sim.write_stretch(tmp_path / "data", GPS, 20)
    config = _toml(tmp_path, free_port(), 0)
    result = subprocess.run(
        [BIN / "train-run", "--gps-start", str(GPS + 1), "--gps-stop",
         str(GPS + 17), "--set", "max_epochs=1", "kernel_stride=1.0",
         "--typeo", f"{config}:trainer"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    runs = finished_runs(tmp_path / "project" / "train")
    assert [r.name for r in runs] == [f"{GPS + 1}-{GPS + 17}"]
    log = (tmp_path / "project" / "logs" / "train-run.log").read_text()
    assert "epoch 1/1" in log  # --set overrides the config


def test_train_run_without_frames_fails_clearly(tmp_path) -> None:
    (tmp_path / "data" / "kafka" / "L1").mkdir(parents=True)
    config = _toml(tmp_path, free_port(), 0)
    result = subprocess.run(
        [BIN / "train-run", "--gps-start", str(GPS), "--gps-stop",
         str(GPS + 4), "--typeo", f"{config}:trainer"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"no strain frame of GPS {GPS}-{GPS + 4}" in result.stdout


def test_service_trains_exports_and_stops(sim, tmp_path) -> None:
    """The real ``trainer`` process on a prefilled DATA_DIR: it trains at
    once, the (fake) exporter is told, metrics are served, SIGTERM stops
    it cleanly."""
    sim.write_stretch(tmp_path / "data", GPS, 24)
    exporter_port, metrics_port = free_port(), free_port()
    exporter = FakeExporter(exporter_port, [202])
    config = _toml(tmp_path, exporter_port, metrics_port)
    log = open(tmp_path / "stdout.txt", "w")
    process = subprocess.Popen(
        [BIN / "trainer", "--typeo", f"{config}:trainer"],
        cwd=tmp_path, env=_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    train_dir = tmp_path / "project" / "train"
    try:
        wait_for(
            lambda: any(train_dir.glob(f"*/{EXPORTED_FILE}")),
            "an exported run", timeout=120, interval=0.2,
            alive=lambda: process.poll() is None,
        )  # fmt: skip
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            metrics = response.read().decode()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        exporter.close()
        log.close()
    assert 'deepclean_trainer_runs_total{outcome="finished"} 1.0' in metrics
    assert exporter.requests[0]["body"] == {"run": f"{GPS + 1}-{GPS + 17}"}
    assert exporter.requests[0]["auth"] == f"Bearer {TOKEN}"
    text = (tmp_path / "project" / "logs" / "trainer.log").read_text()
    assert "epoch 1/2 train" in text and "trainer stopping" in text


def test_impossible_settings_fail_at_start_up(settings) -> None:
    with pytest.raises(ConfigError, match="validation part"):
        with_(settings, train_duration=4, kernel_length=2.0)
    with pytest.raises(ConfigError, match="kernel_length"):
        with_(settings, kernel_length=1.001)
    with pytest.raises(ConfigError, match="token"):
        settings.export_config("")
    with pytest.raises(ConfigError, match="witness_channels"):
        settings.overridden(["witness_channels=L1:X"])
    assert settings.overridden(["max_epochs=7"]).max_epochs == 7
