"""Stored data for the reprocessing tests: simulated multi-second frames
listed by a LAL cache, and a model repository holding one ONNX version.

Frames: the project's simulator writes 1-s llhoft/lldetchar frames, which
are joined into ``FILE_LENGTH``-s archive-style files, as LIGO stores them:
the strain's of ``FRAME_LENGTH``-s frames each (as LIGO's writers make
them, e.g. 4096-s files of 4-s frames), the witnesses' of one frame
(``utils.gwf``); a cache file (``lal.utils.CacheEntry`` lines) lists them.

Model: a least-squares regression of in-band strain on the bilinear
features (mains, mains x ASC) of the witnesses, fitted on simulated data
outside the test span, written as a real ``model.onnx`` (the same tensor
names and layout the exporter writes: raw witnesses ``(n, C, size)`` in,
raw noise ``(n, size)`` out) run by ONNX Runtime. The DeepClean network
itself needs training (train-as-you-go); a fitted regression keeps these
tests to seconds while exercising the very same artefact path.
"""

from __future__ import annotations

import json
from pathlib import Path

import gwframe
import numpy as np
import onnx
from lal.utils import CacheEntry
from onnx import TensorProto
from onnx import helper

from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.names import FrameName
from utils.signal import bandpass
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.simwriter import strain_path
from utils.simwriter import witness_path
from utils.testing import simulated_stretch

IFO = "L1"
GPS = 1_400_000_000  # first simulated second (a multiple of FILE_LENGTH)
FILE_LENGTH = 32  # s per stored input file
FRAME_LENGTH = 4  # s per frame in a stored strain file
NUM_FILES = 3  # of each frame type: 96 s of data
END = GPS + NUM_FILES * FILE_LENGTH  # the stored data's end
RATE = 4096  # Hz, the model's
BAND = (58.0, 62.0)
FIT_GPS = GPS - 1000  # the regression's training data, outside the span
FIT_LENGTH = 32  # s
VERSION = 3
OPSET = 17


def simulator() -> Simulator:
    return Simulator(SimulationConfig(ifo=IFO, seed=0))


def write_archive(
    sim: Simulator, one_second_dir: Path, out_dir: Path, gps: int, num: int
) -> list[Path]:
    """Write ``num`` files of ``FILE_LENGTH`` s from ``gps`` per frame
    type: 1-s frames from the simulator, joined. Returns their paths."""
    duration = num * FILE_LENGTH
    sim.write_stretch(one_second_dir, gps, duration)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(gps, gps + duration, FILE_LENGTH):
        for kind, path_of in (
            ("llhoft", strain_path),
            ("lldetchar", witness_path),
        ):
            seconds = [
                read_frame(path_of(one_second_dir, IFO, g))
                for g in range(start, start + FILE_LENGTH)
            ]
            channels = {
                name: np.concatenate([s[name].data for s in seconds])
                for name in seconds[0]
            }
            rates = {name: seconds[0][name].sample_rate for name in channels}
            name = FrameName("L", f"{IFO}_{kind}", start, FILE_LENGTH)
            path = out_dir / name.filename
            if kind == "llhoft":
                write_frames(path, channels, start, rates, FRAME_LENGTH)
            else:
                write_frame(path, channels, start, rates)
            paths.append(path)
    return paths


def write_frames(
    path: Path,
    channels: dict[str, np.ndarray],
    gps: int,
    rates: dict[str, float],
    length: int,
) -> None:
    """One file of consecutive ``length``-s frames holding ``channels``
    from ``gps`` (gwframe's own writer: the project writes one frame a
    file)."""
    duration = next(iter(channels.values())).size // int(
        next(iter(rates.values()))
    )
    with gwframe.FrameWriter(str(path)) as writer:
        for at in range(0, duration, length):
            writer.write(
                {
                    name: data[
                        int(at * rates[name]) : int(
                            (at + length) * rates[name]
                        )
                    ]
                    for name, data in channels.items()
                },
                start=gps + at,
                sample_rate=dict(rates),
                name="L",
            )


def write_cache(paths: list[Path], cache: Path) -> Path:
    """A LAL cache file listing ``paths``."""
    lines = [str(CacheEntry.from_T050017(str(p))) for p in sorted(paths)]
    cache.write_text("\n".join(lines) + "\n")
    return cache


def features(witness: np.ndarray) -> np.ndarray:
    """``(C, size)``: the mains monitor, then mains x each ASC channel."""
    mains = witness[0]
    return np.concatenate([mains[None], mains * witness[1:]])


def fit_coefficients(sim: Simulator) -> np.ndarray:
    """In-band least squares of strain on :func:`features`."""
    strain, witness, _ = simulated_stretch(sim, FIT_GPS, FIT_LENGTH, RATE)
    x = bandpass(features(witness), *BAND, RATE)
    y = bandpass(strain, *BAND, RATE)
    keep = slice(4 * RATE, -4 * RATE)
    coefficients, *_ = np.linalg.lstsq(x[:, keep].T, y[keep], rcond=None)
    return coefficients


def onnx_model(coefficients: np.ndarray) -> onnx.ModelProto:
    """``noise = coefficients @ features(witness)`` as an ONNX graph."""
    num = coefficients.size
    ints = TensorProto.INT64
    inits = [
        helper.make_tensor("zero", ints, [1], [0]),
        helper.make_tensor("one", ints, [1], [1]),
        helper.make_tensor("num", ints, [1], [num]),
        helper.make_tensor(
            "coef", TensorProto.FLOAT, [1, num], coefficients.tolist()
        ),
    ]
    nodes = [
        helper.make_node("Slice", ["witness", "zero", "one", "one"], ["m"]),
        helper.make_node("Slice", ["witness", "one", "num", "one"], ["asc"]),
        helper.make_node("Mul", ["m", "asc"], ["bilinear"]),
        helper.make_node("Concat", ["m", "bilinear"], ["f"], axis=1),
        helper.make_node("MatMul", ["coef", "f"], ["y"]),
        helper.make_node("Squeeze", ["y", "one"], ["noise"]),
    ]
    graph = helper.make_graph(
        nodes,
        "regression",
        [
            helper.make_tensor_value_info(
                "witness", TensorProto.FLOAT, ["n", num, "s"]
            )
        ],
        [
            helper.make_tensor_value_info(
                "noise", TensorProto.FLOAT, ["n", "s"]
            )
        ],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)]
    )
    onnx.checker.check_model(model)
    return model


CONFIG_PBTXT = """name: "deepclean"
backend: "python"
parameters {
  key: "scheme"
  value {
    string_value: "window"
  }
}
parameters {
  key: "sample_rate"
  value {
    string_value: "4096"
  }
}
"""


def write_repository(root: Path, sim: Simulator, coefficients) -> Path:
    """``root/deepclean/<VERSION>/`` as the exporter lays it out."""
    model_dir = root / "deepclean"
    version_dir = model_dir / str(VERSION)
    version_dir.mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text(CONFIG_PBTXT)
    onnx.save(onnx_model(coefficients), str(version_dir / "model.onnx"))
    info = {
        "backend": "onnx-python",
        "strain_channel": sim.config.strain_channel,
        "witness_channels": list(sim.config.witness_channels),
        "sample_rate": RATE,
    }
    (version_dir / "version.json").write_text(json.dumps(info))
    return root
