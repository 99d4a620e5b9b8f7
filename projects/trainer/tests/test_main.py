"""The entry points as processes: ``trainer`` and ``train-run`` read typeo
configuration (the root pyproject's sections: ``test_config.py``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import ENVIRON
from conftest import FAST
from conftest import GPS
from conftest import PYPROJECT
from conftest import FakeExporter
from conftest import with_
from trainer.main import STALE_RUN_LENGTH
from trainer.runs import EXPORTED_FILE
from trainer.runs import finished_runs
from utils.config import section_values
from utils.errors import ConfigError
from utils.testing import free_port
from utils.testing import run_script
from utils.testing import running_script
from utils.waiting import wait_for

TOKEN = "test-token"
RUN_TIMEOUT = 120.0  # s for a training run of the fast values


def _toml(tmp_path: Path, exporter_port: int, metrics_port: int) -> Path:
    """A typeo config: the root's ``[trainer]`` with the fast values of the
    tests, folders in ``tmp_path`` and the given ports."""
    values = section_values(PYPROJECT, "trainer", ENVIRON)
    values.update(
        FAST,
        project_dir=str(tmp_path / "project"),
        data_dir=str(tmp_path / "data"),
        frame_timeout=0.5,
        exporter_url=f"http://127.0.0.1:{exporter_port}",
        retrain_cadence=600,
        metrics_port=metrics_port,
        export_rescan_interval=0.5,
    )
    lines = ["[tool.typeo.scripts.trainer]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _env() -> dict:
    env = dict(os.environ, DEEPCLEAN_API_TOKEN=TOKEN)
    env.pop("PYTHONPATH", None)
    return env


def _train_run(
    tmp_path: Path, config: Path, *args: str
) -> subprocess.CompletedProcess:
    """``train-run <args> --typeo <config>:trainer`` in ``tmp_path``."""
    argv = [*args, "--typeo", f"{config}:trainer"]
    return run_script(
        "train-run", *argv, timeout=RUN_TIMEOUT, cwd=tmp_path, env=_env()
    )


def test_train_run_writes_a_run(sim, tmp_path) -> None:
    """It writes a run, and removes the run folder a killed trainer left
    unfinished an hour ago (one being written now is left alone)."""
    sim.write_stretch(tmp_path / "data", GPS, 20)
    config = _toml(tmp_path, free_port(), 0)
    train = tmp_path / "project" / "train"
    stale, fresh = (train / f".{GPS}-{GPS + 16}.{n}.tmp" for n in (1, 2))
    for folder in (stale, fresh):
        (folder / "model").mkdir(parents=True)
    os.utime(stale, (0, os.stat(stale).st_mtime - STALE_RUN_LENGTH - 60))
    span = ["--gps-start", str(GPS + 1), "--gps-stop", str(GPS + 17)]
    changes = ["--max-epochs", "1", "--kernel-stride", "1.0"]
    result = _train_run(tmp_path, config, *span, *changes)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = finished_runs(tmp_path / "project" / "train")
    assert [r.name for r in runs] == [f"{GPS + 1}-{GPS + 17}"]
    log = (tmp_path / "project" / "logs" / "train-run.log").read_text()
    assert "epoch 1/1" in log  # the flag overrides the config
    assert not stale.exists() and fresh.exists()


def test_train_run_without_frames_fails_clearly(tmp_path) -> None:
    (tmp_path / "data" / "kafka" / "L1").mkdir(parents=True)
    config = _toml(tmp_path, free_port(), 0)
    span = ["--gps-start", str(GPS), "--gps-stop", str(GPS + 4)]
    result = _train_run(tmp_path, config, *span)
    assert result.returncode == 1
    assert f"no strain frame of GPS {GPS}-{GPS + 4}" in result.stdout


def test_service_trains_exports_and_stops(sim, tmp_path) -> None:
    """The real ``trainer`` process on a prefilled DATA_DIR: it trains at
    once on the newest data, the (fake) exporter is told, metrics are
    served, SIGTERM stops it cleanly."""
    sim.write_stretch(tmp_path / "data", GPS, 24)
    exporter_port, metrics_port = free_port(), free_port()
    exporter = FakeExporter(exporter_port, [202])
    config = _toml(tmp_path, exporter_port, metrics_port)
    log = open(tmp_path / "stdout.txt", "w")
    argv = ["--typeo", f"{config}:trainer"]
    output = dict(stdout=log, stderr=subprocess.STDOUT)
    train_dir = tmp_path / "project" / "train"
    try:
        with running_script(
            "trainer", *argv, cwd=tmp_path, env=_env(), **output
        ) as process:
            wait_for(
                lambda: any(train_dir.glob(f"*/{EXPORTED_FILE}")),
                "an exported run",
                timeout=RUN_TIMEOUT,
                interval=0.2,
                alive=lambda: process.poll() is None,
            )
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                metrics = response.read().decode()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
    finally:
        exporter.close()
        log.close()
    assert 'deepclean_trainer_runs_total{outcome="finished"} 1.0' in metrics
    # the newest 16 s of the 24 s present (the newest second is the
    # resampler's look-ahead)
    assert exporter.requests[0]["body"] == {"run": f"{GPS + 7}-{GPS + 23}"}
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


def test_sigterm_ends_the_wait_for_a_first_frame(tmp_path) -> None:
    """No frame yet: the trainer waits (up to ``start_timeout``), but a
    SIGTERM ends the wait at once, with status 0."""
    config = _toml(tmp_path, free_port(), 0)
    argv = ["--typeo", f"{config}:trainer"]
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "project" / "logs" / "trainer.log"
    with running_script(
        "trainer", *argv, cwd=tmp_path, env=_env(), **quiet
    ) as process:
        wait_for(
            lambda: log.exists() and "warm start" in log.read_text(),
            "the trainer to start",
            timeout=60,
            interval=0.1,
            alive=lambda: process.poll() is None,
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "trainer stopping" in log.read_text()


@pytest.mark.parametrize(
    "flags, token, message",
    [
        (["--metrics-port", "70000"], TOKEN, "metrics_port=70000"),
        ([], "", "DEEPCLEAN_API_TOKEN"),
    ],
)
def test_start_up_fails_fast(tmp_path, flags, token, message) -> None:
    config = _toml(tmp_path, free_port(), 0)
    argv = ["--typeo", f"{config}:trainer", *flags]
    env = dict(_env(), DEEPCLEAN_API_TOKEN=token)
    result = run_script("trainer", *argv, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert message in result.stdout + result.stderr
