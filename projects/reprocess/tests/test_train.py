"""Train-as-you-go (``--model-source train``) on a LocalCluster: each file
trained on its own data, warm-started from the last good network, then
cleaned with it; a file whose training fails is reported by name and the
rest completes.

One run of the console script on 160 s of simulated frames (three
witnesses, two of them coupling into the line: learnt in a few epochs of
small kernels) cut into three files, the middle one's strain file
corrupt. The training values are the tests' small ones, given as flags.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import stored

from reprocess.training import longest_run
from utils.channels import OutputChannels
from utils.channels import State
from utils.gwf import read_frame
from utils.settings_checks import PYPROJECT
from utils.signal import asd_ratio
from utils.simulation import SimulationConfig
from utils.simulation import Simulator
from utils.simwriter import strain_path
from utils.testing import run_script
from utils.testing import service_environ

CHANNELS = OutputChannels(stored.IFO)
GPS = 1_400_000_064  # a multiple of FILE_LENGTH and of FRAME_LENGTH
NUM_FILES = 5  # of FILE_LENGTH s per frame type
FRAME_LENGTH = 48  # s per output file: one training chunk each
START, END = GPS + 8, GPS + 144  # files of 40, 48 and 48 s
WITNESSES = [
    f"{stored.IFO}:PEM-CS_MAINSMON_EBAY_1_DQ",
    f"{stored.IFO}:ASC-CHARD_P_OUT_DQ",
    f"{stored.IFO}:ASC-DHARD_Y_OUT_DQ",
]
RUN_TIMEOUT = 240.0  # s: cluster start, two trainings, three cleanings
SMALL_TRAINING = [
    "--kernel-length",
    "2",
    "--kernel-stride",
    "0.25",
    "--batch-size",
    "8",
    "--max-epochs",
    "3",
    "--patience",
    "2",
    "--min-improvement",
    "0",
    "--min-train-length",
    "16",
]
TAPERED = int(State.INPUT_TAPERED)


def name_of(gps: int, duration: int) -> str:
    return f"L-L1_HOFT_DEEPCLEAN-{gps}-{duration}.gwf"


FIRST, MIDDLE, LAST = (
    name_of(GPS + 8, 40),
    name_of(GPS + 48, 48),
    name_of(GPS + 96, 48),
)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path, str, object]:
    """``(output, 1-s frames, corrupt file name, the command's result)``."""
    root = tmp_path_factory.mktemp("train")
    sim = Simulator(
        SimulationConfig(
            ifo=stored.IFO,
            witness_channels=tuple(WITNESSES),
            seed=1,
            num_coupled=2,
        )
    )
    one_second = root / "data"
    archive = stored.write_archive(
        sim, one_second, root / "archive", GPS, NUM_FILES
    )
    corrupt = root / "archive" / f"L-L1_llhoft-{GPS + 64}-32.gwf"
    corrupt.write_bytes(os.urandom(corrupt.stat().st_size))
    cache = stored.write_cache(archive, root / "frames.cache")
    out = root / "out"
    done = run_script(
        "reprocess",
        "--typeo",
        f"{PYPROJECT}:reprocess",
        "--data-dir",
        str(root),
        "--frame-cache",
        str(cache),
        "--gps-start",
        str(START),
        "--gps-end",
        str(END),
        "--model-source",
        "train",
        "--output-dir",
        str(out),
        "--workers",
        "2",
        "--frame-length",
        str(FRAME_LENGTH),
        "--block-length",
        "24",
        "--retries",
        "0",
        "--witness-channels",
        *WITNESSES,
        *SMALL_TRAINING,
        timeout=RUN_TIMEOUT,
        env=service_environ(root),
    )
    return out, one_second, corrupt.name, done


def figures(out: Path, name: str) -> dict:
    stem = Path(name).stem
    return json.loads((out / "summary" / f"{stem}.json").read_text())


def raw_strain(one_second: Path, gps: int, duration: int) -> np.ndarray:
    return np.concatenate(
        [
            read_frame(strain_path(one_second, stored.IFO, g))[
                f"{stored.IFO}:GDS-CALIB_STRAIN"
            ].data
            for g in range(gps, gps + duration)
        ]
    )


def test_a_failed_training_is_reported_and_the_rest_completes(run):
    out, _, corrupt, done = run
    assert done.returncode == 1, done.stderr[-3000:]
    record = json.loads((out / "summary" / "run.json").read_text())
    assert list(record["failed"]) == [MIDDLE]
    reason = record["failed"][MIDDLE]
    assert f"training on {MIDDLE} failed" in reason and corrupt in reason
    assert sorted(record["computed"]) == [FIRST, LAST]
    assert sorted(p.name for p in out.glob("*.gwf")) == [FIRST, LAST]
    models = sorted(p.name for p in (out / "models").iterdir())
    assert models == [Path(FIRST).stem, Path(LAST).stem]


def test_each_file_is_cleaned_in_band_by_its_own_network(run):
    """In-band noise removed; out of band untouched (but the second beside
    the gap in the last file's pad, tapered as live)."""
    out, one_second, _, _ = run
    for name, gps, duration in ((FIRST, START, 40), (LAST, GPS + 96, 48)):
        frame = read_frame(out / name)
        cleaned = frame[CHANNELS.out_dq].data
        state = frame[CHANNELS.state].data[::16]
        versions = frame[CHANNELS.production_version].data
        # tagged "trained on this file": its GPS start, never 0
        assert set(versions) == {gps}
        raw = raw_strain(one_second, gps, duration)
        keep = np.repeat((state & TAPERED) == 0, 16384)
        assert keep.sum() >= (duration - 1) * 16384
        cleaned, raw = cleaned[keep], raw[keep]
        assert asd_ratio(cleaned, raw, 16384, *stored.BAND) < 0.7, name
        for band in [(20.0, 50.0), (70.0, 500.0), (1000.0, 8000.0)]:
            assert asd_ratio(cleaned, raw, 16384, *band) == pytest.approx(
                1, abs=1e-3
            )
    # the last file: only its first second, beside the gap, is tapered
    assert (state & TAPERED)[0] and not (state & TAPERED)[1:].any()


def test_the_warm_start_chain_uses_the_last_good_weights(run):
    """The first file is trained from scratch; the last one (its
    predecessor's training failed) starts from the first one's network,
    which already cleans its data before any epoch."""
    out = run[0]
    first, last = figures(out, FIRST)["model"], figures(out, LAST)["model"]
    assert first["parent"] is None and not first["warm_start"]
    assert first["initial_valid_loss"] == pytest.approx(1.0, abs=0.05)
    assert last["parent"] == FIRST and last["warm_start"]
    assert last["lr"] == pytest.approx(0.1 * first["lr"])  # fine_tune_decay
    assert last["initial_valid_loss"] < 0.7 * first["initial_valid_loss"]
    assert last["tag"] == GPS + 96 and last["trained_on"] == LAST
    meta = json.loads(
        (out / "models" / Path(LAST).stem / "model.json").read_text()
    )
    assert meta["extra"]["parent"] == FIRST
    assert meta["witness_channels"] == WITNESSES


def test_the_longest_usable_run():
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 1], dtype=bool)
    assert longest_run(mask) == (3, 3)
    assert longest_run(np.zeros(4, dtype=bool)) == (0, 0)
    assert longest_run(np.ones(4, dtype=bool)) == (0, 4)
