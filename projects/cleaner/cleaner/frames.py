"""What one second becomes on its way through the cleaner.

::

    Second (utils.stream) -> CleanedSecond -> gate -> OutputFrame -> carousel
                             (subtracted)              (what is written)

:func:`to_frame` turns the gate's verdict on a :class:`CleanedSecond` into
the :class:`OutputFrame` written for it, with its state bits and version
tags. Used by the streaming cleaner (:mod:`cleaner.cleaning`), the one-shot
one (:mod:`cleaner.offline`) and the writer (:mod:`cleaner.writer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from utils.channels import State
from utils.stream import Second

if TYPE_CHECKING:
    from cleaner.gate import GatedSecond


@dataclass(frozen=True)
class CleanedSecond:
    """One second after subtraction, before the gate.

    Attributes:
        gps: GPS start.
        raw: ``(4096,)`` resampled raw strain (zeros if dropped).
        production: ``(4096,)`` strain minus band-passed production noise.
        canary: ``(4096,)`` strain minus band-passed canary noise.
        production_ok: a production model predicted every sample.
        canary_ok: a canary model predicted every sample.
        production_version: version of most of the second's samples.
        canary_version: likewise.
        source: the resampled input second.
    """

    gps: int
    raw: np.ndarray
    production: np.ndarray
    canary: np.ndarray
    production_ok: bool
    canary_ok: bool
    production_version: int
    canary_version: int
    source: Second


@dataclass(frozen=True)
class OutputFrame:
    """Everything written for one GPS second.

    Attributes:
        gps: GPS start.
        out_dq: ``(4096,)`` the gated product.
        production: ``(4096,)`` always cleaned by production.
        canary: ``(4096,)`` cleaned by the canary.
        raw: ``(4096,)`` the resampled raw strain that was cleaned.
        state: bits of :class:`utils.channels.State`.
        production_version: version tag (0: none).
        canary_version: version tag (0: none).
        seen_at: wall time the raw frame was seen (None: dropped).
        gate_reason: why OUT_DQ is not fully PRODUCTION in this second
            (None: it is; :mod:`cleaner.gate`).
    """

    gps: int
    out_dq: np.ndarray
    production: np.ndarray
    canary: np.ndarray
    raw: np.ndarray
    state: State
    production_version: int
    canary_version: int
    seen_at: float | None
    gate_reason: str | None = None


def version_tag(versions: np.ndarray) -> tuple[bool, int]:
    """(every sample has a model, the version of most samples)."""
    values, counts = np.unique(versions, return_counts=True)
    return bool(np.all(versions > 0)), int(values[np.argmax(counts)])


def to_frame(gated: GatedSecond[CleanedSecond]) -> OutputFrame:
    """The output frame of a gated second, with its state bits and tags."""
    record, source = gated.record, gated.record.source
    state = State(0)
    flags = (
        (State.INPUT_OK, not source.dropped),
        (State.INPUT_TAPERED, source.tapered),
        (State.PRODUCTION_OK, record.production_ok and not source.dropped),
        (State.CANARY_OK, record.canary_ok and not source.dropped),
        (State.OUT_DQ_ON, gated.on),
        (State.OUT_DQ_TAPER, gated.taper),
        (State.ANALYSIS_READY, source.ready),
    )
    for bit, on in flags:
        if on:
            state |= bit
    dropped = source.dropped
    return OutputFrame(
        gps=record.gps,
        out_dq=gated.out_dq,
        production=record.production,
        canary=record.canary,
        raw=record.raw,
        state=state,
        production_version=0 if dropped else record.production_version,
        canary_version=0 if dropped else record.canary_version,
        seen_at=source.seen_at,
        gate_reason=gated.reason,
    )
