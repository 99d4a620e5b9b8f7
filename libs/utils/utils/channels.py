"""Names of the DeepClean output channels and the bits of its state vector.

Every output frame carries the three cleaned channels (docs/architecture.md,
"Output frames"), the
raw strain they were cleaned from (resampled to 4096 Hz, so that the monitor
and any reader compare like with like), and three small tag channels saying
which model versions made the frame and what state it was made in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

STRAIN_RATE = 4096  # Hz, every output channel but the tags
STATE_RATE = 16  # Hz, the DeepClean state vector
VERSION_RATE = 1  # Hz, the version tags


class State(IntFlag):
    """Bits of ``{IFO}:GDS-CALIB_STRAIN_DEEPCLEAN_STATE_VECTOR`` (16 Hz).

    INPUT_OK: the raw second was present (else all channels are zeros).
    INPUT_TAPERED: tapered because a neighbouring second was dropped.
    PRODUCTION_OK: PRODUCTION holds a subtraction by a production model.
    CANARY_OK: CANARY holds a subtraction by a canary model.
    OUT_DQ_ON: the OUT_DQ gate is fully open (subtraction applied).
    OUT_DQ_TAPER: the OUT_DQ gate is opening or closing in this second.
    ANALYSIS_READY: the raw state vector was analysis ready.
    """

    INPUT_OK = 1
    INPUT_TAPERED = 2
    PRODUCTION_OK = 4
    CANARY_OK = 8
    OUT_DQ_ON = 16
    OUT_DQ_TAPER = 32
    ANALYSIS_READY = 64


@dataclass(frozen=True)
class OutputChannels:
    """Full names of the channels of one output frame."""

    ifo: str

    @property
    def prefix(self) -> str:
        return f"{self.ifo}:GDS-CALIB_STRAIN_DEEPCLEAN"

    @property
    def out_dq(self) -> str:
        return f"{self.prefix}_PRODUCTION_OUT_DQ"

    @property
    def production(self) -> str:
        return f"{self.prefix}_PRODUCTION"

    @property
    def canary(self) -> str:
        return f"{self.prefix}_CANARY"

    @property
    def raw(self) -> str:
        return f"{self.prefix}_RAW"

    @property
    def state(self) -> str:
        return f"{self.prefix}_STATE_VECTOR"

    @property
    def production_version(self) -> str:
        return f"{self.prefix}_PRODUCTION_VERSION"

    @property
    def canary_version(self) -> str:
        return f"{self.prefix}_CANARY_VERSION"

    @property
    def strains(self) -> tuple[str, ...]:
        """The 4096 Hz channels: the three products and the raw strain."""
        return (self.out_dq, self.production, self.canary, self.raw)

    @property
    def sample_rates(self) -> dict[str, int]:
        rates = {name: STRAIN_RATE for name in self.strains}
        rates[self.state] = STATE_RATE
        rates[self.production_version] = VERSION_RATE
        rates[self.canary_version] = VERSION_RATE
        return rates
