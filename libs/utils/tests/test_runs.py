"""The run-folder contract: names built and parsed in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from utils.runs import parse_run_name
from utils.runs import run_name
from utils.runs import train_dir


def test_name_round_trip() -> None:
    name = run_name(1400000000, 1400004096)
    assert name == "1400000000-1400004096"
    assert parse_run_name(name) == (1400000000, 1400004096)
    assert parse_run_name(run_name(0, 1)) == (0, 1)


def test_train_dir_is_under_the_project() -> None:
    assert train_dir(Path("/p")) == Path("/p/train")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1400000000",
        "1400000000-",
        "-1400004096",
        "a-b",
        "1400004096-1400000000",  # stop before start
        "5-5",  # empty span
        "1400000000-1400004096\n",  # a trailing newline ($ would match)
        "1400000000-1400004096/..",
        "../1400000000-1400004096",
        "/abs/1400000000-1400004096",
        "1400000000_1400004096",
        "+1-2",
        " 1-2",
        "1-2 ",
        "1.0-2",
        "\u0661\u0662-\u0661\u0663",  # Arabic-Indic digits: int() takes them
        "12345678901-12345678902",  # 11 digits
    ],
)
def test_not_a_run_name(name: str) -> None:
    assert parse_run_name(name) is None


def test_parse_refuses_non_strings() -> None:
    assert parse_run_name(12) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "span", [(5, 5), (6, 5), (-1, 5), (1.5, 3), (0, 10**10)]
)
def test_run_name_refuses_impossible_spans(span: tuple) -> None:
    with pytest.raises(ValueError):
        run_name(*span)
