"""The ``reprocess`` command on a LocalCluster, on simulated stored frames:
stitched output == the serial result, resumable after a kill, a corrupt
file fails its chunk only; and what the batch clusters would submit.

Each run is the real console script in its own process (a LocalCluster of
worker processes); the serial reference is computed here, in one block.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import stored

from conftest import StoredData
from reprocess import engine
from reprocess import task
from reprocess.cleaning import clean_block
from reprocess.config import ReprocessSettings
from reprocess.engine import job_cluster
from reprocess.main import prepare
from reprocess.model import load_version
from reprocess.plan import MADE_WITH_FILE
from reprocess.plan import check_made_with
from reprocess.plan import make_plan
from reprocess.plan import record_made_with
from reprocess.reading import FrameReader
from reprocess.reading import probe_rates
from reprocess.sources import FrameIndex
from reprocess.sources import from_cache
from reprocess.sources import from_datafind
from reprocess.task import run_chunk
from utils.atomic import temporary_path
from utils.channels import OutputChannels
from utils.channels import State
from utils.errors import ConfigError
from utils.errors import FrameCorrupt
from utils.errors import ModelError
from utils.gwf import read_frame
from utils.gwf import write_frame
from utils.names import FrameFile
from utils.names import list_frames
from utils.settings_checks import PYPROJECT
from utils.settings_checks import settings_loader
from utils.signal import asd_ratio
from utils.testing import KILL_TIMEOUT
from utils.testing import free_port
from utils.testing import run_script
from utils.testing import script_path
from utils.testing import service_environ
from utils.waiting import wait_for

load_settings = settings_loader(ReprocessSettings, "reprocess")
CHANNELS = OutputChannels(stored.IFO)
START, END = stored.GPS + 16, stored.GPS + 80  # 8 s pads inside the data
RUN_TIMEOUT = 120.0  # s for one whole run (LocalCluster start included)
CLEANED = State.INPUT_OK | State.PRODUCTION_OK | State.OUT_DQ_ON


def flags(data: StoredData, out: Path, start: int, end: int, *more: str):
    return [
        "--typeo",
        f"{PYPROJECT}:reprocess",
        "--data-dir",
        str(data.one_second),
        "--gps-start",
        str(start),
        "--gps-end",
        str(end),
        "--model-repo",
        str(data.repo),
        "--version",
        str(stored.VERSION),
        "--output-dir",
        str(out),
        "--start-timeout",
        "60",
        "--chunk-timeout",
        "60",
        *more,
    ]


def reprocess(
    data: StoredData, out: Path, *args: str, span: tuple = (START, END)
):
    """The command on ``span`` (GPS start, end) into ``out``."""
    return run_script(
        "reprocess",
        *flags(data, out, *span, *args),
        timeout=RUN_TIMEOUT,
        env=service_environ(data.root),
    )


def outputs(out: Path) -> list[Path]:
    return sorted(out.glob("L-L1_HOFT_DEEPCLEAN-*.gwf"))


def cleaned_strain(out: Path) -> np.ndarray:
    return np.concatenate(
        [read_frame(p)[CHANNELS.out_dq].data for p in outputs(out)]
    )


def run_record(out: Path) -> dict:
    return json.loads((out / "summary" / "run.json").read_text())


@pytest.fixture(scope="module")
def stitched(data: StoredData, tmp_path_factory) -> Path:
    """4 files of 16 s from the cache, in blocks of 8 s, on 2 workers."""
    out = tmp_path_factory.mktemp("stitched")
    done = reprocess(
        data,
        out,
        "--frame-cache",
        str(data.cache),
        "--workers",
        "2",
        "--frame-length",
        "16",
        "--block-length",
        "8",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def serial(data: StoredData):
    """The whole span cleaned in one block, in this process."""
    config, strain, witness = whole_span(data)
    model = load_version(data.repo, stored.VERSION)
    return clean_block(strain, witness, model, stored.VERSION, config)


def whole_span(data: StoredData):
    """The cleaning's settings, and the strain and witnesses of the whole
    span as one block reads them."""
    settings = load_settings(gps_start=START, gps_end=END)
    config = settings.cleaning_config()
    files = from_cache(data.cache)
    readers = []
    for frame_type, channels in (
        ("L1_llhoft", [config.strain_channel, config.state_channel]),
        ("L1_lldetchar", list(config.witness_channels)),
    ):
        index = FrameIndex(files, frame_type)
        readers.append(
            FrameReader(index, probe_rates(index, channels, START, END))
        )
    pad = config.pad_length
    span = (START - pad, END + pad, (START, END))
    strain, witness = (reader.read(*span) for reader in readers)
    return config, strain, witness


def test_a_model_predicting_nan_or_inf_writes_nothing(data):
    """NaN or inf from the network (band-passed, it would spread over the
    span) is refused, naming where, instead of written as cleaned data
    (found by review: a block of NaN was written, flagged good)."""
    config, strain, witness = whole_span(data)
    model = load_version(data.repo, stored.VERSION)
    at = 40  # s into the padded span

    def broken(x: np.ndarray) -> np.ndarray:
        noise = model(x)
        noise[at * model.sample_rate] = np.inf
        return noise

    first = strain.start + at
    with pytest.raises(ModelError, match=f"non-finite .*first at GPS {first}"):
        clean_block(strain, witness, broken, stored.VERSION, config)


def test_a_cache_lists_local_files_of_whole_seconds(tmp_path, monkeypatch):
    """Comments (indented too), blank lines and CRLF are passed over; a
    relative path is taken from the current folder, a ``file:`` URL read
    as its path. A line that is not such an entry (another scheme, no
    segment, a time that is not a number or not whole) stops the command
    with its line number, instead of a traceback or a file never read."""
    monkeypatch.chdir(tmp_path)
    name = "L-L1_X-1400000000-32.gwf"
    cache = tmp_path / "frames.lcf"
    cache.write_bytes(
        b"# frames\r\n"
        b"   # indented\r\n"
        b"\r\n"
        b"L L1_X 1400000000 32 rel/" + name.encode() + b"\r\n"
        b"L L1_X 1400000032 32 file://localhost/data/" + name.encode() + b"\n"
    )
    files = from_cache(cache)
    assert [f.path for f in files] == [
        str(tmp_path / "rel" / name),
        "/data/" + name,
    ]
    assert [(f.gps, f.duration) for f in files] == [
        (1400000000, 32),
        (1400000032, 32),
    ]
    for line in (
        f"L L1_X 1400000000 32 gsiftp://host/data/{name}",
        f"L L1_X 1400000000 32 file://otherhost/data/{name}",
        "L L1_X - - /data/" + name,
        "L L1_X nan 32 /data/" + name,
        "L L1_X 1400000000.5 32 /data/" + name,
        "abc",
    ):
        cache.write_text(f"# one bad line\n{line}\n")
        with pytest.raises(ConfigError, match=f"^{cache}:2: not a LAL"):
            from_cache(cache)


def test_a_witness_beyond_the_model_s_float32_is_absent(tmp_path):
    """1e39 is finite in float64 but inf in the model's float32 input:
    its second is absent, as NaN's is."""
    rates = {"L1:A": 16}
    gps = stored.GPS
    data = np.ones(64)
    data[2 * 16 + 3] = 1e39
    write_frame(tmp_path / f"L-L1_x-{gps}-4.gwf", {"L1:A": data}, gps, 16)
    index = FrameIndex(list_frames(tmp_path), "L1_x")
    span = FrameReader(index, rates).read(gps, gps + 4, (gps, gps + 4))
    assert span.present.tolist() == [True, True, False, True]
    assert not span.data["L1:A"][32:48].any()


def test_stitched_output_equals_the_serial_run(data, stitched):
    names = [p.name for p in outputs(stitched)]
    assert names == [
        f"L-L1_HOFT_DEEPCLEAN-{gps}-16.gwf" for gps in range(START, END, 16)
    ]
    reference = serial(data)
    rms = np.sqrt(np.mean(reference.raw**2))
    difference = np.abs(cleaned_strain(stitched) - reference.cleaned)
    assert difference.max() <= 1e-6 * rms
    assert run_record(stitched)["computed"] == names


def test_output_is_native_rate_cleaned_in_band_only(data, stitched):
    frame = read_frame(outputs(stitched)[0])
    assert frame[CHANNELS.out_dq].sample_rate == 16384
    assert frame[CHANNELS.state].sample_rate == 16
    assert set(frame[CHANNELS.state].data) == {
        int(CLEANED | State.ANALYSIS_READY)
    }
    assert set(frame[CHANNELS.production_version].data) == {stored.VERSION}
    raw = serial(data).raw
    cleaned = cleaned_strain(stitched)
    assert asd_ratio(cleaned, raw, 16384, *stored.BAND) < 0.5
    # out of band: only the Butterworth's skirt of the prediction
    for band in [(20.0, 50.0), (70.0, 500.0), (1000.0, 8000.0)]:
        assert asd_ratio(cleaned, raw, 16384, *band) == pytest.approx(
            1, abs=1e-3
        )
    summary = json.loads(
        (
            stitched / "summary" / f"{outputs(stitched)[0].stem}.json"
        ).read_text()
    )
    assert summary["asd_ratio"] < 0.5
    assert (stitched / "summary" / "index.html").exists()


def wait_for_first_output(out: Path, process: subprocess.Popen) -> int:
    return wait_for(
        lambda: len(outputs(out)) or None,
        f"a first output in {out}",
        RUN_TIMEOUT,
        0.02,
        alive=lambda: process.poll() is None,
    )


def test_rerun_after_a_kill_computes_only_the_missing_files(
    data, stitched, tmp_path
):
    """The operator's form (1-s frames under --data-dir); killed with its
    workers at the first file written, then run again: the same bits as
    the uninterrupted run from the cache, cut the same way."""
    out = tmp_path / "out"
    same = ("--frame-length", "16", "--block-length", "8", "--workers", "1")
    args = flags(data, out, START, END, *same)
    process = subprocess.Popen(
        [str(script_path("reprocess")), *args],
        env=service_environ(data.root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_first_output(out, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=KILL_TIMEOUT)
    before = {p.name: p.stat().st_mtime_ns for p in outputs(out)}
    assert 0 < len(before) < 4
    done = reprocess(data, out, *same)
    assert done.returncode == 0, done.stderr[-3000:]
    record = run_record(out)
    assert sorted(record["skipped"]) == sorted(before)
    assert len(record["computed"]) == 4 - len(before)
    assert {n: (out / n).stat().st_mtime_ns for n in before} == before
    assert np.array_equal(cleaned_strain(out), cleaned_strain(stitched))


def one_chunk(data, out: Path):
    """The settings, the task config and the one chunk of 16 s of the
    stored data from ``START``, cleaned into ``out``."""
    settings = load_settings(
        data_dir=data.one_second,
        model_repo=data.repo,
        version=stored.VERSION,
        output_dir=out,
        gps_start=START,
        gps_end=START + 16,
        frame_length=16,
    )
    config, plan = prepare(settings)
    (chunk,) = plan.todo
    return settings, config, chunk


def test_a_try_after_its_frame_was_written_returns_its_figures(data, tmp_path):
    """A worker lost between writing a file and returning it: Dask tries
    the task again, which finds the frame (the plan did not) and returns
    the figures written before it instead of failing on the existing
    file (or cleaning it twice). A frame without its figures is not this
    run's: refused, named, not overwritten."""
    _, config, chunk = one_chunk(data, tmp_path)
    first = run_chunk(chunk, config)
    written = chunk.path.stat().st_mtime_ns
    again = run_chunk(chunk, config)
    assert chunk.path.stat().st_mtime_ns == written
    assert again.pop("wall_seconds") == 0.0
    assert first.pop("wall_seconds") > 0
    assert again == first
    assert first["seconds_present"] == 16
    chunk.summary_path.unlink()
    with pytest.raises(FileExistsError, match="but not its figures"):
        run_chunk(chunk, config)
    assert chunk.path.stat().st_mtime_ns == written


def test_files_are_flushed_and_an_empty_one_is_computed_again(
    data, tmp_path, monkeypatch, caplog
):
    """A chunk's frame and figures are flushed to disk before their
    rename. A frame that is there but empty all the same (what a power
    cut leaves of a write that never reached the disk) is not finished:
    the next run says so, computes it again and replaces it."""
    import utils.atomic

    synced = []

    def record(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)

    monkeypatch.setattr(utils.atomic.os, "fsync", record)
    settings, config, chunk = one_chunk(data, tmp_path)
    run_chunk(chunk, config)
    flushed = {".".join(name.split(".")[1:3]) for name in synced}
    assert {chunk.name, chunk.summary_path.name} <= flushed
    chunk.path.write_bytes(b"")
    config, plan = prepare(settings)
    assert [c.name for c in plan.todo] == [chunk.name] and not plan.done
    assert f"{chunk.path} is empty" in caplog.text
    assert run_chunk(plan.todo[0], config)["seconds_present"] == 16
    state = read_frame(chunk.path)[CHANNELS.state].data.astype(int)
    assert np.all(state & CLEANED == CLEANED)
    config, plan = prepare(settings)
    assert plan.todo == [] and [c.name for c in plan.done] == [chunk.name]
    # a link to nothing in its place is not finished either
    chunk.path.unlink()
    chunk.path.symlink_to(tmp_path / "nowhere.gwf")
    config, plan = prepare(settings)
    assert [c.name for c in plan.todo] == [chunk.name] and not plan.done
    assert run_chunk(plan.todo[0], config)["seconds_present"] == 16
    assert chunk.path.is_file() and not chunk.path.is_symlink()


def killed(*args, **kwargs):
    raise KeyboardInterrupt  # the process ends here


def test_a_file_written_with_part_of_its_input_is_replaced_once_there_is_more(
    data, tmp_path, monkeypatch
):
    """The witness frames of the second half of a 16-s file are not there
    yet (their archive is filling): the file is written with what there
    is, its figures saying 8 of its seconds were covered, and it stands
    while that is all there is. Once they are there, the next run computes
    it again and replaces it (killed between the frame and its figures,
    the run after does it again); a try after the replacement (its worker
    lost) returns the new figures; then it is finished."""
    folder = tmp_path / "data"
    shutil.copytree(data.one_second, folder)
    later = [
        folder / f"lldetchar/L1/L-L1_lldetchar-{gps}-1.gwf"
        for gps in range(START + 8, START + 16)
    ]
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in later:
        path.rename(aside / path.name)
    settings = load_settings(
        data_dir=folder,
        model_repo=data.repo,
        version=stored.VERSION,
        output_dir=tmp_path / "out",
        gps_start=START,
        gps_end=START + 16,
        frame_length=16,
    )
    config, plan = prepare(settings)
    (chunk,) = plan.todo
    assert chunk.covered == 8 and plan.grown == {}
    first = run_chunk(chunk, config)
    assert first["seconds_covered"] == 8
    assert 0 < first["seconds_present"] <= 8
    state = read_frame(chunk.path)[CHANNELS.state].data.astype(int)
    assert not np.all(state & CLEANED == CLEANED)

    config, plan = prepare(settings)  # nothing more: finished
    assert plan.todo == [] and [c.name for c in plan.done] == [chunk.name]

    for path in later:
        (aside / path.name).rename(path)
    config, plan = prepare(settings)
    (again,) = plan.todo
    assert plan.grown == {chunk.name: (8, 16)}
    # killed between the new frame and its figures: the old figures make
    # the next run compute it again, they never vouch for the new frame
    with monkeypatch.context() as patch:
        patch.setattr(task, "write_json", killed)
        with pytest.raises(KeyboardInterrupt):
            run_chunk(again, config)
    state = read_frame(chunk.path)[CHANNELS.state].data.astype(int)
    assert np.all(state & CLEANED == CLEANED)  # the new frame
    assert prepare(settings)[1].grown == {chunk.name: (8, 16)}
    second = run_chunk(again, config)
    assert second["seconds_covered"] == 16
    assert second["seconds_present"] == 16
    state = read_frame(chunk.path)[CHANNELS.state].data.astype(int)
    assert np.all(state & CLEANED == CLEANED)
    written = chunk.path.stat().st_mtime_ns
    third = run_chunk(again, config)
    assert third.pop("wall_seconds") == 0.0
    assert second.pop("wall_seconds") > 0
    assert third == second
    assert chunk.path.stat().st_mtime_ns == written

    config, plan = prepare(settings)
    assert plan.todo == [] and plan.grown == {}


def test_a_corrupt_file_fails_its_chunk_only(data, tmp_path):
    """The middle strain file is garbage: its chunk is retried, then
    reported by the file's name; the chunks beside it are written."""
    archive = tmp_path / "archive"
    shutil.copytree(data.archive[0].parent, archive)
    middle = stored.GPS + stored.FILE_LENGTH
    corrupt = archive / f"L-L1_llhoft-{middle}-{stored.FILE_LENGTH}.gwf"
    corrupt.write_bytes(os.urandom(corrupt.stat().st_size))
    cache = stored.write_cache(sorted(archive.glob("*.gwf")), tmp_path / "c")
    out = tmp_path / "out"
    done = reprocess(
        data,
        out,
        "--frame-cache",
        str(cache),
        "--frame-length",
        str(stored.FILE_LENGTH),
        "--workers",
        "2",
        "--retries",
        "1",
        span=(stored.GPS, stored.END),
    )
    assert done.returncode == 1
    failed = f"L-L1_HOFT_DEEPCLEAN-{middle}-{stored.FILE_LENGTH}.gwf"
    record = run_record(out)
    assert list(record["failed"]) == [failed]
    assert corrupt.name in record["failed"][failed]
    assert failed not in [p.name for p in outputs(out)]
    assert len(outputs(out)) == stored.NUM_FILES - 1
    page = (out / "summary" / "index.html").read_text()
    assert failed in page and corrupt.name in page


def test_missing_input_fails_its_chunk_and_a_gap_is_not_written(
    data, tmp_path
):
    """The cache lists the middle strain file but it is not on disk (a
    file system's outage): its chunk fails, named with the file, and is
    computed by the rerun once the file is back, instead of standing as a
    finished file of zeros. The span runs 64 s past the data: those files
    are not written ("without input") and the rerun looks again."""
    archive = tmp_path / "archive"
    shutil.copytree(data.archive[0].parent, archive)
    cache = stored.write_cache(sorted(archive.glob("*.gwf")), tmp_path / "c")
    middle = stored.GPS + stored.FILE_LENGTH
    gone = archive / f"L-L1_llhoft-{middle}-{stored.FILE_LENGTH}.gwf"
    aside = gone.rename(tmp_path / gone.name)
    out = tmp_path / "out"
    length = str(stored.FILE_LENGTH)

    def run():
        return reprocess(
            data,
            out,
            "--frame-cache",
            str(cache),
            "--frame-length",
            length,
            "--workers",
            "2",
            "--retries",
            "0",
            span=(stored.GPS, stored.END + 64),
        )

    done = run()
    assert done.returncode == 1, done.stderr[-3000:]
    failed = f"L-L1_HOFT_DEEPCLEAN-{middle}-{length}.gwf"
    past = [
        f"L-L1_HOFT_DEEPCLEAN-{stored.END + i}-{length}.gwf" for i in (0, 32)
    ]
    record = run_record(out)
    assert list(record["failed"]) == [failed], record
    assert gone.name in record["failed"][failed]
    assert record["without_input"] == past
    assert len(outputs(out)) == stored.NUM_FILES - 1
    # the neighbours' workers saw it in their pads: in the command's log
    log = (out / "logs" / "reprocess.log").read_text()
    assert f"no frame file {gone}: a gap in the pad" in log
    aside.rename(gone)
    # what a worker killed mid-write would have left, an hour ago
    crashed = temporary_path(out / failed)
    crashed.write_bytes(b"half a frame")
    os.utime(crashed, (time.time() - 3600, time.time() - 3600))
    done = run()
    assert done.returncode == 0, done.stderr[-3000:]
    record = run_record(out)
    assert record["computed"] == [failed]
    assert record["without_input"] == past
    written = {p.name: p for p in outputs(out)}
    assert len(written) == stored.NUM_FILES and not set(past) & set(written)
    assert not crashed.exists()  # swept at start-up
    state = read_frame(written[failed])[CHANNELS.state].data.astype(int)
    assert np.all(state & CLEANED == CLEANED)


def test_a_file_without_witness_frames_is_not_written(data, tmp_path):
    """The witness frames of one 16-s file are not there yet (their
    archive lags the strain's): that file is not written (a file of
    zeros every rerun would skip) but listed, the frame type named; the
    others are cleaned."""
    folder = tmp_path / "data"
    shutil.copytree(data.one_second, folder)
    lacking = range(START + 16, START + 32)
    for gps in lacking:
        (folder / f"lldetchar/L1/L-L1_lldetchar-{gps}-1.gwf").unlink()
    out = tmp_path / "out"
    done = reprocess(
        data, out, "--data-dir", str(folder), "--frame-length", "16"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    name = f"L-L1_HOFT_DEEPCLEAN-{lacking[0]}-16.gwf"
    assert run_record(out)["without_input"] == [name]
    assert name not in {p.name for p in outputs(out)}
    assert len(outputs(out)) == 3
    log = (out / "logs" / "reprocess.log").read_text()
    assert f"{name}: no L1_lldetchar frame holds any of its seconds" in log


def test_a_span_without_input_or_overlapping_outputs_cannot_start(
    data, stitched, tmp_path
):
    """Nothing holds the span (a mistyped GPS): exit 2 naming it. An
    output file already there that a new cut would overlap (16-s files,
    now 32-s ones): exit 2 naming it, nothing written."""
    far = stored.GPS + 100_000
    done = reprocess(data, tmp_path / "none", span=(far, far + 64))
    assert done.returncode == 2
    assert f"holds any of GPS [{far}, {far + 64})" in done.stdout
    out = tmp_path / "out"
    out.mkdir()
    old = outputs(stitched)[1]
    shutil.copyfile(old, out / old.name)
    done = reprocess(data, out, "--frame-length", "32")
    assert done.returncode == 2
    assert f"{old.name} already holds some of GPS" in done.stdout
    assert [p.name for p in outputs(out)] == [old.name]


@pytest.fixture
def in_process():
    """Two single-threaded Dask workers in this process, for stand-in
    tasks (the engine's own logic, not the cleaning's)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False
    ) as cluster:
        yield cluster


def engine_config(chunk_timeout: float) -> engine.EngineConfig:
    settings = load_settings(gps_start=START, gps_end=END)
    return replace(
        settings.engine_config(), retries=0, chunk_timeout=chunk_timeout
    )


def test_runs_sharing_a_scheduler_keep_their_own_tasks(in_process):
    """Two runs of the same span at once on one scheduler (two versions
    into two folders): each gets its own results."""
    from distributed import Client

    chunks = [
        SimpleNamespace(name=f"L-L1_HOFT_DEEPCLEAN-{g}-16.gwf")
        for g in (0, 16)
    ]
    config = engine_config(chunk_timeout=60)
    clients = [Client(in_process.scheduler_address) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = [
                pool.submit(engine.run_chunks, c, tagged, chunks, tag, config)
                for c, tag in zip(clients, ("v3", "v4"), strict=True)
            ]
            (a, fa), (b, fb) = (r.result(timeout=60) for r in runs)
    finally:
        for client in clients:
            client.close()
    assert fa == fb == {}
    assert {r["tag"] for r in a} == {"v3"} and {r["tag"] for r in b} == {"v4"}


def test_a_run_past_its_bound_keeps_what_finished(in_process):
    """One chunk hangs: the run ends at its bound, the hung chunk failed
    with that reason, the finished one's result kept; the scheduler
    holds neither task any more (a worker lost later cannot make it
    compute a collected chunk again)."""
    from distributed import Client

    chunks = [SimpleNamespace(name=n) for n in ("quick.gwf", "hung.gwf")]
    with Client(in_process) as client:
        futures = [
            client.submit(tagged, c, "v3", key=f"t-{c.name}", pure=False)
            for c in chunks
        ]
        results, failures = engine.collect(
            client, futures, chunks, engine_config(chunk_timeout=1)
        )
        held = in_process.scheduler.tasks
        keys = {f.key for f in futures}
        wait_for(lambda: not keys & set(held), "tasks released", 10.0)
    assert [r["name"] for r in results] == ["quick.gwf"]
    assert list(failures) == ["hung.gwf"]
    assert "not finished within the run's bound" in failures["hung.gwf"]


def test_the_chain_of_trainings_hands_on_values_and_ends_at_a_hang(
    in_process,
):
    """Each training gets the previous one's result itself (not a Dask
    future: no lineage to recompute from the first when a worker is lost)
    and each cleaning its own training's; a training that hangs ends the
    chain: its chunk and the rest fail, those before are kept."""
    from distributed import Client

    names = ["a.gwf", "b.gwf", "hung.gwf", "d.gwf"]
    chunks = [SimpleNamespace(name=n) for n in names]
    with Client(in_process) as client:
        results, failures = engine.run_trained_chunks(
            client,
            toy_train,
            toy_clean,
            chunks,
            "cfg",
            engine_config(chunk_timeout=2),
        )
    assert sorted(r["name"] for r in results) == ["a.gwf", "b.gwf"]
    assert {r["name"]: r["chain"] for r in results} == {
        "a.gwf": ["a.gwf"],
        "b.gwf": ["a.gwf", "b.gwf"],
    }
    assert set(failures) == {"hung.gwf", "d.gwf"}
    assert all(
        "training of hung.gwf not finished" in r for r in failures.values()
    )


def toy_train(chunk, config, previous):
    """A stand-in training: the chain of names so far (``previous`` must
    be the value itself); ``hung.gwf`` hangs past the bound."""
    assert previous is None or isinstance(previous, list)
    if chunk.name == "hung.gwf":
        time.sleep(4.0)
    return [*(previous or []), chunk.name]


def toy_clean(chunk, config, training):
    assert isinstance(training, list) and training[-1] == chunk.name
    return {"name": chunk.name, "chain": training}


def test_a_worker_lost_mid_chain_costs_its_own_training_only(tmp_path):
    """Real worker processes: the worker training the third of four
    chunks dies (its process exits). That training is tried again; the
    trainings before it are not (no lineage), and every chunk is
    cleaned by the chain of its own and its predecessors' trainings."""
    config = replace(
        engine_config(chunk_timeout=60),
        workers=2,
        retries=1,
        worker_memory="1GiB",
    )
    names = ["a.gwf", "b.gwf", "c.gwf", "d.gwf"]
    chunks = [SimpleNamespace(name=n) for n in names]
    client, cluster = engine.connect(config)
    try:
        results, failures = engine.run_trained_chunks(
            client,
            dies_once_at_c,
            toy_clean,
            chunks,
            str(tmp_path),
            config,
        )
    finally:
        engine.disconnect(client, cluster)
    assert failures == {}
    assert {r["name"]: r["chain"] for r in results} == {
        n: names[: i + 1] for i, n in enumerate(names)
    }
    trained = sorted(p.name.split("-")[1] for p in tmp_path.glob("train-*"))
    assert trained == ["a.gwf", "b.gwf", "c.gwf", "c.gwf", "d.gwf"]


def dies_once_at_c(chunk, folder: str, previous: list | None) -> list:
    """A stand-in training that records each try; the first try of
    ``c.gwf`` ends its worker process."""
    Path(folder, f"train-{chunk.name}-{os.getpid()}-{time.time_ns()}").touch()
    died = Path(folder) / "died"
    if chunk.name == "c.gwf" and not died.exists():
        died.touch()
        os._exit(1)
    return [*(previous or []), chunk.name]


def test_a_try_past_chunk_timeout_is_named_when_it_happens(in_process, caplog):
    """A try still running after chunk_timeout is named in the log then
    (a hung read shows which file), and left to finish within the run's
    bound (2 tries of 2 s here); a quick one is not named."""
    from distributed import Client

    chunks = [SimpleNamespace(name=n) for n in ("slow.gwf", "quick.gwf")]
    config = replace(engine_config(chunk_timeout=2), retries=1)
    with caplog.at_level(logging.WARNING, logger="reprocess"):
        with Client(in_process) as client:
            results, failures = engine.run_chunks(
                client, tagged, chunks, "v3", config
            )
    assert failures == {}
    assert sorted(r["name"] for r in results) == ["quick.gwf", "slow.gwf"]
    named = [
        r.getMessage()
        for r in caplog.records
        if "still running" in r.getMessage()
    ]
    assert named == [
        "slow.gwf: this try is still running after chunk_timeout=2 s "
        "(a hung read?); the run's bound gives up on it"
    ]


def tagged(chunk, tag: str) -> dict:
    """A stand-in task: 1 s, or as long as its name says (4, 3 or 0 s)."""
    sleep = {"hung.gwf": 4.0, "slow.gwf": 3.0, "quick.gwf": 0.0}
    time.sleep(sleep.get(chunk.name, 1.0))
    return {"name": chunk.name, "tag": tag}


def test_the_reader_decodes_its_channels_and_gaps_a_missing_one(tmp_path):
    """Two 4-s files of three channels: the reader reads the two it is
    asked for; the second file lacks one, whose seconds are absent."""
    rates = {"L1:A": 16, "L1:B": 16}
    gps = stored.GPS
    first = {**{c: np.full(64, 1.0) for c in rates}, "L1:C": np.zeros(64)}
    write_frame(tmp_path / f"L-L1_x-{gps}-4.gwf", first, gps, 16)
    second = {"L1:A": np.full(64, 2.0), "L1:C": np.zeros(64)}
    write_frame(tmp_path / f"L-L1_x-{gps + 4}-4.gwf", second, gps + 4, 16)
    index = FrameIndex(list_frames(tmp_path), "L1_x")
    span = FrameReader(index, rates).read(gps, gps + 8, (gps, gps + 8))
    assert list(span.data) == ["L1:A", "L1:B"]
    assert span.present.tolist() == [True] * 4 + [False] * 4
    assert span.data["L1:A"].tolist() == [1.0] * 64 + [2.0] * 64
    assert span.data["L1:B"].tolist() == [1.0] * 64 + [0.0] * 64


def test_a_file_holding_none_of_its_channels_fails_its_chunk(tmp_path, caplog):
    """The middle of three 4-s files is named as this type's but holds
    another detector's channels: read for its own chunk it fails, naming
    the file and the channels (a rerun tries it again), instead of
    becoming seconds of zeros; in a neighbour's pad it is a gap."""
    rates = {"L1:A": 16, "L1:B": 16}
    gps = stored.GPS
    for at, ifo in ((gps, "L1"), (gps + 4, "H1"), (gps + 8, "L1")):
        channels = {f"{ifo}:{c}": np.ones(64) for c in "AB"}
        write_frame(tmp_path / f"L-L1_x-{at}-4.gwf", channels, at, 16)
    reader = FrameReader(FrameIndex(list_frames(tmp_path), "L1_x"), rates)
    wrong = tmp_path / f"L-L1_x-{gps + 4}-4.gwf"
    with pytest.raises(FrameCorrupt, match=f"{wrong} holds none of.*L1:A"):
        reader.read(gps + 2, gps + 10, (gps + 4, gps + 8))
    span = reader.read(gps, gps + 6, (gps, gps + 4))
    assert span.present.tolist() == [True] * 4 + [False] * 2
    assert f"{wrong} holds none of" in caplog.text


def test_the_rates_come_from_the_first_file_that_can_be_read(tmp_path, caplog):
    """The span's first file is corrupt and its second empty: they are
    logged (their chunks fail later) and the rates come from the third.
    None readable: the command cannot start, each file named. A readable
    file lacking a channel stops it too (a misspelt name fails every
    chunk)."""
    gps = stored.GPS
    paths = [tmp_path / f"L-L1_x-{gps + 4 * k}-4.gwf" for k in range(3)]
    for k, path in enumerate(paths):
        channels = {"L1:A": np.ones(64), "L1:B": np.ones(16)}
        write_frame(path, channels, gps + 4 * k, {"L1:A": 16, "L1:B": 4})
    paths[0].write_bytes(paths[0].read_bytes()[:100])
    paths[1].write_bytes(b"")
    index = FrameIndex(list_frames(tmp_path), "L1_x")
    rates = probe_rates(index, ["L1:A", "L1:B"], gps, gps + 12)
    assert rates == {"L1:A": 16, "L1:B": 4}
    logged = [r.getMessage() for r in caplog.records]
    assert [m.split(":")[0] for m in logged] == [
        f"cannot read frame {p}" for p in paths[:2]
    ]
    assert all("(its chunk will fail)" in m for m in logged)
    with pytest.raises(ConfigError, match="L1:C missing from") as raised:
        probe_rates(index, ["L1:A", "L1:C"], gps, gps + 12)
    assert str(paths[2]) in str(raised.value)
    paths[2].write_bytes(b"")
    with pytest.raises(ConfigError, match="none of the first 3") as raised:
        probe_rates(index, ["L1:A", "L1:B"], gps, gps + 12)
    assert all(str(p) in str(raised.value) for p in paths)


def test_a_plan_lists_each_input_once_and_names_what_a_file_lacks(tmp_path):
    """Strain and witnesses in one frame type (one index given twice):
    each chunk lists its files once. A chunk that one of two types holds
    none of is empty, that type named."""
    g = stored.GPS

    def files(description, starts):
        return [
            FrameFile(
                t, 16, "L", description, f"/a/L-{description}-{t}-16.gwf"
            )
            for t in starts
        ]

    one = FrameIndex(files("L1_R", (g, g + 16, g + 32)), "L1_R")
    plan = make_plan("L1", g, g + 32, 16, 4, [one, one], tmp_path)
    assert [len(c.inputs) for c in plan.todo] == [2, 3]
    assert all(len(set(c.inputs)) == len(c.inputs) for c in plan.todo)
    witness = FrameIndex(files("L1_W", (g,)), "L1_W")
    plan = make_plan("L1", g, g + 32, 16, 4, [one, witness], tmp_path)
    assert [c.name for c in plan.todo] == [f"L-L1_HOFT_DEEPCLEAN-{g}-16.gwf"]
    assert plan.empty == {f"L-L1_HOFT_DEEPCLEAN-{g + 16}-16.gwf": ["L1_W"]}
    short = FrameIndex(files("L1_R", (g,)), "L1_R")  # one type, named once
    plan = make_plan("L1", g, g + 32, 16, 4, [short, short], tmp_path)
    assert plan.empty == {f"L-L1_HOFT_DEEPCLEAN-{g + 16}-16.gwf": ["L1_R"]}


def test_a_folder_keeps_the_model_that_made_its_files(tmp_path):
    """The first run that computes records its model (checking records
    nothing); the same model may resume, another (version 4 into version
    3's folder) is refused naming both, as is an unreadable record."""
    v3 = {"model_source": "repository", "model_repo": "/r", "version": 3}
    v4 = {**v3, "version": 4}
    check_made_with(tmp_path, v4)
    assert not (tmp_path / MADE_WITH_FILE).exists()
    record_made_with(tmp_path, v3)
    check_made_with(tmp_path, dict(v3))
    record_made_with(tmp_path, dict(v3))
    for refused in (check_made_with, record_made_with):
        with pytest.raises(
            ConfigError, match="version=3, this run would use 4"
        ):
            refused(tmp_path, v4)
    (tmp_path / MADE_WITH_FILE).write_text("{half")
    with pytest.raises(ConfigError, match=MADE_WITH_FILE):
        check_made_with(tmp_path, v3)
    # other settings of the cleaning (here the band) are refused too,
    # naming the setting; a record from before the cleaning was recorded
    # binds the model only
    band = {**v3, "cleaning": {"freq_low": 58.0, "freq_high": 62.0}}
    (tmp_path / MADE_WITH_FILE).unlink()
    record_made_with(tmp_path, band)
    wider = {**band, "cleaning": {"freq_low": 57.0, "freq_high": 62.0}}
    with pytest.raises(
        ConfigError, match=r"cleaning.freq_low=58.0, this run would use 57.0"
    ):
        check_made_with(tmp_path, wider)
    (tmp_path / MADE_WITH_FILE).write_text(json.dumps(v3))
    check_made_with(tmp_path, wider)


def test_a_run_refused_at_start_up_records_no_model(data, tmp_path):
    """Version 4 is refused at start-up after its model was checked (an
    output file cut otherwise is in the folder): it leaves no record, so
    the corrected run, with version 3, starts. A run that computes
    records its model."""
    repo = tmp_path / "repo"
    shutil.copytree(data.repo, repo)
    versions = repo / "deepclean"
    shutil.copytree(versions / str(stored.VERSION), versions / "4")
    out = tmp_path / "out"
    out.mkdir()
    stray = out / f"L-L1_HOFT_DEEPCLEAN-{START + 8}-8.gwf"
    write_frame(stray, {"L1:X": np.zeros(8)}, START + 8, 1)

    def settings(version: int) -> ReprocessSettings:
        return load_settings(
            data_dir=data.one_second,
            model_repo=repo,
            version=version,
            output_dir=out,
            gps_start=START,
            gps_end=START + 16,
            frame_length=16,
        )

    with pytest.raises(ConfigError, match="already holds some of GPS"):
        prepare(settings(4))
    assert not (out / "summary" / MADE_WITH_FILE).exists()
    stray.unlink()
    config, plan = prepare(settings(stored.VERSION))
    assert [c.name for c in plan.todo] == [
        f"L-L1_HOFT_DEEPCLEAN-{START}-16.gwf"
    ]


def test_a_run_that_computes_records_its_model(data, stitched):
    made = json.loads((stitched / "summary" / MADE_WITH_FILE).read_text())
    onnx_file = data.repo / "deepclean" / str(stored.VERSION) / "model.onnx"
    assert made == {
        "model_source": "repository",
        "model_repo": str(data.repo.resolve()),
        "version": stored.VERSION,
        "model_sha256": hashlib.sha256(onnx_file.read_bytes()).hexdigest(),
        "scheme": json.loads(
            json.dumps(asdict(load_version(data.repo, stored.VERSION).scheme))
        ),
        "cleaning": json.loads(
            json.dumps(
                asdict(
                    load_settings(
                        gps_start=START, gps_end=END
                    ).cleaning_config()
                )
            )
        ),
    }


def test_one_file_at_two_paths_is_read_once_and_overlaps_are_refused(
    data, tmp_path
):
    """The archive listed twice (two mounts): each file kept once, at the
    path listed first. A second strain file claiming some of the first
    one's seconds: the command stops at start-up naming both."""
    mirror = tmp_path / "mirror"
    shutil.copytree(data.archive[0].parent, mirror)
    listed = from_cache(data.cache)
    twice = listed + [
        f._replace(path=str(mirror / Path(f.path).name)) for f in listed
    ]
    index = FrameIndex(twice, "L1_llhoft")
    assert [f.path for f in index.files] == [
        f.path for f in listed if f.description == "L1_llhoft"
    ]
    index.check_overlaps()
    first = f"L-L1_llhoft-{stored.GPS}-{stored.FILE_LENGTH}.gwf"
    extra = f"L-L1_llhoft-{stored.GPS + 16}-1.gwf"
    shutil.copyfile(data.one_second / "kafka" / "L1" / extra, mirror / extra)
    out = tmp_path / "out"
    done = reprocess(
        data,
        out,
        "--data-dir",
        str(mirror),
        "--frame-patterns",
        "L-L1_llhoft-*.gwf",
        "L-L1_lldetchar-*.gwf",
        span=(stored.GPS, stored.GPS + 64),
    )
    assert done.returncode == 2
    assert f"{first} and {mirror / extra} both claim GPS" in done.stdout
    assert not outputs(out)


def test_a_file_whose_first_path_is_damaged_is_read_at_its_other(
    data, tmp_path, caplog
):
    """The archive listed at two mounts, the first mount's copy of one
    file truncated: it is read from the second mount (logged), and a
    plan's chunk lists both paths for its task (found by review: the
    chunk failed at every rerun, and its neighbours were written with a
    gap in their pads, which no rerun mends)."""
    damaged = tmp_path / "mountA"
    shutil.copytree(data.archive[0].parent, damaged)
    listed = from_cache(data.cache)
    twice = [
        f._replace(path=str(damaged / Path(f.path).name)) for f in listed
    ] + listed
    name = f"L-L1_llhoft-{stored.GPS}-{stored.FILE_LENGTH}.gwf"
    whole = (damaged / name).read_bytes()
    (damaged / name).write_bytes(whole[: len(whole) // 3])
    index = FrameIndex(twice, "L1_llhoft")
    good = FrameIndex(listed, "L1_llhoft")
    span = (stored.GPS, stored.GPS + 8)
    channels = list(read_frame(Path(good.files[0].path)))
    rates = probe_rates(good, channels, *span)
    with caplog.at_level(logging.WARNING, logger="reprocess"):
        read = FrameReader(index, rates).read(*span, span)
    expected = FrameReader(good, rates).read(*span, span)
    assert read.present.all()
    for channel in channels:
        assert read.data[channel].tobytes() == expected.data[channel].tobytes()
    assert f"read from {data.archive[0].parent / name} instead" in caplog.text
    plan = make_plan("L1", *span, 8, 4, [index], tmp_path / "out")
    inputs = [f.path for f in plan.todo[0].inputs]
    assert inputs == [str(damaged / name), str(data.archive[0].parent / name)]


def test_no_scheduler_at_the_address_cannot_start(data, tmp_path):
    done = reprocess(
        data,
        tmp_path / "out",
        "--scheduler",
        f"tcp://127.0.0.1:{free_port()}",
        "--start-timeout",
        "3",
    )
    log = done.stdout + done.stderr
    assert done.returncode == 2, log[-2000:]
    assert "no Dask workers" in log
    assert not outputs(tmp_path / "out")


def test_a_missing_version_stops_the_workers_started_meanwhile(data, tmp_path):
    """The local workers start while the input is planned; a start-up
    that fails then closes them: the command exits 2 with the reason."""
    began = time.monotonic()
    done = reprocess(
        data, tmp_path / "out", "--workers", "2", "--version", "99"
    )
    log = done.stdout + done.stderr
    assert done.returncode == 2, log[-2000:]
    assert "cannot start" in log and "version 99" in log
    assert time.monotonic() - began < RUN_TIMEOUT / 2
    assert not outputs(tmp_path / "out")


def test_gwdatafind_urls_become_frame_files(data):
    """No gwdatafind server can be reached here: the query function is
    replaced by one answering as the server would (file:// URLs)."""
    asked = []

    def find_urls(site, frame_type, start, end, host, urltype):
        asked.append((site, frame_type, start, end, host, urltype))
        return [
            f"file://localhost{p}"
            for p in data.archive
            if frame_type in p.name
        ]

    found = from_datafind(
        "datafind.example:80", "L", ["L1_llhoft"], stored.GPS, START, find_urls
    )
    assert asked == [
        ("L", "L1_llhoft", stored.GPS, START, "datafind.example:80", "file")
    ]
    assert [f.path for f in found] == [
        str(p) for p in data.archive if "llhoft" in p.name
    ]
    assert {f.duration for f in found} == {stored.FILE_LENGTH}


def test_an_unreachable_or_odd_datafind_server_cannot_start(data):
    """Nothing listens at the address (a real query, refused at once); a
    server listing a path that is not a frame name (a stand-in): each a
    ConfigError naming the server (exit 2 at start-up)."""
    server = f"127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=f"datafind_server='{server}'"):
        from_datafind(server, "L", ["L1_llhoft"], stored.GPS, START)

    def odd(site, frame_type, start, end, host, urltype):
        return ["file://localhost/frames/latest.gwf"]

    with pytest.raises(ConfigError, match="latest.gwf"):
        from_datafind(server, "L", ["L1_llhoft"], stored.GPS, START, odd)


@pytest.mark.parametrize("kind", ["htcondor", "slurm"])
def test_batch_job_script(kind, tmp_path):
    """The job a worker would be submitted as (no HTCondor or Slurm pool
    can exist here: only the generated script is checked)."""
    settings = load_settings(
        cluster=kind,
        job_cores=2,
        job_memory="6GiB",
        job_account="ligo.dev.o4.detchar.deepclean",
        output_dir=tmp_path,
        gps_start=START,
        gps_end=END,
    )
    cluster = job_cluster(settings.engine_config())
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    python = settings.job_config().python
    worker = f"{python} -m distributed.cli.dask_worker tcp://"
    assert worker in script
    # 2 single-threaded workers sharing the job's memory, each under a
    # nanny (which restarts a worker process that dies)
    assert "--nthreads 1 --memory-limit 3.00GiB --nworkers 2" in script
    assert "--nanny" in script.split()
    assert "export OMP_NUM_THREADS=1" in script
    if kind == "htcondor":
        assert "RequestCpus = MY.DaskWorkerCores" in script
        assert "MY.DaskWorkerCores = 2" in script
        assert f"MY.DaskWorkerMemory = {6 * 2**30}" in script
        assert f"MY.DaskWorkerDisk = {4 * 2**30}" in script
        assert "accounting_group = ligo.dev.o4.detchar.deepclean" in script
    else:
        assert "#SBATCH --cpus-per-task=2" in script
        assert "#SBATCH --mem=6G" in script
        assert "#SBATCH -A ligo.dev.o4.detchar.deepclean" in script
        assert "#SBATCH -t 04:00:00" in script


def test_batch_jobs_that_never_start_are_cancelled(tmp_path, monkeypatch):
    """No HTCondor pool can exist here: ``condor_submit`` and ``condor_rm``
    are stand-ins on PATH that queue the jobs (they never start) and
    record what is cancelled. ``connect`` gives up after ``start_timeout``
    with NoWorkers and cancels the jobs it submitted instead of leaving
    them in the queue."""
    bin_dir, record = tmp_path / "bin", tmp_path / "condor.log"
    bin_dir.mkdir()
    for name, body in (
        ("condor_submit", 'echo "1 job(s) submitted to cluster 42."'),
        ("condor_rm", 'echo "All jobs in cluster $1 have been marked"'),
    ):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {record}\n{body}\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    settings = load_settings(
        cluster="htcondor",
        workers=2,
        output_dir=tmp_path / "out",
        gps_start=START,
        gps_end=END,
        start_timeout=3,
    )
    began = time.monotonic()
    with pytest.raises(engine.NoWorkers, match="TimeoutError"):
        engine.connect(settings.engine_config())
    assert time.monotonic() - began < 30
    calls = record.read_text().splitlines()
    assert sum(c.startswith("condor_submit ") for c in calls) == 2
    assert calls.count("condor_rm 42.0") == 2  # both jobs cancelled


def test_a_mislabelled_file_fails_its_chunk_and_strays_are_ignored(
    data, tmp_path
):
    """A file's name is a claim: the middle strain file holds the first
    file's samples (a valid frame, wrong GPS). Its chunk fails, named with
    the file; stray files beside the frames (an unparsable name, a
    temporary file, a folder named like a frame) are passed over."""
    archive = tmp_path / "archive"
    shutil.copytree(data.archive[0].parent, archive)
    middle = stored.GPS + stored.FILE_LENGTH
    name = f"L-L1_llhoft-{middle}-{stored.FILE_LENGTH}.gwf"
    first = f"L-L1_llhoft-{stored.GPS}-{stored.FILE_LENGTH}.gwf"
    shutil.copyfile(archive / first, archive / name)
    (archive / "L-L1_llhoft-latest.gwf").write_bytes(b"not a frame")
    (archive / f".{first}.tmp").write_bytes(b"half written")
    # inside the last chunk's span: read as a frame, it would fail it
    (archive / f"L-L1_llhoft-{middle + 40}-1.gwf").mkdir()
    out = tmp_path / "out"
    done = reprocess(
        data,
        out,
        "--data-dir",
        str(archive),
        "--frame-patterns",
        "L-L1_llhoft-*.gwf",
        "L-L1_lldetchar-*.gwf",
        "--frame-length",
        str(stored.FILE_LENGTH),
        "--workers",
        "1",
        "--retries",
        "0",
        span=(stored.GPS, stored.END),
    )
    log = done.stdout + done.stderr
    assert done.returncode == 1, log[-3000:]
    failed = f"L-L1_HOFT_DEEPCLEAN-{middle}-{stored.FILE_LENGTH}.gwf"
    record = run_record(out)
    assert list(record["failed"]) == [failed], record
    assert name in record["failed"][failed]
    assert len(outputs(out)) == stored.NUM_FILES - 1
    assert "passed over 2 paths that are not frame files" in log
