"""``run.sh`` and ``scripts/supervise.sh`` without a pipeline: run names,
the ``.env`` files, ``status`` and ``stop`` against stand-in tmux sessions
(on a private tmux server), the supervisor with trivial commands.

Each test runs a copy of ``run.sh`` in a temporary folder (its scripts,
libs and configuration linked), so that neither a ``.env`` of the checkout
nor the caller's variables reach it, and no service environment is there:
``render`` then lists the commands without importing any service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from utils.testing import holding
from utils.testing import is_free
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
SUPERVISE = ROOT / "scripts" / "supervise.sh"
TIMEOUT = 60  # s for one run.sh call (no service is imported)

needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="needs tmux"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of run.sh with the checkout's scripts, libs, config and
    environments (built, as run.sh start leaves them)."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("run.sh", ".env.example"):
        shutil.copy2(ROOT / name, copy / name)
    for name in (
        "scripts",
        "libs",
        "pyproject.toml",
        "triton-server",
        ".venv",
    ):
        (copy / name).symlink_to(ROOT / name)
    return copy


@pytest.fixture
def tmux_dir() -> Iterator[Path]:
    """A private tmux server's folder (short: a socket path has a limit);
    the server is killed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="dc-tmux-", dir="/tmp"))
    try:
        yield folder
    finally:
        subprocess.run(
            ["tmux", "kill-server"],
            env=clean_env(folder.parent, folder),
            capture_output=True,
            timeout=10,
        )
        shutil.rmtree(folder, ignore_errors=True)


def clean_env(home: Path, tmux: Path | None = None, **extra) -> dict:
    """Only PATH, HOME (and a private tmux server): no setting of the
    caller's shell."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CI": "true"}
    if tmux is not None:
        env["TMUX_TMPDIR"] = str(tmux)
    env.update(extra)
    return env


def run_sh(repo: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(repo / "run.sh"), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def tmux(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["tmux", *args], env=env, capture_output=True, text=True, timeout=10
    )


def line_of(out: str, prefix: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(prefix))


# -- run names and tmux targets ----------------------------------------------
@needs_tmux
def test_status_and_stop_leave_a_longer_named_run_alone(
    repo, tmp_path, tmux_dir
):
    """Run ``h1`` is not running, ``h1-test`` is: tmux's ``-t deepclean-h1``
    matches the longer name as a prefix, so status said h1 ran and stop
    killed h1-test."""
    env = clean_env(tmp_path, tmux_dir)
    other = "deepclean-h1-test"
    made = tmux(env, "new-session", "-d", "-s", other, "sleep 300")
    assert made.returncode == 0, made.stderr
    status = run_sh(repo, env, "h1", "status")
    assert status.returncode == 3, status.stdout + status.stderr
    assert "run h1 is not running" in status.stdout
    assert other not in status.stdout
    stop = run_sh(repo, env, "h1", "stop")
    assert stop.returncode == 0, stop.stderr
    assert "run h1 is not running" in stop.stdout
    assert tmux(env, "has-session", "-t", f"={other}").returncode == 0


@pytest.mark.parametrize("name", ["a.b", "..", ".", "_x", "a b", "a/b"])
def test_a_run_name_tmux_or_the_folders_would_change_is_refused(
    repo, tmp_path, name
):
    """tmux makes 'a.b' the session 'a_b' (status and stop never found
    it) and '..' made ~/deepclean/${PROJECT} a parent folder."""
    done = run_sh(repo, clean_env(tmp_path), name, "render")
    assert done.returncode == 1, done.stdout
    assert f"run name '{name}': a letter or digit, then" in done.stderr
    assert "run " not in done.stdout


def test_start_stops_when_tmux_gives_no_pane(repo, tmp_path):
    """A tmux that starts no pane (a stand-in here) stops the start with a
    message, instead of handing an empty pane id on (tmux takes an empty
    target for the current pane of any session). Nothing real starts: the
    build is a stand-in too. An earlier run's health verdict is gone: it
    says nothing of this run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "tmux"
    fake.write_text('#!/bin/sh\n[ "$1" = has-session ] && exit 1\nexit 0\n')
    fake.chmod(0o755)
    (repo / "build.sh").write_text("#!/bin/sh\nexit 0\n")
    (repo / "build.sh").chmod(0o755)
    env = clean_env(
        tmp_path,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        DEEPCLEAN_READY_TIMEOUT="5",
        DEEPCLEAN_API_TOKEN="x",
    )
    earlier = tmp_path / "deepclean" / "nopane" / "monitor" / "status"
    earlier.mkdir(parents=True)
    (earlier / "nagios.json").write_text("{}")
    (earlier / "index.html").write_text("")
    done = run_sh(repo, env, "nopane", "start")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "tmux started no pane for triton" in done.stderr
    assert sorted(p.name for p in earlier.iterdir()) == ["index.html"]


# -- status: the run's own settings ----------------------------------------
class _Healthy(BaseHTTPRequestHandler):
    """Triton's and the exporter's health and versions, all 200."""

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@needs_tmux
def test_status_reads_the_ports_the_run_started_with(repo, tmp_path, tmux_dir):
    """``IFO=H1 DEEPCLEAN_PORT_BASE=.. ./run.sh h1`` then a plain
    ``./run.sh h1 status``: the ports, folders and health are the run's
    (its run.env), not those of the shell asking; the exit status says
    whether every pane is alive, Triton and the exporter answer and the
    monitor's verdict is neither CRITICAL nor UNKNOWN."""
    triton, exporter = serve(), serve()
    status_port = 47999  # only shown
    project = tmp_path / "deepclean" / "h1"  # .env.example's, HOME=tmp_path
    project.mkdir(parents=True)
    run_env = project / "run.env"  # as start writes it
    run_env.write_text(
        f"PROJECT=h1\nPROJECT_DIR={project}\nDATA_DIR={tmp_path}/data\n"
        f"IFO=H1\nARCHIVE_DIR={project}/archive\nDEEPCLEAN_API_TOKEN=x\n"
        f"DEEPCLEAN_CONFIG={ROOT}/pyproject.toml\n"
        f"DEEPCLEAN_PORT_TRITON_HTTP={triton.server_port}\n"
        f"DEEPCLEAN_PORT_EXPORTER={exporter.server_port}\n"
        f"DEEPCLEAN_PORT_STATUS={status_port}\nPYTHONUNBUFFERED=1\n"
    )
    env = clean_env(tmp_path, tmux_dir)
    session = "=deepclean-h1:"
    made = tmux(env, "new-session", "-d", "-s", "deepclean-h1", "sleep 300")
    assert made.returncode == 0, made.stderr
    tmux(env, "set-option", "-t", session, "remain-on-exit", "on")
    try:
        # the caller: no port base (pyproject's defaults), then another
        for extra in ({}, {"DEEPCLEAN_PORT_BASE": "23000"}):
            done = run_sh(repo, dict(env, **extra), "h1", "status")
            assert done.returncode == 0, done.stdout + done.stderr
            out = done.stdout
            assert f"status page: http://127.0.0.1:{status_port}" in out
            assert line_of(out, "Triton:") == "Triton:   200"
            assert '{"ok": true}' in line_of(out, "exporter:")
        # the input and the carousel: the newest frame by GPS, its age
        assert line_of(out, "input:") == (
            f"input:    live frames in {tmp_path}/data/kafka/H1, newest none"
        )
        raw = tmp_path / "data" / "kafka" / "H1"
        raw.mkdir(parents=True)
        # a stray named for a second not begun is not the newest
        for gps in (999999999, 1400000001, 1400000000, 9999999999):
            (raw / f"H-H1_llhoft-{gps}-1.gwf").write_bytes(b"")
        old = time.time() - 120
        os.utime(raw / "H-H1_llhoft-1400000001-1.gwf", (old, old))
        tmux(env, "split-window", "-d", "-t", session, "sleep 300")
        tmux(env, "select-pane", "-t", f"{session}.1", "-T", "replay")
        done = run_sh(repo, env, "h1", "status")
        newest = line_of(done.stdout, "input:")
        assert newest.startswith("input:    the embedded frame source")
        assert ", newest H-H1_llhoft-1400000001-1.gwf, written 12" in newest
        assert newest.endswith("(1 frame of seconds not begun left out)")
        assert line_of(done.stdout, "carousel:").endswith("newest none")
        # the monitor's health verdict, as LIGO's dashboard reads it
        verdict = project / "monitor" / "status" / "nagios.json"
        assert (
            line_of(done.stdout, "health:")
            == f"health:   none yet ({verdict})"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        verdict.parent.mkdir(parents=True)
        verdict.write_text("{not json")
        done = run_sh(repo, env, "h1", "status")
        assert line_of(done.stdout, "health:").startswith(
            "health:   unreadable"
        )
        assert done.returncode == 4, done.stdout + done.stderr
        # the interval in force by the file's age, on one printable line;
        # a WARNING is healthy, a CRITICAL or a verdict too old is not
        for code, unhealthy in ((1, False), (2, True)):
            packet = {
                "created_gps": 1400000000,
                "status_intervals": [
                    {
                        "start_sec": 0,
                        "num_status": code,
                        "txt_status": "H1\nW\x1b",
                    },
                    {"start_sec": 120, "num_status": 3, "txt_status": "late"},
                ],
            }
            verdict.write_text(json.dumps(packet))
            for age, text in ((60, "H1 W"), (130, "late")):
                old = time.time() - age
                os.utime(verdict, (old, old))
                done = run_sh(repo, env, "h1", "status")
                health = line_of(done.stdout, "health:")
                shown = re.fullmatch(
                    r"health:   (.*) \(judged (\d+) s ago\)", health
                )
                assert shown is not None, health
                assert shown[1] == text and age <= int(shown[2]) < age + 60
                failed = unhealthy or text == "late"
                assert done.returncode == (4 if failed else 0), health
        # a FIFO (or a device) is not read: status does not hang on it
        verdict.unlink()
        os.mkfifo(verdict)
        done = run_sh(repo, env, "h1", "status")
        health = line_of(done.stdout, "health:")
        assert health == f"health:   unreadable ({verdict}: not a file)"
        assert done.returncode == 4
        verdict.unlink()
        # a caller with another PROJECT_DIR finds the file through the
        # session (start records it in the tmux option @deepclean_run_env)
        option = ("@deepclean_run_env", str(run_env))
        tmux(env, "set-option", "-t", session, *option)
        elsewhere = dict(env, PROJECT_DIR=str(tmp_path / "elsewhere"))
        done = run_sh(repo, elsewhere, "h1", "status")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"settings: {run_env}" in done.stdout
        # Triton down: unhealthy
        triton.shutdown()
        triton.server_close()
        done = run_sh(repo, env, "h1", "status")
        assert done.returncode == 4, done.stdout + done.stderr
        assert "Triton:   not ready" in done.stdout
        assert "is not healthy" in done.stdout
    finally:
        exporter.shutdown()
        exporter.server_close()
        triton.server_close()


@needs_tmux
def test_status_fails_when_a_pane_is_dead(repo, tmp_path, tmux_dir):
    env = clean_env(tmp_path, tmux_dir)
    made = tmux(env, "new-session", "-d", "-s", "deepclean-d", "sleep 300")
    assert made.returncode == 0, made.stderr
    tmux(env, "set-option", "-t", "=deepclean-d:", "remain-on-exit", "on")
    tmux(env, "split-window", "-d", "-t", "=deepclean-d:", "exit 2")
    # tmux marks a pane dead a moment before it records the exit status,
    # and tmux 3.3a at times never records it (1 run in 2 here, when the
    # server was started from Python): both are said
    dead = "#{pane_dead}:#{pane_dead_status}"
    panes = ("list-panes", "-s", "-t", "=deepclean-d", "-F", dead)
    wait_for(
        lambda: "1:" in tmux(env, *panes).stdout,
        "a pane to die",
        10.0,
    )
    time.sleep(0.5)  # its status, where tmux records it
    done = run_sh(repo, env, "d", "status")
    assert done.returncode == 4, done.stdout + done.stderr
    shown = re.search(r"DEAD \(status ([^)]*)\)", done.stdout)
    assert shown is not None, done.stdout
    assert shown[1] in ("2", "not recorded")


# -- the .env files -------------------------------------------------------
def render(repo: Path, env: dict, name: str = "h1"):
    done = run_sh(repo, env, name, "render")
    return done, done.stdout


def test_env_files_are_read_as_documented(repo, tmp_path):
    """Windows line ends, ``export``, blanks around the line, the ``=`` and
    the value, comments; quotes kept as they are; .env.NAME uses a value of
    .env; the caller's variables override both."""
    (repo / ".env").write_bytes(
        b"# site settings\r\n"
        b"\r\n"
        b"  export PROJECT_DIR = ${HOME}/runs/${PROJECT}   # per run\r\n"
        b"IFO=L1\r\n"
        b"ARCHIVE_DIR='/cold #1'  # quoted: the # is kept\r\n"
    )
    (repo / ".env.h1").write_text(
        "IFO=H1\nDATA_DIR=${PROJECT_DIR}/data\nDEEPCLEAN_PORT_BASE=18000\n"
    )
    done, out = render(repo, clean_env(tmp_path))
    assert done.returncode == 0, out + done.stderr
    runs = tmp_path / "runs" / "h1"
    assert line_of(out, "folders:") == (
        f"folders: PROJECT_DIR={runs} DATA_DIR={runs}/data "
        "ARCHIVE_DIR=/cold #1"
    )
    assert "IFO=H1" in line_of(out, "run h1:")
    assert "witnesses: 21" in out
    assert "ports: triton http 18000 grpc 18001" in out
    # the caller's variables win over both files
    done, out = render(repo, clean_env(tmp_path, IFO="L1", DATA_DIR="/d"))
    assert done.returncode == 0, out + done.stderr
    assert "IFO=L1" in line_of(out, "run h1:")
    assert "witnesses: 18" in out
    assert " DATA_DIR=/d " in line_of(out, "folders:")


@pytest.mark.parametrize(
    "line, why",
    [
        ("IFO H1", "not NAME=VALUE"),
        ("[site]", "not NAME=VALUE"),
        ("9IFO=H1", "not NAME=VALUE"),
        ('IFO="H1', 'a value opened with " must end with "'),
        ("ROOT=/elsewhere", "ROOT is a variable of run.sh"),
    ],
)
def test_a_bad_env_line_is_refused_with_its_place(repo, tmp_path, line, why):
    (repo / ".env").write_text(f"# site\nIFO=L1\n{line}\n")
    done, out = render(repo, clean_env(tmp_path))
    assert done.returncode == 1, out
    assert f"run.sh: ERROR: {repo}/.env:3: " in done.stderr
    assert why in done.stderr


# -- the frame source ----------------------------------------------------
@pytest.mark.parametrize(
    "data, source, simulated",
    [
        ("project/data", "", True),  # the default layout: its own folder
        ("shm", "", False),  # a site's shared memory: never by default
        ("shm", "auto", False),
        ("shm", "simulate", True),
        ("project/data", "live", False),
    ],
)
def test_frames_are_simulated_only_into_the_run_s_own_folder(
    repo, tmp_path, data, source, simulated
):
    """DATA_DIR without frames: run.sh simulates into it only where it is
    inside PROJECT_DIR, or DEEPCLEAN_SOURCE says so (found by review: a
    site's /dev/shm, empty for a moment at start, got simulated frames at
    the real GPS time, which every other reader took for data)."""
    env = clean_env(
        tmp_path,
        PROJECT_DIR=str(tmp_path / "project"),
        DATA_DIR=str(tmp_path / data),
        DEEPCLEAN_SOURCE=source,
    )
    done, out = render(repo, env)
    assert done.returncode == 0, out + done.stderr
    frames = line_of(out, "frames:")
    assert frames.startswith("frames: embedded frame source") is simulated
    if not simulated:
        assert "the services wait for the live source" in frames


def test_an_unknown_frame_source_is_refused(repo, tmp_path):
    done, out = render(repo, clean_env(tmp_path, DEEPCLEAN_SOURCE="sim"))
    assert done.returncode == 1, out
    assert "DEEPCLEAN_SOURCE='sim': auto, simulate or live" in done.stderr


# -- build.sh --------------------------------------------------------------


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs flock")
def test_one_build_of_an_environment_at_a_time():
    """While another build holds an environment's lock (two starts at
    once: both ran pip on the same environment), build.sh waits for it,
    bounded, and says which lock it waited for."""
    lock = ROOT / ".venv" / "cleaner.lock"
    with holding(lock):
        done = subprocess.run(
            [str(ROOT / "build.sh"), "cleaner"],
            env={**os.environ, "DEEPCLEAN_BUILD_LOCK_TIMEOUT": "1"},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"another build of cleaner holds {lock} (waited 1s)" in done.stderr
    again = subprocess.run(
        [str(ROOT / "build.sh"), "cleaner"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert again.returncode == 0 and "up to date" in again.stdout


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs flock")
def test_an_environment_in_use_is_not_rebuilt(tmp_path):
    """A start of another run (or ./test.sh) after an edit of a
    pyproject.toml ran pip over the environment of a running run's
    services. While a run's supervise.sh holds .venv/NAME.inuse, build.sh
    stops with an error naming the environment instead of rebuilding it.
    (A copy of build.sh in a bare folder whose cleaner environment is
    stale: it would run pip past the check; the lock holder stands in for
    supervise.sh, whose holding the next test shows.)"""
    shutil.copy(ROOT / "build.sh", tmp_path / "build.sh")
    for part in ("libs/utils", "projects/cleaner"):
        (tmp_path / part).mkdir(parents=True)
        (tmp_path / part / "pyproject.toml").write_text("[project]\n")
    venv = tmp_path / ".venv"
    (venv / "cleaner").mkdir(parents=True)
    (venv / "cleaner" / ".built").write_text("an older fingerprint\n")
    with holding(venv / "cleaner.inuse", "-s"):
        done = subprocess.run(
            [str(tmp_path / "build.sh"), "cleaner"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the cleaner environment is in use and its inputs changed" in (
        done.stderr
    )
    assert "building" not in done.stdout
    assert not (venv / "cleaner" / "bin").exists()  # pip never ran


# -- supervise.sh --------------------------------------------------------
def supervise(tmp_path: Path, script: str, **env):
    """supervise.sh svc bash -c SCRIPT, bounded; (exit status, its log)."""
    done = subprocess.run(
        [str(SUPERVISE), "svc", "bash", "-c", script],
        cwd=tmp_path,
        env=dict(os.environ, PROJECT_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode, (tmp_path / "logs" / "supervisor.log").read_text()


def console_holds(tmp_path: Path, text: str, count: int = 1) -> str:
    """The console file once it holds ``text`` ``count`` times (the tee
    writing it may finish just after the service)."""
    console = tmp_path / "logs" / "svc.console"

    def held() -> str | None:
        content = console.read_text() if console.exists() else ""
        return content if content.count(text) >= count else None

    return wait_for(held, f"{count} x {text!r} in {console}", 5.0, 0.05)


def test_supervisor_does_not_restart_what_cannot_start(tmp_path):
    """Exit status 2 (the services' "cannot start": bad settings) is final:
    the same settings would fail again. The reason is kept."""
    rc, log = supervise(
        tmp_path,
        'echo "svc: cannot start: port=x is not a port" >&2; exit 2',
        SUPERVISE_MAX_CRASHES="3",
    )
    assert rc == 2, log
    assert log.count("starting:") == 1, log
    assert "not restarting" in log and "logs/svc.console" in log, log
    assert "svc.log" not in log, log  # it wrote none
    console = console_holds(tmp_path, "cannot start")
    assert "svc: cannot start: port=x is not a port" in console


def test_the_console_is_moved_aside_as_it_grows(tmp_path):
    """A service that runs for weeks must not fill the disk with its
    terminal output: the console is moved to ``.console.1`` whenever it
    passes SUPERVISE_CONSOLE_MAX bytes, within one run of the service, and
    nothing is lost across the move."""
    limit, lines, pad = 1000, 120, "x" * 40
    script = (
        f"for i in $(seq {lines}); do printf 'line %04d {pad}\\n' $i; done"
    )
    rc, log = supervise(tmp_path, script, SUPERVISE_CONSOLE_MAX=str(limit))
    assert rc == 0, log
    console = tmp_path / "logs" / "svc.console"
    held = console_holds(tmp_path, f"line {lines:04d}")
    older = (tmp_path / "logs" / "svc.console.1").read_text()
    longest = len(f"line 0001 {pad}\n")
    assert console.stat().st_size <= limit + longest
    assert len(older) <= limit + longest
    # the two files hold the newest lines, in order, none lost between them
    numbers = [
        int(line.split()[1])
        for line in (older + held).splitlines()
        if line.startswith("line ")
    ]
    assert numbers == list(range(numbers[0], lines + 1)), numbers
    assert numbers[0] > 1  # older lines went with earlier moves


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs flock")
def test_the_supervisor_holds_its_environment_in_use(tmp_path):
    """With SUPERVISE_ENV (run.sh sets it to the service's .venv/NAME),
    the service runs while supervise.sh holds NAME.inuse shared: build.sh's
    exclusive try fails until the supervisor and the service are gone."""
    inuse = tmp_path / "cleaner.inuse"
    script = f"if flock -n {inuse} true; then echo free; else echo held; fi"
    rc, log = supervise(
        tmp_path, script, SUPERVISE_ENV=str(tmp_path / "cleaner")
    )
    assert rc == 0, log
    assert "held" in console_holds(tmp_path, "held")
    assert is_free(inuse)  # released with them


def test_the_supervisor_log_is_moved_aside_as_it_grows(tmp_path):
    """supervisor.log gains a line at each start and exit, for weeks: it is
    moved to supervisor.log.1 once it passes SUPERVISE_CONSOLE_MAX."""
    logs = tmp_path / "logs"
    logs.mkdir()
    old = "an old line\n" * 100
    (logs / "supervisor.log").write_text(old)
    rc, log = supervise(
        tmp_path, "exit 0", SUPERVISE_CONSOLE_MAX=str(len(old) // 2)
    )
    assert rc == 0, log
    older = (logs / "supervisor.log.1").read_text()
    assert older.startswith(old) and "svc: starting: bash" in older
    assert "svc: exited cleanly" in log and "an old line" not in log


def test_supervisor_gives_up_naming_the_files_that_exist(tmp_path):
    """Other crashes are restarted (bounded); the give-up message names the
    console file, and the service's log only where it wrote one (Triton's
    serve.sh writes none)."""
    script = "echo boom >&2; exit 1"
    rc, log = supervise(tmp_path, script, SUPERVISE_MAX_CRASHES="2")
    assert rc == 1, log
    assert log.count("restarting in 1s") == 1, log
    assert "giving up — see logs/svc.console\n" in log, log
    assert console_holds(tmp_path, "boom", 2).count("boom") == 2
    (tmp_path / "logs" / "svc.log").write_text("")
    rc, log = supervise(tmp_path, script, SUPERVISE_MAX_CRASHES="2")
    assert rc == 1, log
    assert "see logs/svc.console and logs/svc.log\n" in log, log
