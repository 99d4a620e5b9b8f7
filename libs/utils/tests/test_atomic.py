"""Atomic writes on real files: a reader never sees a partial file, a failed
write leaves nothing behind, overwriting is explicit."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from utils.atomic import atomic_directory
from utils.atomic import atomic_path
from utils.atomic import move_aside
from utils.atomic import remove_stale_temporaries
from utils.atomic import temporary_path
from utils.atomic import write_bytes
from utils.atomic import write_json
from utils.atomic import write_text
from utils.names import list_frames


def test_temporary_name_is_hidden_unique_and_beside(tmp_path: Path) -> None:
    target = tmp_path / "L-L1_DEEPCLEAN-1400000000-1.gwf"
    first, second = temporary_path(target), temporary_path(target)
    assert first != second
    assert first.parent == tmp_path
    assert first.name.startswith(".") and first.name.endswith(".tmp")
    assert str(os.getpid()) in first.name


def test_write_then_rename(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    with atomic_path(target) as tmp:
        tmp.write_text("half")
        assert not target.exists()  # nothing published while writing
        assert os.listdir(tmp_path) == [tmp.name]
    assert target.read_text() == "half"
    assert os.listdir(tmp_path) == ["state.json"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_text(tmp_path / "page.html", "old")
    with pytest.raises(RuntimeError, match="renderer"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("renderer crashed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["page.html"]


def test_overwrite_is_explicit(tmp_path: Path) -> None:
    target = write_bytes(tmp_path / "a.bin", b"first")
    with pytest.raises(FileExistsError, match="a.bin"):
        write_bytes(target, b"second", overwrite=False)
    assert target.read_bytes() == b"first"
    write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    fresh = write_bytes(tmp_path / "b.bin", b"new", overwrite=False)
    assert fresh.read_bytes() == b"new"


def test_target_appearing_during_the_write_is_not_replaced(
    tmp_path: Path,
) -> None:
    target = tmp_path / "frame.gwf"
    with pytest.raises(FileExistsError):
        with atomic_path(target, overwrite=False) as tmp:
            tmp.write_bytes(b"mine")
            target.write_bytes(b"theirs")  # another writer was quicker
    assert target.read_bytes() == b"theirs"
    assert os.listdir(tmp_path) == ["frame.gwf"]


def test_json_and_fsync(tmp_path: Path) -> None:
    path = write_json(tmp_path / "h.json", {"b": 1, "a": [1, 2]}, fsync=True)
    assert path.read_text().endswith("}\n")
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert path.read_text().index('"a"') < path.read_text().index('"b"')
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert os.listdir(tmp_path) == ["h.json"]


def test_unwritable_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_text(tmp_path / "missing" / "x.txt", "text")


def test_readers_see_whole_files_only(tmp_path: Path) -> None:
    """A reader polling while a writer rewrites a file sees one of the
    complete versions every time, and frame listers never see the
    temporary name."""
    target = tmp_path / "L-L1_DEEPCLEAN-1400000000-1.gwf"
    versions = [bytes([k]) * 200_000 for k in range(1, 21)]
    write_bytes(target, versions[0])
    seen: list[bytes] = []
    listed: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(target.read_bytes())
            listed.append(len(list_frames(tmp_path)))

    reader = threading.Thread(target=read, name="reader")
    reader.start()
    try:
        for data in versions[1:]:
            write_bytes(target, data)
    finally:
        done.set()
        reader.join(timeout=10)
    assert seen and all(data in versions for data in seen)
    assert set(listed) == {1}
    assert target.read_bytes() == versions[-1]


def test_directory_published_whole(tmp_path: Path) -> None:
    final = tmp_path / "1400000000-1400000600"
    with atomic_directory(final) as tmp:
        (tmp / "weights.pt").write_bytes(b"w")
        assert tmp.is_dir() and tmp.name.startswith(".")
        assert not final.exists()
    assert (final / "weights.pt").read_bytes() == b"w"
    assert os.listdir(tmp_path) == [final.name]


def test_directory_overwrite_and_failure(tmp_path: Path) -> None:
    final = tmp_path / "run"
    with atomic_directory(final) as tmp:
        (tmp / "FAILED").write_text("refused\n")
    with pytest.raises(FileExistsError):
        with atomic_directory(final):
            pass
    with pytest.raises(RuntimeError):
        with atomic_directory(final, overwrite=True) as tmp:
            (tmp / "DONE").write_text("")
            raise RuntimeError("training diverged")
    assert os.listdir(final) == ["FAILED"]  # untouched by the failure
    with atomic_directory(final, overwrite=True) as tmp:
        (tmp / "DONE").write_text("")
    assert os.listdir(final) == ["DONE"]
    assert os.listdir(tmp_path) == ["run"]


def test_stale_temporaries_are_removed_live_ones_kept(tmp_path: Path) -> None:
    """What a crashed write left (a file, a folder of atomic_directory)
    an hour ago goes; a write's temporary touched a moment ago, a hidden
    file that is not a temporary and the finished files stay."""
    crashed = temporary_path(tmp_path / "L-L1_X-0-4096.gwf")
    crashed.write_bytes(b"half")
    folder = temporary_path(tmp_path / "model")
    folder.mkdir()
    (folder / "weights.pt").write_bytes(b"w")
    live = temporary_path(tmp_path / "L-L1_X-4096-4096.gwf")
    live.write_bytes(b"writing")
    kept = [tmp_path / ".hidden", tmp_path / "L-L1_X-8192-4096.gwf"]
    for path in kept:
        path.write_bytes(b"x")
    hour_ago = os.stat(live).st_mtime - 3600
    for path in (crashed, folder, *kept):
        os.utime(path, (hour_ago, hour_ago))
    assert remove_stale_temporaries(tmp_path, older_than=600) == 2
    assert sorted(os.listdir(tmp_path)) == sorted(
        [live.name, *(p.name for p in kept)]
    )
    assert remove_stale_temporaries(tmp_path / "nothing", 600) == 0


def test_an_unusable_file_is_moved_aside_or_left(tmp_path, monkeypatch):
    """Renamed ``<name>.bad-<time>`` beside itself, its bytes kept; where
    the rename fails (a read-only disk), left in place, and None."""
    path = tmp_path / "state.json"
    path.write_bytes(b"\0" * 8)
    aside = move_aside(path)
    assert not path.exists() and aside.parent == tmp_path
    assert aside.name.startswith("state.json.bad-")
    assert aside.read_bytes() == b"\0" * 8

    def read_only(*args):
        raise OSError(30, "Read-only file system")

    path.write_text("{")
    monkeypatch.setattr(os, "replace", read_only)
    assert move_aside(path) is None and path.read_text() == "{"
