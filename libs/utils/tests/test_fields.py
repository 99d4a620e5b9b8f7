"""utils.fields: shared settings declared once, documented for typeo."""

import dataclasses
from pathlib import Path

import pytest
from hermes.typeo.typeo import _parse_doc
from hermes.typeo.typeo import _parse_help

from utils.fields import BandFields
from utils.fields import ChannelFields
from utils.fields import ProjectFields
from utils.fields import StreamFields
from utils.fields import documented
from utils.testing import REPO_ROOT


@documented
@dataclasses.dataclass(frozen=True)
class Example(BandFields, ChannelFields):
    """Do something.

    Args:
        rate_limit:
            Calls per second,
            at most.
        sample_rate:
            Hz of this service's output.
        verbose:
            Log at DEBUG.

    Returns:
        Nothing of interest.
    """

    rate_limit: float
    verbose: bool = False


def help_of(cls: type, name: str) -> str:
    """What typeo shows as ``--help`` of ``name``."""
    return _parse_help(_parse_doc(cls)[1], name).strip()


def listed(cls: type) -> list[str]:
    """The names the ``Args:`` typeo reads describe, in order."""
    args = _parse_doc(cls)[1]
    return [
        line.strip().rstrip(":")
        for line in args.splitlines()
        if line.startswith(" " * 8) and not line.startswith(" " * 9)
    ]


def test_fields_of_the_groups_come_first_then_the_own():
    names = [f.name for f in dataclasses.fields(Example)]
    assert names[:4] == [
        "ifo",
        "strain_channel",
        "state_channel",
        "witness_channels",
    ]
    assert names[4:9] == [
        "sample_rate",
        "freq_low",
        "freq_high",
        "filter_order",
        "filter_margin",
    ]
    assert names[9:] == ["rate_limit", "verbose"]


def test_every_field_is_described_once_in_field_order():
    assert listed(Example) == [f.name for f in dataclasses.fields(Example)]


def test_an_own_description_wins_over_the_groups():
    assert help_of(Example, "sample_rate") == "Hz of this service's output."
    assert help_of(Example, "rate_limit") == "Calls per second, at most."
    assert help_of(Example, "verbose") == "Log at DEBUG."


def test_a_field_the_class_does_not_describe_gets_its_groups_text():
    assert help_of(Example, "ifo") == "Interferometer, e.g. L1."
    assert help_of(Example, "freq_low") == help_of(BandFields, "freq_low")
    assert Example.__doc__.startswith("Do something.")


def test_a_field_nobody_describes_is_refused_at_import():
    with pytest.raises(TypeError, match="Bare.rate_limit is not described"):

        @documented
        @dataclasses.dataclass(frozen=True)
        class Bare(ChannelFields):
            """Nothing about rate_limit."""

            rate_limit: float


def failing(rules: list) -> list[str]:
    """The names of the rules that do not hold."""
    return [name for name, holds, _ in rules if not holds]


def channels(strain: str, *witnesses: str) -> ChannelFields:
    return ChannelFields(
        ifo="L1",
        strain_channel=strain,
        state_channel="L1:GDS-CALIB_STATE_VECTOR",
        witness_channels=list(witnesses),
    )


def test_channels_must_be_of_the_ifo():
    good = channels("L1:GDS-CALIB_STRAIN", "L1:PEM-A")
    assert failing(good.channel_rules()) == []
    bad = channels("H1:GDS-CALIB_STRAIN")  # and no witness
    assert failing(bad.channel_rules()) == [
        "strain_channel",
        "witness_channels",
    ]
    other = channels("L1:GDS-CALIB_STRAIN", "L1:PEM-A", "H1:PEM-B")
    assert failing(other.channel_rules()) == ["witness_channels"]


@pytest.mark.parametrize(
    "band, broken",
    [
        ((4096, 58.0, 62.0, 8, 0.5), []),
        ((4096, 58.0, 62.0, 8, 0.0), []),
        ((4096, 55.0, 2048.0, 8, 0.0), ["freq_high", "filter_margin"]),
        ((4096, 62.0, 58.0, 8, 0.5), ["freq_low"]),
        (
            (0, 58.0, 62.0, 8, 0.5),
            ["sample_rate", "freq_high", "filter_margin"],
        ),
        ((4096, 58.0, 62.0, 7, 0.5), ["filter_order"]),
        ((4096, 58.0, 62.0, 0, 0.5), ["filter_order"]),
        ((4096, 58.0, 62.0, 8, -0.5), ["filter_margin"]),
        ((4096, 58.0, 62.0, 8, 58.0), ["filter_margin"]),
        ((4096, 58.0, 2047.75, 8, 0.5), ["filter_margin"]),
    ],
)
def test_band_rules(band, broken):
    assert failing(BandFields(*band).band_rules()) == broken


def test_the_filter_band_is_the_band_with_its_margins():
    assert BandFields(4096, 58.0, 62.0, 8, 0.5).filter_band == (57.5, 62.5)
    assert BandFields(4096, 58.0, 62.0, 8, 0.0).filter_band == (58.0, 62.0)


def test_stream_rules():
    stream = StreamFields(
        ready_mask=-1,
        frame_timeout=0,
        max_consecutive_drops=1,
        start_timeout=1,
    )
    assert failing(stream.stream_rules()) == ["ready_mask", "frame_timeout"]
    calm = dataclasses.replace(stream, ready_mask=3, frame_timeout=2.0)
    assert failing(calm.stream_rules()) == []


def test_the_project_layout_is_the_documented_one():
    """Every folder of ProjectFields is a top-level entry of
    docs/architecture.md's ``$PROJECT_DIR`` tree (what users read)."""
    doc = (REPO_ROOT / "docs" / "architecture.md").read_text()
    tree = doc.split("## `$PROJECT_DIR`", 1)[1].split("```")[1]
    lines = [line for line in tree.splitlines() if line[:1].strip()]
    listed = {line.split("/", 1)[0] for line in lines}
    project = ProjectFields(Path("/p"))
    folders = {
        "logs": project.log_dir,
        "train": project.train_dir,
        "carousel": project.carousel_dir,
        "monitor": project.monitor_dir,
        "archive": project.spool_dir.parent,
    }
    for name, path in folders.items():
        assert name in listed
        assert path == Path("/p", name)
