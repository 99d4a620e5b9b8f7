"""Test helpers: cleaned frames made from simulated data, a real HTTP
stand-in for the exporter, and the monitor's settings from the root
``pyproject.toml`` with small windows.

The cleaner is another service; these tests write its output contract
(``utils.channels.OutputChannels``) themselves from the simulator: RAW is
the simulated strain decimated to 4096 Hz; a *good* canary removes most of
the band-passed coupled noise (the truth); a *harmful* canary adds in-band
noise to RAW.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.signal import resample_poly

from monitor.config import MonitorConfig
from monitor.config import MonitorSettings
from utils import settings_checks
from utils.channels import STRAIN_RATE
from utils.channels import OutputChannels
from utils.channels import State
from utils.gwf import write_frame
from utils.names import cleaned_name
from utils.signal import bandpass
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.testing import free_port
from utils.waiting import wait_for

IFO = "L1"
GPS0 = 1_400_000_000  # a multiple of every archive_length used here
TOKEN = "test-token"
GOOD_STATE = State.INPUT_OK | State.CANARY_OK | State.ANALYSIS_READY
SIM_RATE = 16384  # Hz, the simulator's strain
REMOVED = 0.9  # fraction of the band-passed truth a good canary removes
PRODUCTION_REMOVED = 0.95  # and a production model (version > 0)


class FrameSource:
    """Writes cleaned frames (the cleaner's output) into a carousel.

    Args:
        carousel: the carousel folder.
        seed: simulation seed.
    """

    def __init__(self, carousel: Path, seed: int = 0) -> None:
        self.carousel = Path(carousel)
        self.carousel.mkdir(parents=True, exist_ok=True)
        self.sim = Simulator(SimulationConfig(ifo=IFO, seed=seed))
        self.channels = OutputChannels(IFO)
        self.rng = np.random.default_rng(seed + 100)

    def stretch(self, gps: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """RAW and band-passed truth of ``[gps, gps+n)`` at 4096 Hz
        (decimated and filtered in one piece: no per-second edges)."""
        seconds = [self.sim.second(g) for g in range(gps, gps + n)]
        strain = np.concatenate([s.strain for s in seconds])
        truth = np.concatenate([s.truth for s in seconds])
        down = SIM_RATE // STRAIN_RATE
        raw = resample_poly(strain, 1, down)
        truth = bandpass(
            resample_poly(truth, 1, down), 58.0, 62.0, STRAIN_RATE
        )
        return raw, truth

    def write(
        self,
        gps: int,
        n: int,
        canary: str | float = "good",
        canary_version: int = 2,
        production_version: int = 0,
        production: float = PRODUCTION_REMOVED,
        state: int = int(GOOD_STATE),
        skip: tuple[int, ...] = (),
        folder: Path | None = None,
    ) -> list[Path]:
        """Write frames ``[gps, gps+n)`` (except ``skip``).

        Args:
            canary: ``good``, ``harmful``, ``none`` (CANARY = RAW), or
                the fraction of the band-passed truth it removes (a
                float; production removes :data:`PRODUCTION_REMOVED`).
            canary_version, production_version: the frames' tags.
            production: the fraction of the band-passed truth PRODUCTION
                removes when ``production_version`` is not 0.
            state: DeepClean state-vector value of every sample.
            skip: GPS seconds not written (missing from the carousel).
            folder: where to write (default: the carousel).
        """
        raw, truth = self.stretch(gps, n)
        if isinstance(canary, float):
            cleaned = raw - canary * truth
        elif canary == "good":
            cleaned = raw - REMOVED * truth
        elif canary == "harmful":
            noise = bandpass(
                self.rng.standard_normal(raw.size), 58.0, 62.0, STRAIN_RATE
            )
            cleaned = raw + noise * (2 * np.std(truth) / np.std(noise))
        else:
            cleaned = raw.copy()
        removed = production
        production = raw - removed * truth if production_version else raw
        paths = []
        for i in range(n):
            g = gps + i
            if g in skip:
                continue
            part = slice(i * STRAIN_RATE, (i + 1) * STRAIN_RATE)
            paths.append(
                self.write_one(
                    g,
                    raw[part],
                    cleaned[part],
                    production[part],
                    state,
                    production_version,
                    canary_version,
                    folder,
                )
            )
        return paths

    def write_one(
        self,
        gps: int,
        raw: np.ndarray,
        canary: np.ndarray,
        production: np.ndarray,
        state: int,
        production_version: int,
        canary_version: int,
        folder: Path | None = None,
    ) -> Path:
        """Write one cleaned frame atomically."""
        c = self.channels
        out_dq = production if state & State.OUT_DQ_ON else raw
        data = {
            c.out_dq: out_dq,
            c.production: production,
            c.canary: canary,
            c.raw: raw,
            c.state: np.full(16, state, np.int32),
            c.production_version: np.array([production_version], np.int32),
            c.canary_version: np.array([canary_version], np.int32),
        }
        folder = Path(folder or self.carousel)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / cleaned_name(IFO, gps)
        return write_frame(path, data, gps, c.sample_rates)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out (the hung-exporter test) hung up


class FakeExporter:
    """The exporter's HTTP API, served for real on 127.0.0.1 (the
    monitor's neighbour, not the thing under test): ``GET /versions`` and
    ``POST /production`` with bearer-token auth; records promotions."""

    def __init__(self, versions: tuple[int, ...] = (1, 2, 3, 4)) -> None:
        self.known = {
            v: {
                "version": v,
                "gps_start": GPS0 - 2000 + 100 * v,
                "gps_stop": GPS0 - 1000 + 100 * v,
                "exported_at": time.time(),
                "backend": "onnx",
            }
            for v in versions
        }
        self.production: int | None = None
        self.canary: int | None = max(versions) if versions else None
        self.promotions: list[int] = []
        self.reasons: list[str | None] = []  # of each promotion
        self.requests: list[tuple[str, str]] = []
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None
        self.delay = 0.0  # s before answering a POST (a hung exporter)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeExporter":
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                exporter.requests.append(("GET", self.path))
                if self.path != "/versions":
                    return self._reply(404, {"error": "not found"})
                self._reply(
                    200,
                    {
                        "versions": list(exporter.known.values()),
                        "production": exporter.production,
                        "canary": exporter.canary,
                    },
                )

            def do_POST(self) -> None:
                exporter.requests.append(("POST", self.path))
                time.sleep(exporter.delay)
                auth = self.headers.get("Authorization", "")
                if auth != f"Bearer {TOKEN}":
                    return self._reply(401, {"error": "unauthorized"})
                size = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(size))
                version = body["version"]
                if version not in exporter.known:
                    return self._reply(404, {"error": "unknown version"})
                exporter.production = version
                exporter.promotions.append(version)
                exporter.reasons.append(body.get("reason"))
                self._reply(200, {"production": version})

        self.server = _QuietServer(("127.0.0.1", self.port), Handler)
        threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


# what run.sh exports; the folders are replaced by each test that uses them
ENVIRON = {**settings_checks.ENVIRON, "ARCHIVE_DIR": "/nonexistent/archive"}
PYPROJECT = settings_checks.PYPROJECT
# small windows, short waits and no servers, for tests that tick by hand
SMALL = {
    "window_length": 10,
    "settle_length": 0,  # test_validation.py settles a canary on purpose
    "archive_length": 10,
    "poll_interval": 0.05,
    "missing_timeout": 0.3,
    "metrics_port": 0,
    "promotion_timeout": 2.0,
    "promotion_retry_min_interval": 0.1,
    "promotion_retry_max_interval": 0.2,
    "archive_retry_interval": 0.2,
    "status_interval": 1e6,
    "health_timeout": 2e6,  # > status_interval
    "status_port": 0,
    "history_length": 600,
    "psd_length": 40,
}


# ``load_settings(section="monitor", *flags, path=PYPROJECT, **values)``
load_settings = settings_checks.settings_loader(
    MonitorSettings, "monitor", ENVIRON
)


def make_config(root: Path, exporter_url: str, **parts: dict) -> MonitorConfig:
    """The root ``[monitor]`` on ``root`` with :data:`SMALL` values;
    ``parts`` override fields per component, e.g.
    ``validation={"window_length": 20}``."""
    root = Path(root)
    settings = load_settings(
        project_dir=root,
        archive_dir=root / "archive",
        exporter_url=exporter_url,
        **SMALL,
    )
    config = settings.monitor_config(TOKEN)
    # prune to the bound exactly, so that tests can count frames
    config = replace(config, carousel=replace(config.carousel, headroom=0))
    for name, fields in parts.items():
        config = replace(
            config, **{name: replace(getattr(config, name), **fields)}
        )
    return config


def released(monitor, staged: list[Path], carousel: Path) -> Iterator[Path]:
    """Move ``staged`` frames into the carousel one at a time (atomically,
    as the cleaner would), ticking ``monitor`` after each; yields each
    frame after its tick."""
    for path in staged:
        os.replace(path, carousel / path.name)
        monitor.tick()
        yield path


def tick_until(
    monitor, done, what: str = "the condition", timeout: float = 10.0
) -> None:
    """Tick ``monitor`` until ``done()`` (bounded: ``TimeoutError``)."""

    def ticked() -> bool:
        if done():
            return True
        monitor.tick()
        return False

    wait_for(ticked, what, timeout, interval=0.05)
