"""Settings that several services share, declared and described once.

A service's settings dataclass inherits the groups it has (their fields
come first, in the order of the bases from last to first) and is
decorated with :func:`documented`, which gives it the ``Args:`` typeo
shows as ``--help`` for every field: the class's own description of a
field where it has one (a service may say more of a shared setting),
else the group's. A group's rules are a method of it, for the settings
class to list among its own (:func:`utils.settings.check_rules`);
:class:`TrainingFields` are checked by
:class:`utils.nn.config.TrainConfig`, which inherits them.

No ``from __future__ import annotations`` here: typeo reads the real
annotation objects of the fields.
"""

import re
from dataclasses import dataclass
from dataclasses import fields
from pathlib import Path
from typing import List, Tuple

from utils.runs import train_dir
from utils.settings import Rule
from utils.settings import sub_config
from utils.stream import PreprocessConfig

DEVICE = re.compile(r"cpu|cuda(:\d+)?")  # the torch devices that train
_ARGS = "Args:\n"
_NAME = re.compile(r" {8}(\w+):")  # typeo: 8 spaces, then "name:"
_TEXT = " " * 12  # typeo: a description line


@dataclass(frozen=True)
class ProjectFields:
    """The DeepClean project folder, and the one home of its layout
    (docs/architecture.md, ``$PROJECT_DIR``).

    Args:
        project_dir:
            DeepClean project folder (logs/, train/, carousel/, monitor/).
    """

    project_dir: Path

    @property
    def log_dir(self) -> Path:
        """Every service's log, ``<prog>.log``."""
        return self.project_dir / "logs"

    @property
    def train_dir(self) -> Path:
        """The training runs (:mod:`utils.runs`)."""
        return train_dir(self.project_dir)

    @property
    def carousel_dir(self) -> Path:
        """The cleaned frames, written by the cleaner."""
        return self.project_dir / "carousel"

    @property
    def monitor_dir(self) -> Path:
        """The monitor's state and status page."""
        return self.project_dir / "monitor"

    @property
    def spool_dir(self) -> Path:
        """Frames on their way to the archive (hard links: on the
        carousel's filesystem, whatever the archive's is)."""
        return self.project_dir / "archive" / ".spool"


@dataclass(frozen=True)
class ChannelFields:
    """The channels of one interferometer.

    Args:
        ifo:
            Interferometer, e.g. L1.
        strain_channel:
            Full name of the strain channel, e.g. L1:GDS-CALIB_STRAIN.
        state_channel:
            Full name of the raw state vector (analysis-ready bits).
        witness_channels:
            Full witness names, in the network's input order.
    """

    ifo: str
    strain_channel: str
    state_channel: str
    witness_channels: List[str]

    def channel_rules(self) -> List[Rule]:
        """``strain_channel``, ``state_channel`` and ``witness_channels``
        (one or more) are channels of ``ifo``."""
        ifo = self.ifo
        channels = (self.strain_channel, self.state_channel)
        of_ifo = [c.startswith(f"{ifo}:") for c in channels]
        witnesses = [c.startswith(f"{ifo}:") for c in self.witness_channels]
        return [
            ("strain_channel", of_ifo[0], f"a channel of ifo={ifo!r}"),
            ("state_channel", of_ifo[1], f"a channel of ifo={ifo!r}"),
            (
                "witness_channels",
                len(witnesses) > 0 and all(witnesses),
                f"one or more channels, all of ifo={ifo!r}",
            ),
        ]


@dataclass(frozen=True)
class BandFields:
    """The rate the network runs at and the band it cleans.

    Args:
        sample_rate:
            Hz everything is resampled to (the network's rate).
        freq_low:
            Hz, lower edge of the cleaned band.
        freq_high:
            Hz, upper edge of the cleaned band.
        filter_order:
            Butterworth order of the band-pass (even).
        filter_margin:
            Hz the band-pass of the network's target and predictions
            reaches beyond each edge of the band: coupled noise in the
            filter's transition is learned too, and the cleaner subtracts
            the margins only at the gain its tracker fits on the recent
            past (none where they would add power); 0: the band alone.
    """

    sample_rate: int
    freq_low: float
    freq_high: float
    filter_order: int
    filter_margin: float

    @property
    def filter_band(self) -> Tuple[float, float]:
        """Hz, the band with its margins: what the network learns."""
        return (
            self.freq_low - self.filter_margin,
            self.freq_high + self.filter_margin,
        )

    def band_rules(self) -> List[Rule]:
        """The band ``freq_low`` .. ``freq_high`` (Hz), with its margins,
        lies below the Nyquist frequency of ``sample_rate``; the band-pass
        is a Butterworth filter of an even order."""
        low, high, rate = self.freq_low, self.freq_high, self.sample_rate
        band = f"0 < freq_low < freq_high={high!r}"
        nyquist = f"< sample_rate / 2 = {rate / 2:g} Hz"
        margin = self.filter_margin
        return [
            ("sample_rate", rate > 0, "> 0 Hz"),
            ("freq_low", 0 < low < high, band),
            ("freq_high", high < rate / 2, nyquist),
            (
                "filter_margin",
                0 <= margin < low and high + margin < rate / 2,
                f"in [0, freq_low={low!r}) Hz and freq_high + it {nyquist}",
            ),
            (
                "filter_order",
                self.filter_order > 0 and self.filter_order % 2 == 0,
                "a positive even number",
            ),
        ]


@dataclass(frozen=True)
class StreamFields:
    """Following the live frames (:class:`utils.follower.StreamConfig`).

    Args:
        ready_mask:
            State-vector bits that must all be set (analysis ready).
        frame_timeout:
            Seconds after a frame is due before it counts as dropped.
        max_consecutive_drops:
            Dropped seconds in a row reported as stream down.
        start_timeout:
            Seconds to wait for the first raw frame.
    """

    ready_mask: int
    frame_timeout: float
    max_consecutive_drops: int
    start_timeout: float

    def stream_rules(self) -> List[Rule]:
        """The live input stream's settings are usable."""
        return [
            ("ready_mask", self.ready_mask >= 0, ">= 0"),
            ("frame_timeout", self.frame_timeout > 0, "> 0 s"),
            (
                "max_consecutive_drops",
                self.max_consecutive_drops >= 1,
                ">= 1",
            ),
            ("start_timeout", self.start_timeout > 0, "> 0 s"),
        ]


@dataclass(frozen=True)
class PreprocessFields:
    """Preprocessing of the raw seconds (:class:`utils.stream.Preprocessor`),
    the same for the cleaner and the trainer: a model is trained on data
    prepared as it is served.

    Args:
        resample_context_length:
            Whole seconds of resampling context on each side of a second
            (adds as much latency).
        drop_lookahead_length:
            1: hold a second to taper it before a dropped one (1 s
            latency); 0: no taper out.
        drop_taper_length:
            Seconds of the Hann ramps next to a drop.
    """

    resample_context_length: int
    drop_lookahead_length: int
    drop_taper_length: float

    def preprocess_rules(self) -> List[Rule]:
        """The preprocessing's lengths are usable."""
        return [
            (
                "resample_context_length",
                self.resample_context_length >= 0,
                ">= 0 (whole seconds)",
            ),
            (
                "drop_lookahead_length",
                self.drop_lookahead_length in (0, 1),
                "0 or 1 (whole seconds)",
            ),
            (
                "drop_taper_length",
                0 < self.drop_taper_length <= 1,
                "in (0, 1] s",
            ),
        ]

    def preprocess_config(self) -> PreprocessConfig:
        """Of a settings class that also has ``sample_rate`` and
        ``ready_mask`` (:class:`BandFields`, :class:`StreamFields`)."""
        taper_length = self.drop_taper_length
        return sub_config(PreprocessConfig, self, taper_length=taper_length)


@dataclass(frozen=True)
class TrainingFields:
    """How a network is trained (:func:`utils.nn.train.train`).

    Args:
        kernel_length:
            Seconds per training kernel (random crops of the data).
        kernel_stride:
            Seconds between training kernel starts.
        batch_size:
            Kernels per optimiser step.
        lr:
            Adam learning rate from scratch.
        fine_tune_decay:
            Learning-rate factor when warm-starting from the previous
            network.
        weight_decay:
            Adam weight decay.
        max_epochs:
            Most epochs per run.
        patience:
            Epochs without a better validation loss before stopping.
        min_improvement:
            Relative validation-loss improvement that resets patience.
        lr_patience:
            Epochs without improvement before the learning rate is cut.
        lr_factor:
            Factor of each learning-rate cut.
        valid_fraction:
            Last fraction of the data kept for validation.
        device:
            Torch device of the training: cpu, cuda or cuda:N.
    """

    kernel_length: float
    kernel_stride: float
    batch_size: int
    lr: float
    fine_tune_decay: float
    weight_decay: float
    max_epochs: int
    patience: int
    min_improvement: float
    lr_patience: int
    lr_factor: float
    valid_fraction: float
    device: str

    def training_rules(self) -> List[Rule]:
        """Each training setting is usable on its own (how they fit the
        sample rate: :class:`utils.nn.config.TrainConfig`)."""
        return [
            ("kernel_length", self.kernel_length > 0, "> 0 s"),
            ("kernel_stride", self.kernel_stride > 0, "> 0 s"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("fine_tune_decay", 0 < self.fine_tune_decay <= 1, "in (0, 1]"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("max_epochs", self.max_epochs >= 1, ">= 1"),
            ("patience", self.patience >= 1, ">= 1"),
            ("min_improvement", 0 <= self.min_improvement < 1, "in [0, 1)"),
            ("lr_patience", self.lr_patience >= 0, ">= 0"),
            ("lr_factor", 0 < self.lr_factor < 1, "in (0, 1)"),
            ("valid_fraction", 0 < self.valid_fraction < 1, "in (0, 1)"),
            (
                "device",
                DEVICE.fullmatch(self.device) is not None,
                "cpu, cuda or cuda:N",
            ),
        ]


def _descriptions(doc: str | None) -> tuple[str, dict[str, list[str]]]:
    """A docstring's text before ``Args:``, and each argument's lines."""
    head, _, args = (doc or "").partition(_ARGS)
    described: dict[str, list[str]] = {}
    lines = None
    for line in args.splitlines():
        name = _NAME.fullmatch(line)
        if name is not None:
            lines = described.setdefault(name[1], [])
        elif lines is not None and line.startswith(_TEXT):
            lines.append(line)
        elif line.strip():  # "Returns:" or the like: the end of Args
            lines = None
    return head, described


def documented(cls: type) -> type:
    """Give the settings dataclass ``cls`` an ``Args:`` entry for every
    field, in field order: its own docstring's, else the first base's
    along its MRO that describes it.

    Raises:
        TypeError: a field no class describes (at import: a setting
            without ``--help`` cannot ship).
    """
    head, own = _descriptions(cls.__dict__.get("__doc__"))
    found = [own] + [_descriptions(b.__doc__)[1] for b in cls.__mro__[1:]]
    entries = []
    for field in fields(cls):
        lines = next((d[field.name] for d in found if field.name in d), None)
        if not lines:
            raise TypeError(f"{cls.__name__}.{field.name} is not described")
        entries += [f"        {field.name}:", *lines]
    cls.__doc__ = head.rstrip() + "\n\n    " + _ARGS + "\n".join(entries)
    return cls
