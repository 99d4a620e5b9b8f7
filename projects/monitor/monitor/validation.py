"""Canary validation: is the canary's cleaning better than nothing?

Each canary version ``v`` gets one window of ``window_length`` seconds made
ONLY of seconds that ``v`` cleaned: every state sample has INPUT_OK and
CANARY_OK, the CANARY_VERSION tag is ``v`` (not 0) and differs from the
PRODUCTION_VERSION tag. Other seconds neither count nor reset the window;
they only break the contiguity of the Welch segments. A new canary version
restarts validation from zero.

The ASD ratio is a Welch (mean) average over every complete segment
(``fftlength`` long, ``overlap`` apart) that lies inside a run of
contiguous qualifying seconds: ``mean over band bins of sqrt(sum P_canary /
sum P_raw)``. It is accumulated incrementally, so its state is a few
numbers per band bin (persisted in ``state.json``) plus the samples of the
unfinished segment, stored as the GPS seconds they came from and re-read
from the frames after a restart.

When the window is full the verdict is final: ``validated`` (ratio below
``ratio_threshold``) or ``rejected``. A version is never validated on less
than a full window. The verdicts of the :data:`KEPT_VERDICTS` newest
versions are kept (and saved), so the state stays small.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import signal as sp_signal

from monitor.frames import SecondData
from utils.channels import OutputChannels, State
from utils.errors import ConfigError

logger = logging.getLogger(__name__)

QUALIFYING = State.INPUT_OK | State.CANARY_OK
COLLECTING, VALIDATED, REJECTED = "collecting", "validated", "rejected"
# verdicts kept (memory and state.json): those of the newest versions judged;
# a canary version seen again after it was judged keeps its verdict as long
# as fewer than this many newer versions were judged since
KEPT_VERDICTS = 20


@dataclass(frozen=True)
class ValidationConfig:
    """Canary validation: ASD ratio of CANARY vs RAW over the band.

    Attributes:
        window_length: s of data this canary cleaned that make one full
            validation window (one value, used everywhere).
        ratio_threshold: promote when the window's ASD ratio is below it.
        freq_low, freq_high: band, Hz.
        fftlength, overlap: Welch segment and overlap, s.
        sample_rate: Hz of the CANARY and RAW channels.
    """

    window_length: int
    ratio_threshold: float
    freq_low: float
    freq_high: float
    fftlength: float
    overlap: float
    sample_rate: int

    def __post_init__(self) -> None:
        for name in ("fftlength", "overlap"):
            size = getattr(self, name) * self.sample_rate
            if abs(size - round(size)) > 1e-9:
                raise ConfigError(
                    f"{name}={getattr(self, name)!r}: whole samples at "
                    f"{self.sample_rate} Hz"
                )

    @property
    def segment_size(self) -> int:
        """Samples per Welch segment."""
        return int(round(self.fftlength * self.sample_rate))

    @property
    def step_size(self) -> int:
        """Samples between the starts of consecutive segments."""
        return self.segment_size - int(round(self.overlap * self.sample_rate))


@dataclass(frozen=True)
class Verdict:
    """The end of one version's validation."""

    version: int
    validated: bool
    ratio: float
    seconds: int
    gps: int


class CanaryValidator:
    """Accumulates the validation window of the current canary version.

    Args:
        config: window, band and Welch parameters.
        channels: output channel names.
        state: what :meth:`to_state` returned before a restart, or ``None``.
        reread: GPS seconds -> their frames, or ``None`` if one is
            unavailable (used once, after a restart).
    """

    def __init__(
        self,
        config: ValidationConfig,
        channels: OutputChannels,
        state: dict | None = None,
        reread: Callable[[list[int]], list[SecondData] | None] | None = None,
    ) -> None:
        self.config = config
        self.channels = channels
        freqs = np.fft.rfftfreq(config.segment_size, 1 / config.sample_rate)
        self.band = (freqs >= config.freq_low) & (freqs <= config.freq_high)
        self.verdicts: dict[int, dict] = {}
        self._reset(None)
        if state:
            self._load(state, reread)

    def _reset(self, version: int | None) -> None:
        self.version = version
        self.status = COLLECTING
        self.seconds = 0
        self.segments = 0
        self.first_gps: int | None = None
        self.sum_canary = np.zeros(int(self.band.sum()))
        self.sum_raw = np.zeros(int(self.band.sum()))
        self._tail_gps: list[int] = []
        self._tail: tuple[np.ndarray, np.ndarray] | None = None
        self._break()

    @property
    def ratio(self) -> float:
        """Current ASD ratio of the window (NaN before any segment)."""
        if self.segments == 0:
            return float("nan")
        ok = self.sum_raw > 0
        if not ok.any():
            return 1.0
        return float(np.mean(np.sqrt(self.sum_canary[ok] / self.sum_raw[ok])))

    def add(self, second: SecondData) -> Verdict | None:
        """Feed one processed second; returns a verdict when one is made."""
        version = second.canary_version
        if version == 0:
            self._break()
            return None
        if version != self.version:
            self._switch(version, second.gps)
        if self.status != COLLECTING:
            return None
        if not (
            second.all_set(QUALIFYING) and version != second.production_version
        ):
            self._break()
            return None
        self._append(
            second.gps,
            second.strains[self.channels.canary],
            second.strains[self.channels.raw],
        )
        self.seconds += 1
        if self.first_gps is None:
            self.first_gps = second.gps
        if self.seconds < self.config.window_length or self.segments == 0:
            return None
        return self._decide(second.gps)

    def gap(self) -> None:
        """Missing seconds: the next segment cannot span them."""
        self._break()

    def _switch(self, version: int, gps: int) -> None:
        if self.version is not None and self.status == COLLECTING:
            logger.info(
                "canary %d replaced by %d at GPS %d: validation of %d "
                "abandoned after %d s",
                self.version,
                version,
                gps,
                self.version,
                self.seconds,
            )
        self._reset(version)
        known = self.verdicts.get(version)
        if known is not None:
            self.status = known["status"]
            return
        logger.info(
            "canary %d: validation started at GPS %d (window %d s, "
            "ratio < %.3g)",
            version,
            gps,
            self.config.window_length,
            self.config.ratio_threshold,
        )

    def _decide(self, gps: int) -> Verdict:
        ratio = self.ratio
        ok = ratio < self.config.ratio_threshold
        self.status = VALIDATED if ok else REJECTED
        self.verdicts[self.version] = {
            "status": self.status,
            "ratio": ratio,
            "gps": gps,
            "seconds": self.seconds,
            "first_gps": self.first_gps,
        }
        self._bound_verdicts()
        log = logger.info if ok else logger.warning
        log(
            "canary %d %s at GPS %d: ASD ratio %.4f over %d s (%d segments, "
            "threshold %.3g)",
            self.version,
            self.status,
            gps,
            ratio,
            self.seconds,
            self.segments,
            self.config.ratio_threshold,
        )
        self._break()
        return Verdict(self.version, ok, ratio, self.seconds, gps)

    def _bound_verdicts(self) -> None:
        """Keep the verdicts of the :data:`KEPT_VERDICTS` newest versions."""
        for version in sorted(self.verdicts)[:-KEPT_VERDICTS]:
            del self.verdicts[version]

    def _break(self) -> None:
        self._last_gps: int | None = None
        self._tail = None
        self._tail_gps = []
        self._tail_offset = 0

    def _append(self, gps: int, canary: np.ndarray, raw: np.ndarray) -> None:
        if self._tail is None or self._last_gps != gps - 1:
            self._tail = (canary, raw)
            self._tail_gps, self._tail_offset = [gps], 0
        else:
            self._tail = (
                np.concatenate([self._tail[0], canary]),
                np.concatenate([self._tail[1], raw]),
            )
            self._tail_gps.append(gps)
        self._last_gps = gps
        self._consume()

    def _consume(self) -> None:
        """Accumulate every complete segment of the tail; keep the rest
        (the samples of ``_tail_gps`` from ``_tail_offset`` on)."""
        size, step = self.config.segment_size, self.config.step_size
        canary, raw = self._tail
        start = 0
        while start + size <= len(canary):
            self.sum_canary += self._psd(canary[start : start + size])
            self.sum_raw += self._psd(raw[start : start + size])
            self.segments += 1
            start += step
        start = min(start, len(canary))
        offset = self._tail_offset + start
        drop = offset // self.config.sample_rate
        self._tail = (canary[start:], raw[start:])
        self._tail_gps = self._tail_gps[drop:]
        self._tail_offset = offset - drop * self.config.sample_rate

    def _psd(self, segment: np.ndarray) -> np.ndarray:
        """Hann-windowed periodogram of one segment, band bins only."""
        _, p = sp_signal.welch(
            segment,
            fs=self.config.sample_rate,
            nperseg=self.config.segment_size,
            window="hann",
        )
        return p[self.band]

    def to_state(self) -> dict:
        """JSON-able state (see the module docstring)."""
        return {
            "version": self.version,
            "status": self.status,
            "seconds": self.seconds,
            "segments": self.segments,
            "first_gps": self.first_gps,
            "sum_canary": self.sum_canary.tolist(),
            "sum_raw": self.sum_raw.tolist(),
            "last_gps": self._last_gps,
            "tail_gps": list(self._tail_gps),
            "tail_offset": self._tail_offset,
            "verdicts": {str(k): v for k, v in self.verdicts.items()},
        }

    def _resume_tail(self, state: dict, reread: Callable | None) -> None:
        """Re-read the unfinished segment's samples from the frames; if
        they are gone, only that one segment is lost."""
        tail_gps = [int(g) for g in state["tail_gps"]]
        last = state["last_gps"]
        if last is None:
            return
        if not tail_gps:
            self._tail, self._last_gps = (np.zeros(0), np.zeros(0)), last
            return
        data = reread(tail_gps) if reread is not None else None
        if data is None:
            logger.warning(
                "cannot re-read GPS %s: one Welch segment of the "
                "validation is lost",
                tail_gps,
            )
            return
        offset = int(state["tail_offset"])
        canary, raw = (
            np.concatenate([d.strains[name] for d in data])[offset:]
            for name in (self.channels.canary, self.channels.raw)
        )
        self._tail = (canary, raw)
        self._tail_gps, self._tail_offset = tail_gps, offset
        self._last_gps = last

    def _load(self, state: dict, reread: Callable | None) -> None:
        self.verdicts = {int(k): v for k, v in state["verdicts"].items()}
        self._bound_verdicts()  # a state.json written before the bound
        self._reset(state["version"])
        self.status = state["status"]
        self.seconds = int(state["seconds"])
        self.segments = int(state["segments"])
        self.first_gps = state["first_gps"]
        sums = np.array(state["sum_canary"]), np.array(state["sum_raw"])
        if sums[0].shape != self.sum_canary.shape:
            logger.warning(
                "saved validation has another band; restarting "
                "validation of canary %s",
                self.version,
            )
            self._reset(self.version)
            return
        self.sum_canary, self.sum_raw = sums
        self._resume_tail(state, reread)
        logger.info(
            "canary %s: resumed validation (%s, %d s, %d segments, "
            "ratio %.4f)",
            self.version,
            self.status,
            self.seconds,
            self.segments,
            self.ratio,
        )
