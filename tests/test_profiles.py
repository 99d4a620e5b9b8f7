"""Every deployment profile starts through ``run.sh``, as an operator
starts it: ``DEEPCLEAN_PROFILE=<profile> ./run.sh NAME``.

The matrix is each profile (the embedded CPU default, ``low-latency``,
``production``) times the frame source (the embedded one, or LIGO frames
already in ``DATA_DIR``). For each, ``run.sh NAME render`` shows the
commands and every service's settings as the service parses them; each
CPU profile starts for real for about a minute, once (one frame per second
in the carousel, every pane alive; the default profile on the embedded
source is the suite's session pipeline, low-latency runs here on LIGO
frames) and stops; the production profile starts
up to where it needs a GPU and stops there with the list of what this node
lacks (this machine has no GPU and no usable container runtime; the GPU
path itself runs only on a GPU node). Ports come from a free block through
``DEEPCLEAN_PORT_BASE``, as a second pipeline on one node would take them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from utils.follower import list_gps
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("", "low-latency", "production")
# the CPU profiles that start for real here: low-latency on LIGO frames,
# with a port base. The default profile on the embedded source is the
# session pipeline of this suite (conftest.py starts it through run.sh and
# the end-to-end and chaos tests run on it), so it is not started twice;
# the renders cover the other pairs
CPU_RUNS = (("low-latency", "ligo"),)
NUM_PORTS = 10  # run.sh: DEEPCLEAN_PORT_BASE .. BASE + 9
RENDER_TIMEOUT = 180  # s: five services import their settings
START_TIMEOUT = 300  # s: run.sh start returns (Triton, exporter ready)
RUN_LENGTH = 60  # s the CPU profiles run
FIRST_FRAME_TIMEOUT = 60  # s after start for the first cleaned frame
# seconds of frames that must appear in RUN_LENGTH: the cleaner writes
# one per input second, 4 s (2 s low-latency) behind; allow start-up
MIN_FRAMES = RUN_LENGTH // 2
SOURCE_PREFILL = 40  # s of frames the stand-in for LIGO writes at once


def free_port_block(size: int = NUM_PORTS) -> int:
    """The first port of ``size`` consecutive free ports of 127.0.0.1."""
    for base in range(21000, 60000, 100):
        try:
            socks = []
            for port in range(base, base + size):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {size} free consecutive ports")


def environ(tmp: Path, profile: str, ifo: str = "L1") -> dict[str, str]:
    return dict(
        os.environ,
        PROJECT_DIR=str(tmp / "project"),
        DATA_DIR=str(tmp / "data"),
        ARCHIVE_DIR=str(tmp / "project" / "archive"),
        IFO=ifo,
        DEEPCLEAN_PROFILE=profile,
        DEEPCLEAN_SOURCE="simulate",  # its data folder is its own
        DEEPCLEAN_PORT_BASE=str(free_port_block()),
        DEEPCLEAN_API_TOKEN="test-token-" + os.urandom(8).hex(),
        CI="true",
    )


def run_sh(name: str, action: str, env: dict, timeout: float):
    return subprocess.run(
        [str(ROOT / "run.sh"), name, action],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class LigoFrames:
    """A stand-in for LIGO's shared memory: the frame source run outside
    run.sh (``replay``, simulated frames at 1 s per second), so that
    ``DATA_DIR`` holds frames before run.sh looks."""

    def __init__(self, env: dict) -> None:
        replay = ROOT / ".venv" / "replay" / "bin" / "replay"
        command = [
            str(replay),
            "--typeo",
            f"{ROOT / 'pyproject.toml'}:replay",
            "--prefill-length",
            str(SOURCE_PREFILL),
            "--metrics-port",
            "0",
        ]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        kafka = Path(env["DATA_DIR"]) / "kafka" / env["IFO"]
        wait_for(
            lambda: len(list_gps(kafka)) >= SOURCE_PREFILL or None,
            f"the stand-in LIGO frames in {kafka}",
            timeout=120,
            interval=0.5,
            alive=lambda: self.process.poll() is None,
        )

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def frame_source(env: dict, frames: str) -> Iterator[None]:
    """Stand-in LIGO frames while inside when ``frames`` is ``ligo``;
    nothing for ``embedded`` (run.sh starts its own source)."""
    source = LigoFrames(env) if frames == "ligo" else None
    try:
        yield
    finally:
        if source is not None:
            source.close()


@pytest.fixture(params=["embedded", "ligo"])
def frames(request) -> str:
    return request.param


def sections_of(profile: str) -> dict[str, str]:
    suffix = f"-{profile}" if profile else ""
    return {
        svc: f"{svc}{suffix}"
        for svc in ("exporter", "replay", "trainer", "cleaner", "monitor")
    }


@pytest.mark.timeout(RENDER_TIMEOUT + 200)
@pytest.mark.parametrize("profile", PROFILES)
def test_render_shows_every_command_and_setting(tmp_path, profile, frames):
    env = environ(tmp_path, profile)
    with frame_source(env, frames):
        done = run_sh("render", "render", env, RENDER_TIMEOUT)
    out = done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    base = int(env["DEEPCLEAN_PORT_BASE"])
    assert f"--http-port {base} --grpc-port {base + 1}" in out
    assert f"status page http://127.0.0.1:{base + 4}" in out
    assert "witnesses: 18" in out
    for svc, section in sections_of(profile).items():
        if svc == "replay" and frames == "ligo":
            assert "\nreplay:" not in out  # LIGO's frames are used
            continue
        assert f"pyproject.toml:{section}\n" in out, section
        assert f"\n{svc} settings: ok: " in out, svc
    kind = "container" if profile == "production" else "embedded"
    assert f"triton ({kind}):" in out
    # Triton serves the exporter's model_repo (its one home: pyproject)
    repo = f"{env['PROJECT_DIR']}/model_repo --http-port"
    assert repo in out.split(f"triton ({kind}):")[1].splitlines()[0]
    if profile == "production":
        assert "backend=tensorrt" in out
        assert "GPU node: missing:" in out or "GPU node: ok" in out
    else:
        assert "GPU node" not in out and "backend=onnx-python" in out


def test_render_refuses_an_unknown_ifo(tmp_path):
    done = run_sh("x", "render", environ(tmp_path, "", ifo="V1"), 60)
    assert done.returncode == 1
    assert "IFO=V1 is not supported" in done.stderr
    assert "known IFOs: L1 H1" in done.stderr


def test_render_refuses_an_unknown_profile(tmp_path):
    """A misspelt profile is refused with the known ones, instead of
    running the base (CPU) sections under the profile's name."""
    done = run_sh("x", "render", environ(tmp_path, "prodution"), 60)
    assert done.returncode == 1
    assert "DEEPCLEAN_PROFILE='prodution': no section" in done.stderr
    assert "profiles: low-latency production;" in done.stderr
    assert "profile=" not in done.stdout


def test_a_scene_runs_its_replay_section(tmp_path):
    """DEEPCLEAN_SCENE picks the frame source's section, nothing else."""
    env = dict(environ(tmp_path, ""), DEEPCLEAN_SCENE="drifting")
    done = run_sh("scene", "render", env, RENDER_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "pyproject.toml:replay-drifting\n" in out
    settings = next(
        line for line in out.splitlines() if line.startswith("replay settings")
    )
    # the scene's own values and those it takes from sideband-heavy
    for value in ("coupling_drift=0.5", "line_ratio=38.0", "num_coupled=5"):
        assert value in settings, settings
    assert "pyproject.toml:trainer\n" in out  # the profile is untouched
    env["DEEPCLEAN_SCENE"] = "calm"
    done = run_sh("scene", "render", env, 60)
    assert done.returncode == 1
    assert "DEEPCLEAN_SCENE='calm'" in done.stderr
    assert "scenes: sideband-heavy drifting" in done.stderr


def test_h1_renders_its_21_witnesses(tmp_path):
    done = run_sh("h1", "render", environ(tmp_path, "", ifo="H1"), 180)
    assert done.returncode == 0, done.stderr
    assert "witnesses: 21" in done.stdout
    assert "<21 channels>" in done.stdout


def gpu_node() -> bool:
    check = ROOT / "triton-server" / "container.sh"
    done = subprocess.run(
        [str(check), "--check"], capture_output=True, text=True, timeout=60
    )
    return done.returncode == 0


def test_the_container_runs_the_server_command(tmp_path):
    """container.sh on a GPU node, as far as it can be without one: a
    stand-in nvidia-smi lists a GPU and a stand-in docker records what it
    is asked to run (mocked: no GPU or Docker engine here)."""
    bin_dir, argv = tmp_path / "bin", tmp_path / "docker.argv"
    bin_dir.mkdir()
    fakes = {
        "nvidia-smi": 'echo "GPU 0: stand-in"',
        "docker": f'[ "$1" = info ] || printf "%s\\n" "$@" > {argv}',
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DEEPCLEAN_CONTAINER": "docker",
        "DEEPCLEAN_TRITON_IMAGE": "nvcr.io/nvidia/tritonserver:24.09-py3",
        "DEEPCLEAN_TRITON_GPUS": "1",
    }
    repo = tmp_path / "model_repo"
    script = ROOT / "triton-server" / "container.sh"
    flags = ["--grpc-port", "9101", "--load", "deepclean-pipeline"]

    def container(*args: str) -> subprocess.CompletedProcess:
        command = [str(script), str(repo), *args]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60
        )

    done = container(*flags)
    assert done.returncode == 0, done.stderr
    args = argv.read_text().splitlines()
    assert args[:2] == ["run", "--rm"]
    assert '"device=1"' in args and f"{repo}:{repo}" in args
    server = args[args.index("tritonserver") :]
    assert (
        args[args.index("tritonserver") - 1] == env["DEEPCLEAN_TRITON_IMAGE"]
    )
    for flag in (
        f"--model-repository={repo}",
        "--model-control-mode=explicit",
        "--load-model=deepclean-pipeline",
        "--grpc-address=127.0.0.1",
        "--grpc-port=9101",
        "--http-port=8000",
        "--exit-timeout-secs=10",
    ):
        assert flag in server
    bad = container("--grpc-port")
    assert bad.returncode == 1
    assert "option --grpc-port needs a value" in bad.stderr


@pytest.mark.timeout(START_TIMEOUT + 200)
def test_production_stops_where_it_needs_a_gpu(tmp_path, frames):
    if gpu_node():
        pytest.skip("this node has a GPU and a container runtime")
    env = environ(tmp_path, "production")
    with frame_source(env, frames):
        done = run_sh("prod", "start", env, START_TIMEOUT)
    assert done.returncode == 1
    assert "profile production needs a GPU node" in done.stderr
    assert "nvidia-smi" in done.stderr and "container runtime" in done.stderr
    assert "DEEPCLEAN_TRITON_IMAGE" in done.stderr
    # nothing was started
    status = run_sh("prod", "status", env, 30)
    assert status.returncode == 3, status.stdout


@pytest.mark.timeout(START_TIMEOUT + RUN_LENGTH + 300)
@pytest.mark.parametrize("profile, frames", CPU_RUNS)
def test_cpu_profile_runs_for_a_minute(tmp_path, profile, frames):
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    env = environ(tmp_path, profile)
    name = f"profile-{profile or 'cpu'}-{frames}-{os.getpid()}"
    carousel = tmp_path / "project" / "carousel"
    with frame_source(env, frames):
        try:
            done = run_sh(name, "start", env, START_TIMEOUT)
            assert done.returncode == 0, done.stdout + done.stderr
            started_source = (
                "starting the embedded frame source" in done.stdout
            )
            assert started_source == (frames == "embedded"), done.stdout
            wait_for(
                lambda: list_gps(carousel) or None,
                "the first cleaned frame",
                FIRST_FRAME_TIMEOUT,
                interval=1.0,
            )
            first = list_gps(carousel)[0]
            time.sleep(RUN_LENGTH)
            status = run_sh(name, "status", env, 60)
            assert "DEAD" not in status.stdout, status.stdout
            base = int(env["DEEPCLEAN_PORT_BASE"])
            assert f"status page: http://127.0.0.1:{base + 4}" in status.stdout
            gps = [g for g in list_gps(carousel) if g >= first]
            assert len(gps) >= MIN_FRAMES, gps
            assert gps == list(range(gps[0], gps[0] + len(gps)))  # 1 per s
        finally:
            run_sh(name, "stop", env, 120)
            subprocess.run(
                ["tmux", "kill-session", "-t", f"=deepclean-{name}"],
                capture_output=True,
            )
