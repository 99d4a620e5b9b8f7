"""The exception tree of DeepClean online.

::

    DeepCleanError
     ├── ConfigError          bad configuration; fatal at start-up
     ├── FrameError           a problem with one GWF frame (recoverable)
     │    ├── FrameMissing    not there before its deadline
     │    ├── FrameCorrupt    unreadable, or still being written
     │    │    └── FrameMislabelled  its content is of another time
     │    ├── ChannelMissing  readable, but a configured channel is absent
     │    └── BadData         non-finite or malformed samples
     ├── ModelError           a network, its weights or an exported version
     │    └── VerificationError  an export disagrees with its torch network
     ├── DataCheckError       training data failed a pre-training check
     └── ServiceError         a neighbour (Triton, the exporter) failed us

Boundaries catch low-level errors and raise one of these ``from`` them, with a
message that names the path, channel, GPS second or model version.
"""


class DeepCleanError(Exception):
    """Base of every error raised on purpose by DeepClean code."""


class ConfigError(DeepCleanError):
    """Configuration that cannot work; raised at start-up."""


class FrameError(DeepCleanError):
    """A frame could not be used."""


class FrameMissing(FrameError):
    """A frame did not appear before its deadline."""


class FrameCorrupt(FrameError):
    """A frame exists but cannot be read (corrupt, or still being written)."""


class FrameMislabelled(FrameCorrupt):
    """A frame's content (start time, duration) disagrees with its name.

    A file's name is a claim, not a proof: such a file is a stray copy or
    a broken writer's, and the real file may still replace it.
    """


class ChannelMissing(FrameError):
    """A frame was read but lacks a configured channel."""


class BadData(FrameError):
    """A frame holds NaN/inf or samples of the wrong size."""


class ModelError(DeepCleanError):
    """A network, its weights or an exported version is unusable."""


class VerificationError(ModelError):
    """An exported model disagrees with the torch network it came from."""


class DataCheckError(DeepCleanError):
    """Training data failed a check; the message says which and why."""


class ServiceError(DeepCleanError):
    """A neighbouring service failed or could not be reached."""
