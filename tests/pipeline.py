"""Drive a whole DeepClean run from outside, as an operator would.

:class:`Pipeline` writes a copy of the root configuration with free ports and
the overrides a test asks for, starts ``./run.sh NAME`` headless (tmux, the
real tritonserver, the Flask exporter over HTTP, real GWF files), and offers
bounded waits on what the services produce. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import requests
import tomli_w

from utils.channels import OutputChannels
from utils.config import section_values
from utils.follower import list_gps
from utils.gwf import read_frame
from utils.testing import free_port
from utils.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]


def wait_until(
    predicate: Callable[[], Any], what: str, timeout: float, interval=1.0
) -> Any:
    """:func:`utils.waiting.wait_for` of a truthy ``predicate`` that may
    fail while the pipeline starts or restarts (a connection refused, a
    half-written file): such a failure counts as "not yet"."""

    def poll() -> Any:
        try:
            return predicate() or None
        except (OSError, ValueError, requests.RequestException):
            return None

    return wait_for(poll, what, timeout, interval)


class Pipeline:
    """One run of ``run.sh`` in a temporary project directory."""

    def __init__(
        self,
        tmp: Path,
        overrides: dict[str, dict[str, Any]],
        name: str | None = None,
        carousel_tmpfs_size: int = 0,
        scene: str = "",
    ) -> None:
        """Args:
        tmp: empty folder for the project, the data and the config.
        overrides: section -> values replacing the root configuration.
        name: run name (default: unique).
        scene: DEEPCLEAN_SCENE of the run ("": the default simulator).
        carousel_tmpfs_size: MiB; > 0 mounts a tmpfs of that size on
            the carousel folder before the start (so that a full disk
            can be made without filling the machine's); needs
            ``mount`` rights, else the carousel is a plain folder and
            :attr:`mount_error` says why.
        """
        self.name = name or f"test-{os.getpid()}-{int(time.time())}"
        self.scene = scene
        self.project_dir = tmp / "project"
        self.data_dir = tmp / "data"
        self.ifo = "L1"
        self.token = "test-token-" + os.urandom(8).hex()
        self.ports = {
            k: free_port()
            for k in (
                "triton_http",
                "triton_grpc",
                "triton_metrics",
                "exporter",
                "status",
            )
        }
        self.config = tmp / "pyproject.toml"
        self._write_config(overrides)
        self.exporter_url = f"http://127.0.0.1:{self.ports['exporter']}"
        self.status_url = f"http://127.0.0.1:{self.ports['status']}"
        self.channels = OutputChannels(self.ifo)
        self.carousel_tmpfs_size = carousel_tmpfs_size
        self.carousel_mounted = False
        self.mount_error = "no tmpfs was asked for"
        self.run_sh_output = ""  # stdout + stderr of every run.sh call

    # -- configuration ----------------------------------------------------
    def _write_config(self, overrides: dict[str, dict[str, Any]]) -> None:
        with open(ROOT / "pyproject.toml", "rb") as f:
            config = tomllib.load(f)
        typeo = config["tool"]["typeo"]
        p = self.ports
        typeo["base"].update(
            exporter_url=f"http://127.0.0.1:{p['exporter']}",
            triton_grpc_url=f"127.0.0.1:{p['triton_grpc']}",
            triton_http_url=f"127.0.0.1:{p['triton_http']}",
            triton_metrics_port=p["triton_metrics"],
            status_port=p["status"],
            status_url=f"http://127.0.0.1:{p['status']}",
        )
        # services that listen take their port from their own section;
        # metrics on free ports too, so runs can coexist
        typeo["scripts"]["exporter"]["port"] = p["exporter"]
        for service in ("trainer", "exporter", "cleaner", "monitor", "replay"):
            typeo["scripts"][service]["metrics_port"] = free_port()
        for section, values in overrides.items():
            table = (
                typeo["base"]
                if section == "base"
                else (typeo["scripts"][section])
            )
            table.update(values)
        self.config.write_text(tomli_w.dumps(config))
        self._typeo = typeo

    def setting(self, section: str, key: str) -> Any:
        """A value of the written configuration, with ``${base.x}`` and
        ``${IFO}`` resolved as typeo and run.sh would (``section`` is
        ``base`` or a script section)."""
        if section != "base":  # as the service reads it
            return section_values(self.config, section, self.env)[key]
        value = self._typeo["base"][key]
        if isinstance(value, str):
            ref = re.fullmatch(r"\$\{base\.(\w+)\}", value)
            if ref is not None:
                value = self._typeo["base"][ref[1]]
        if isinstance(value, str):
            return value.replace("${IFO}", self.ifo)
        if isinstance(value, list):
            return [
                v.replace("${IFO}", self.ifo) if isinstance(v, str) else v
                for v in value
            ]
        return value

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PROJECT_DIR=str(self.project_dir),
            DATA_DIR=str(self.data_dir),
            IFO=self.ifo,
            DEEPCLEAN_API_TOKEN=self.token,
            DEEPCLEAN_CONFIG=str(self.config),
            DEEPCLEAN_PROFILE="",
            DEEPCLEAN_SCENE=self.scene,
            DEEPCLEAN_SOURCE="simulate",  # its data folder is its own
            ARCHIVE_DIR=str(self.project_dir / "archive"),
            CI="true",
        )
        return env

    # -- lifecycle --------------------------------------------------------
    def run_sh(self, *args: str, timeout: float = 600) -> str:
        proc = subprocess.run(
            [str(ROOT / "run.sh"), self.name, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.run_sh_output += proc.stdout + proc.stderr
        if proc.returncode not in (0, 3):
            raise RuntimeError(
                f"run.sh {args} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}\n{self.logs_tail()}"
            )
        return proc.stdout

    def start(self) -> None:
        if self.carousel_tmpfs_size > 0:
            self._mount_carousel()
        self.run_sh("start")

    def stop(self) -> None:
        try:
            self.run_sh("stop", timeout=120)
        finally:
            subprocess.run(
                ["tmux", "kill-session", "-t", f"deepclean-{self.name}"],
                capture_output=True,
            )
            if self.carousel_mounted:
                subprocess.run(
                    ["umount", "-l", str(self.carousel)], capture_output=True
                )
                self.carousel_mounted = False

    def _mount_carousel(self) -> None:
        self.carousel.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={self.carousel_tmpfs_size}m,mode=0755",
                "tmpfs",
                str(self.carousel),
            ],
            capture_output=True,
            text=True,
        )
        self.carousel_mounted = done.returncode == 0
        self.mount_error = f"mount -t tmpfs refused: {done.stderr.strip()}"

    def _panes(self, fmt: str) -> str:
        """One line per pane of the session, ``fmt`` a tmux format."""
        session = f"deepclean-{self.name}"
        return subprocess.run(
            ["tmux", "list-panes", "-s", "-t", session, "-F", fmt],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def pane_pid(self, service: str) -> int:
        """PID of the supervisor of ``service``'s pane."""
        for line in self._panes("#{pane_title} #{pane_pid}").splitlines():
            title, pid = line.rsplit(" ", 1)
            if title == service:
                return int(pid)
        raise KeyError(f"no pane {service}")

    def service_pid(self, service: str) -> int:
        """PID of the service process itself (child of its supervisor)."""
        sup = self.pane_pid(service)
        children = Path(f"/proc/{sup}/task/{sup}/children").read_text()
        pids = []
        for pid in map(int, children.split()):
            try:  # not the supervisor's back-off sleep
                if Path(f"/proc/{pid}/comm").read_text().strip() != "sleep":
                    pids.append(pid)
            except OSError:
                continue
        if not pids:
            raise ProcessLookupError(f"{service} is not running")
        return pids[0]

    def kill(self, service: str, sig: int = signal.SIGKILL) -> int:
        pid = self.service_pid(service)
        os.kill(pid, sig)
        return pid

    def process_tree(self, service: str) -> list[int]:
        """PIDs of ``service``'s supervisor and all its descendants."""
        pids, todo = [], [self.pane_pid(service)]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                tasks = Path(f"/proc/{pid}/task").iterdir()
                for task in tasks:
                    todo += [
                        int(c) for c in (task / "children").read_text().split()
                    ]
            except OSError:  # exited meanwhile
                continue
        return pids

    def services(self) -> list[str]:
        """Titles of the panes (the services run.sh started)."""
        return self._panes("#{pane_title}").split()

    def log_lines(self, service: str) -> list[str]:
        path = self.project_dir / "logs" / f"{service}.log"
        try:
            return path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def logs_tail(self, lines: int = 30) -> str:
        out = []
        for log in sorted((self.project_dir / "logs").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    # -- observations -----------------------------------------------------
    def versions(self) -> dict:
        r = requests.get(f"{self.exporter_url}/versions", timeout=5)
        r.raise_for_status()
        return r.json()

    @property
    def carousel(self) -> Path:
        return self.project_dir / "carousel"

    def carousel_gps(self) -> list[int]:
        return list_gps(self.carousel)

    def latencies(self, seconds: range | None = None) -> list[float]:
        """Latency of each frame of ``seconds`` (None: every one in the
        carousel) whose raw strain frame is still there: the cleaned
        file's mtime minus the raw strain file's (docs/architecture.md,
        "Latency and compute")."""
        from utils.names import cleaned_name
        from utils.names import strain_name

        raw = self.data_dir / "kafka" / self.ifo
        out = []
        for gps in self.carousel_gps() if seconds is None else seconds:
            cleaned = self.carousel / cleaned_name(self.ifo, gps)
            source = raw / strain_name(self.ifo, gps)
            if cleaned.exists() and source.exists():
                out.append(cleaned.stat().st_mtime - source.stat().st_mtime)
        return out

    def frame(self, gps: int) -> dict[str, np.ndarray]:
        from utils.names import cleaned_name

        path = self.carousel / cleaned_name(self.ifo, gps)
        return {k: v.data for k, v in read_frame(path).items()}

    def state(self) -> dict:
        path = self.project_dir / "monitor" / "state.json"
        return json.loads(path.read_text())
