"""The train-now request between the monitor and the trainer: written
atomically, taken once, and a malformed file is moved aside, never
acted on."""

import json

import pytest

from utils.train_request import request_path
from utils.train_request import take_request
from utils.train_request import write_request


def test_a_request_is_taken_once(tmp_path):
    assert take_request(tmp_path) is None
    write_request(tmp_path, 1400000000, 3, 0.7, 0.2, "first")
    write_request(tmp_path, 1400000010, 3, 0.8, 0.2, "second")  # replaces
    taken = take_request(tmp_path)
    assert taken == {
        "gps": 1400000010,
        "production_version": 3,
        "ratio": 0.8,
        "baseline": 0.2,
        "reason": "second",
    }
    assert take_request(tmp_path) is None
    assert not request_path(tmp_path).exists()
    assert not list(request_path(tmp_path).parent.glob(".*"))  # no temp


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{",
        json.dumps({"gps": 1, "production_version": 1, "ratio": 0.5}),
        json.dumps(
            {
                "gps": True,
                "production_version": 1,
                "ratio": 0.5,
                "baseline": 0.2,
                "reason": "x",
            }
        ),
        json.dumps(
            {
                "gps": 1,
                "production_version": 1,
                "ratio": 0.5,
                "baseline": 0.2,
                "reason": "x" * 5000,
            }
        ),
    ],
    ids=["list", "truncated", "missing", "bool", "oversize"],
)
def test_a_malformed_request_is_moved_aside(tmp_path, text, caplog):
    path = request_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert take_request(tmp_path) is None
    assert not path.exists()
    assert len(list(path.parent.glob("train-now.json.bad-*"))) == 1
    assert "not a train-now request" in caplog.text
