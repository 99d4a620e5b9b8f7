"""Simulated data for the cleaner tests: frames, the fitted regression
model, a background frame writer, and the physics measures."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleaner.prediction import Prediction
from utils.signal import bandpass
from utils.simulation import Fault
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.testing import simulated_stretch

sys.path.insert(0, str(Path(__file__).parent / "regression_model"))
import regression

IFO = "L1"
GPS = 1_400_000_000
RATE = 4096  # Hz
BAND = (58.0, 62.0)  # Hz
FIT_LENGTH = 32  # s of simulated data the regression is fitted on
EDGE_LENGTH = 0.125  # s the test model fades at each window end
CANARY_GAIN = 0.5  # the canary predicts half the noise


def simulation_config(seed: int = 0) -> SimulationConfig:
    return SimulationConfig(ifo=IFO, seed=seed)


def resampled(sim: Simulator, gps: int, duration: int) -> tuple:
    """``(strain, witness, truth)`` of a stretch at 4096 Hz, straight from
    the simulator (independent of the cleaner's preprocessing)."""
    return simulated_stretch(sim, gps, duration, RATE)


def fit_coefficients(sim: Simulator, gps: int) -> np.ndarray:
    """Least-squares coefficients of in-band strain on in-band features,
    over ``FIT_LENGTH`` s from ``gps`` (4 s cut at each end)."""
    strain, witness, _ = resampled(sim, gps, FIT_LENGTH)
    x = bandpass(regression.features(witness), *BAND, RATE)
    y = bandpass(strain, *BAND, RATE)
    keep = slice(4 * RATE, -4 * RATE)
    coefficients, *_ = np.linalg.lstsq(x[:, keep].T, y[keep], rcond=None)
    return coefficients


@dataclass
class LocalModel:
    """The regression model in-process, with the pipeline's outputs."""

    coefficients: np.ndarray
    production_version: int = 1
    canary_version: int = 2
    canary_gain: float = CANARY_GAIN
    edge_length: float = EDGE_LENGTH

    def __call__(self, witness: np.ndarray) -> Prediction:
        noise = regression.predict(
            self.coefficients, witness, round(self.edge_length * RATE)
        ).astype(np.float32)
        return Prediction(
            noise.astype(np.float64) * (self.production_version > 0),
            (self.canary_gain * noise).astype(np.float64)
            * (self.canary_version > 0),
            self.production_version,
            self.canary_version,
        )


class Feeder:
    """Writes simulated frames in a thread, ``speed`` seconds of data per
    wall second (after ``prefill`` seconds written at once)."""

    def __init__(
        self,
        sim: Simulator,
        data_dir: Path,
        gps: int,
        duration: int,
        speed: float,
        faults: dict[int, Fault] | None = None,
        prefill: int = 0,
    ) -> None:
        self.sim, self.data_dir = sim, Path(data_dir)
        self.gps, self.duration, self.speed = gps, duration, speed
        self.faults = faults or {}
        self.stop = threading.Event()
        for second in range(gps, gps + prefill):
            sim.write(second, self.data_dir, self.faults.get(second))
        self._next = gps + prefill
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Feeder:
        self.thread.start()
        return self

    def _run(self) -> None:
        start = time.monotonic()
        first = self._next
        for second in range(first, self.gps + self.duration):
            due = start + (second - first) / self.speed
            while not self.stop.is_set() and time.monotonic() < due:
                time.sleep(0.01)
            if self.stop.is_set():
                return
            self.sim.write(second, self.data_dir, self.faults.get(second))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
