"""Helpers of the test suites (every environment installs ``utils``, so
each suite imports them from here rather than writing its own): free ports,
raw HTTP for hostile clients, idle connections, a service's log file, the
console scripts of the environment, lock files held as ``build.sh`` and
``scripts/supervise.sh`` hold them, and the CPU ``tritonserver`` of
``triton-server/serve.sh``."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from scipy.signal import resample_poly

from utils.logging import configure_logging
from utils.waiting import wait_for

# the repository (build.sh installs utils editable from libs/utils)
REPO_ROOT = Path(__file__).resolve().parents[3]
TRITON_SERVE = REPO_ROOT / "triton-server" / "serve.sh"
LOCALHOST = "127.0.0.1"
RECV_SIZE = 65536  # bytes read from a socket at a time
SCRIPT_TIMEOUT = 60.0  # s for a console script that must exit at once
KILL_TIMEOUT = 10.0  # s for a killed process to be reaped


_HANDED_OUT: set[int] = set()  # ports free_port gave this process


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nobody listens on right now and that
    this process has not been given before (the kernel may offer a port
    again once its probe socket is closed: two services of one test run
    were once given the same port). Another process may still take it
    before the caller binds it."""
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind((LOCALHOST, 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no TCP port left that was not handed out before")


def metric_value(metric: Any, *labels: str) -> float:
    """The value of a ``prometheus_client`` counter or gauge (the child of
    these label values, in the order of its label names; a child never
    touched reads 0), read through its public ``collect()`` as a scrape
    would."""
    if labels:
        metric.labels(*labels)  # the child, 0 if new; wrong labels raise
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            if tuple(sample.labels.values()) == labels:
                return sample.value
    raise KeyError(f"no sample with labels {labels}")


def raw_get(
    port: int, target: bytes, timeout: float = 5.0, host: str = LOCALHOST
) -> bytes:
    """The whole response of ``host:port`` to ``GET target``, the target
    sent as raw bytes (control characters, odd encodings); ``b""`` if the
    server closed without an answer."""
    with socket.create_connection((host, port), timeout) as sock:
        sock.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(RECV_SIZE):
            data += chunk
    return data


def status_line(response: bytes) -> bytes:
    """The first line of a raw HTTP ``response`` (``b""`` for none)."""
    return response.split(b"\r\n", 1)[0]


def still_open(sock: socket.socket) -> bool:
    """The peer has not closed ``sock`` (nothing to read, no EOF)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True


def ensure_open_files(count: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE to ``count`` (at most the
    hard limit) if it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(count, hard), hard))


@contextlib.contextmanager
def idle_connections(
    port: int, count: int, timeout: float = 5.0
) -> Iterator[list[socket.socket]]:
    """``count`` connections to 127.0.0.1:``port`` that send nothing,
    each opened within ``timeout`` s; all closed at the end."""
    idle: list[socket.socket] = []
    try:
        for _ in range(count):
            idle.append(socket.create_connection((LOCALHOST, port), timeout))
        yield idle
    finally:
        for sock in idle:
            sock.close()


@contextlib.contextmanager
def restored_logging() -> Iterator[None]:
    """The root logger's handlers and level as they were, at the end (a
    test configures logging as a service's ``main`` does)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


@contextlib.contextmanager
def logging_to(service: str, log_dir: Path) -> Iterator[Path]:
    """``configure_logging(service, log_dir, verbose=True)`` as a service's
    ``main`` calls it; yields the log file; the root logger is restored at
    the end (:func:`restored_logging`)."""
    with restored_logging():
        yield configure_logging(service, log_dir, verbose=True)


def script_path(prog: str) -> Path:
    """The console script ``prog`` of this environment."""
    return Path(sys.executable).with_name(prog)


def run_script(
    prog: str, *args: str, timeout: float = SCRIPT_TIMEOUT, **run: Any
) -> subprocess.CompletedProcess:
    """Run the console script ``prog`` with ``args`` (``run``: more
    arguments of :func:`subprocess.run`, e.g. ``env``, ``cwd``), its output
    captured as text, bounded by ``timeout`` s."""
    return subprocess.run(
        [str(script_path(prog)), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **run,
    )


@contextlib.contextmanager
def running_script(
    prog: str, *args: str, **popen: Any
) -> Iterator[subprocess.Popen]:
    """The console script ``prog`` started with ``args`` (``popen``: more
    arguments of :class:`subprocess.Popen`); killed and reaped at the end
    if it still runs."""
    process = subprocess.Popen([str(script_path(prog)), *args], **popen)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=KILL_TIMEOUT)


def is_free(lock: Path) -> bool:
    """Whether ``lock`` could be taken alone now (what build.sh tries),
    asked of the ``flock`` command in another process."""
    done = subprocess.run(["flock", "-n", str(lock), "true"], check=False)
    return done.returncode == 0


@contextlib.contextmanager
def holding(lock: Path, *flags: str) -> Iterator[None]:
    """``lock`` held by a ``flock`` process (a build, ``-s``: a running
    run's supervise.sh) for the duration of the block."""
    holder = subprocess.Popen(
        ["flock", *flags, str(lock), "sleep", "30"], start_new_session=True
    )
    try:
        wait_for(lambda: not is_free(lock), f"{lock} held", 10.0)
        yield
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # flock and the sleep
        holder.wait(timeout=KILL_TIMEOUT)


def service_environ(tmp_path: Path, **more: str) -> dict[str, str]:
    """This process's environment with what run.sh exports: ``IFO=L1``,
    ``PROJECT_DIR`` and ``DATA_DIR`` in ``tmp_path``, and ``more``."""
    return {
        **os.environ,
        "IFO": "L1",
        "PROJECT_DIR": str(tmp_path / "project"),
        "DATA_DIR": str(tmp_path / "data"),
        **more,
    }


def start_tritonserver(
    repo: Path, log: Path, ports: tuple[int, int, int], *args: str
) -> subprocess.Popen:
    """Start :data:`TRITON_SERVE` over the model repository ``repo``.

    Args:
        repo: the model repository.
        log: file the server's output is appended to.
        ports: its HTTP, gRPC and metrics ports.
        args: more arguments of ``tritonserver`` (``--load NAME``).

    Returns:
        The process, in a session of its own: signal its group to stop it
        with its python-backend stubs.
    """
    http_port, grpc_port, metrics_port = ports
    command = [
        str(TRITON_SERVE),
        str(repo),
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        "--metrics-port",
        str(metrics_port),
        *args,
    ]
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def simulated_stretch(
    sim: object, gps: int, duration: int, rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(strain, witness, truth)`` of ``[gps, gps + duration)`` at
    ``rate`` Hz, straight from a :class:`utils.simulation.Simulator`
    (independent of the services' preprocessing)."""
    seconds = [sim.second(gps + i) for i in range(duration)]
    witness = np.stack(
        [
            resample_poly(
                np.concatenate([s.witnesses[n].data for s in seconds]),
                rate,
                sim.config.sample_rate(n),
            )
            for n in sim.config.witness_channels
        ]
    )
    strain, truth = (
        resample_poly(
            np.concatenate([getattr(s, name) for s in seconds]),
            rate,
            sim.config.strain_rate,
        )
        for name in ("strain", "truth")
    )
    return strain, witness, truth
