"""LIGO frame file names: built and parsed in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from utils.errors import ConfigError
from utils.names import FrameName
from utils.names import cleaned_name
from utils.names import gps_of
from utils.names import list_frames
from utils.names import site_of
from utils.names import strain_name
from utils.names import witness_name


def test_names_of_the_frames() -> None:
    assert strain_name("L1", 1400000000) == "L-L1_llhoft-1400000000-1.gwf"
    assert witness_name("H1", 987654321) == "H-H1_lldetchar-987654321-1.gwf"
    assert cleaned_name("L1", 1400000000) == "L-L1_DEEPCLEAN-1400000000-1.gwf"
    assert (
        cleaned_name("L1", 1400000000, 4096)
        == "L-L1_DEEPCLEAN-1400000000-4096.gwf"
    )


@pytest.mark.parametrize(
    "name",
    [
        "L-L1_llhoft-1400000000-1.gwf",
        "H-H1_lldetchar-1400000123-1.gwf",
        "L-L1_DEEPCLEAN-1400000000-4096.gwf",
    ],
)
def test_round_trip(name: str) -> None:
    parsed = FrameName.parse(Path("/some/folder") / name)
    assert parsed.filename == name
    assert FrameName(*vars(parsed).values()) == parsed
    assert gps_of(name) == int(name.split("-")[2])


@pytest.mark.parametrize(
    "name",
    [
        "L-L1_llhoft-1400000000-1.gwf.tmp",  # temporary name
        ".L-L1_llhoft-1400000000-1.gwf.123.tmp",  # hidden temporary
        "L-L1-llhoft-1400000000-1.gwf",  # dash in the description
        "l-L1_llhoft-1400000000-1.gwf",  # lower-case site
        "L-L1_llhoft-14000000x0-1.gwf",  # not a number
        "L-L1_llhoft-1400000000-0.gwf",  # zero duration
        "L-L1_llhoft-1400000000-1.txt",
        "L-L1_llhoft-14000-1.gwf",  # GPS before 1983
        "L-L1_llhoft-1400000000.gwf",  # no duration
        "",
    ],
)
def test_malformed_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        FrameName.parse(name)


def test_invalid_parts_are_rejected() -> None:
    with pytest.raises(ValueError):
        FrameName("L", "L1-llhoft", 1400000000)
    with pytest.raises(ValueError):
        FrameName("L", "L1_llhoft", 1400000000, 0)


@pytest.mark.parametrize("ifo", ["L", "l1", "LL1", "1L", ""])
def test_bad_ifo(ifo: str) -> None:
    with pytest.raises(ConfigError):
        site_of(ifo)
    with pytest.raises(ConfigError):
        strain_name(ifo, 1400000000)


def test_list_frames_sorted_filtered_hidden_and_folders_skipped(
    tmp_path: Path,
) -> None:
    names = [
        cleaned_name("L1", 1400000002),
        cleaned_name("L1", 999999999),  # 9 digits: sorts by GPS, not name
        cleaned_name("L1", 1400000000, 4096),
        strain_name("L1", 1400000001),
        "." + cleaned_name("L1", 1400000003) + ".123.abcd.tmp",  # writing
        cleaned_name("L1", 1400000004) + ".tmp",
        "README",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    # a folder named like a frame, and a link to one: no data
    (tmp_path / cleaned_name("L1", 1400000005)).mkdir()
    (tmp_path / cleaned_name("L1", 1400000006)).symlink_to(
        tmp_path / cleaned_name("L1", 1400000005)
    )
    found = list_frames(tmp_path)
    assert [f.gps for f in found] == [
        999999999,
        1400000000,
        1400000001,
        1400000002,
    ]
    for f in found:
        name = FrameName(f.site, f.description, f.gps, f.duration)
        assert f.path == str(tmp_path / name.filename)
    assert found[1].stop == 1400000000 + 4096
    cleaned = list_frames(tmp_path, "L1_DEEPCLEAN")
    assert [Path(f.path).name for f in cleaned] == [
        names[1],
        names[2],
        names[0],
    ]
    assert list_frames(tmp_path, "H1_DEEPCLEAN") == []


def test_list_frames_of_a_missing_or_unlistable_folder(tmp_path: Path) -> None:
    assert list_frames(tmp_path / "absent") == []
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(OSError):
        list_frames(not_a_folder)
