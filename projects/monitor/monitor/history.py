"""What the status page plots: a bounded in-memory history.

Per processed second: presence, INPUT_OK, OUT_DQ gate state, version tags
and latency; gaps (seconds missing from the carousel) as intervals; the
newest ``psd_length`` seconds of strain for the spectra; and one
inspiral-range point per status render. Everything is bounded by
``history_length`` seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from monitor.frames import SecondData
from utils.channels import State


@dataclass(frozen=True)
class SecondRecord:
    """Summary of one processed second.

    Attributes:
        gps: GPS second.
        input_ok: every state sample has INPUT_OK (else a dropped input).
        out_dq_on: fraction of the second with the OUT_DQ gate fully open.
        out_dq_taper: fraction with the gate opening or closing.
        production_version, canary_version: the frame's tags.
        latency: s, frame file mtime minus the end of the GPS second.
    """

    gps: int
    input_ok: bool
    out_dq_on: float
    out_dq_taper: float
    production_version: int
    canary_version: int
    latency: float


class History:
    """Bounded history of the stream.

    Args:
        history_length: s of per-second records and gaps kept.
        psd_length: s of newest strain kept for spectra.
    """

    def __init__(self, history_length: int, psd_length: int) -> None:
        self.history_length = history_length
        self.records: deque[SecondRecord] = deque(maxlen=history_length)
        self.gaps: deque[tuple[int, int]] = deque()
        self.recent: deque[SecondData] = deque(maxlen=psd_length)
        self.ranges: deque[tuple[int, dict[str, float]]] = deque(
            maxlen=history_length
        )
        self.dropped_total = 0
        self.missing_total = 0
        # the stream's first second held, the newest seen, and how many
        # records were added since that first one (a rewind starts over)
        self._first: int | None = None
        self._last: int | None = None
        self._added = 0

    def add(self, second: SecondData) -> SecondRecord:
        """Record a processed second."""
        record = SecondRecord(
            gps=second.gps,
            input_ok=second.all_set(State.INPUT_OK),
            out_dq_on=second.fraction_set(State.OUT_DQ_ON),
            out_dq_taper=second.fraction_set(State.OUT_DQ_TAPER),
            production_version=second.production_version,
            canary_version=second.canary_version,
            latency=second.latency,
        )
        self.records.append(record)
        self._seen(second.gps, second.gps)
        self._added += 1
        self.recent.append(second)
        if not record.input_ok:
            self.dropped_total += 1
        self._trim(second.gps)
        return record

    def add_gap(self, start: int, stop: int) -> None:
        """Record seconds ``[start, stop)`` missing from the carousel."""
        self.gaps.append((start, stop))
        self._seen(start, stop - 1)
        self.missing_total += stop - start
        self._trim(stop)

    def _seen(self, first: int, last: int) -> None:
        """Seconds ``first..last`` were processed (a record or a gap)."""
        if self._last is not None and first <= self._last:  # GPS went back
            self._first, self._added = None, 0
        if self._first is None:
            self._first = first
        self._last = last

    @property
    def since(self) -> int | None:
        """The first second the history holds of the current stream (a
        record or a gap): the first this run saw, or since GPS last went
        back, or, once that many records filled it, the oldest kept
        (None: nothing yet)."""
        if self._first is None:
            return None
        if self._added >= (self.records.maxlen or 0):
            return max(self._first, self.records[0].gps)
        return self._first

    def add_ranges(self, gps: int, ranges: dict[str, float]) -> None:
        """Record one inspiral-range point (Mpc per series)."""
        self.ranges.append((gps, ranges))

    def _trim(self, newest: int) -> None:
        oldest = newest - self.history_length
        while self.gaps and self.gaps[0][1] < oldest:
            self.gaps.popleft()
        while self.ranges and self.ranges[0][0] < oldest:
            self.ranges.popleft()

    def contiguous_recent(self, channels: tuple[str, ...]) -> dict | None:
        """The newest contiguous run of recent seconds with INPUT_OK.

        Returns:
            ``{"gps": start, "data": {channel: array}}`` or ``None``.
        """
        run: list[SecondData] = []
        for second in reversed(self.recent):
            if not second.all_set(State.INPUT_OK):
                break
            if run and second.gps != run[-1].gps - 1:
                break
            run.append(second)
        if not run:
            return None
        run.reverse()
        data = {
            c: np.concatenate([s.strains[c] for s in run]) for c in channels
        }
        return {"gps": run[0].gps, "data": data}

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-second records as arrays (one entry per field)."""
        fields = SecondRecord.__dataclass_fields__
        return {
            name: np.array([getattr(r, name) for r in self.records])
            for name in fields
        }
