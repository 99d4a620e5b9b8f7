"""Canary validation: is the canary's cleaning better than nothing, and no
worse than the production model it would replace?

Each canary version ``v`` gets one window of ``window_length`` seconds made
ONLY of seconds that ``v`` cleaned: every state sample has INPUT_OK and
CANARY_OK, the CANARY_VERSION tag is ``v`` (not 0) and differs from the
PRODUCTION_VERSION tag. Other seconds neither count nor reset the window;
they only break the contiguity of the Welch segments. A new canary version
restarts validation from zero. Its first ``settle_length`` qualifying
seconds are skipped: the cleaner's gain tracker (``cleaner.tracking``)
fits a new version only after that many seconds of it, while production's
is fitted already, and once promoted the canary keeps its fitted gains.

The ASD ratio is a Welch (mean) average over every complete segment
(``fftlength`` long, ``overlap`` apart) that lies inside a run of
contiguous qualifying seconds: ``mean over band bins of sqrt(sum P_canary /
sum P_raw)``. Over the same segments it measures the canary against the
PRODUCTION channel of the same seconds (what the production model made of
the same data; the raw strain while production is version 0): the ASD
ratio CANARY / PRODUCTION of each sub-band (:class:`utils.signal.Subbands`,
as the OUT_DQ gate judges), of which the worst counts. Everything is
accumulated incrementally, so the state is a few numbers per band bin
(persisted in ``state.json``) plus the samples of the unfinished segment,
stored as the GPS seconds they came from and re-read from the frames after
a restart.

Over the same segments it measures what the canary does outside the band,
in each region of :func:`monitor.spectra.outside_regions` (beside the
band's edges, and broadband): the power of CANARY over RAW, less 1.

When the window is full the verdict is final: ``validated`` when the ratio
against raw is below ``ratio_threshold`` AND the worst sub-band against
production is at most ``1 + production_margin`` (a canary that beats raw
but would make the product worse than the model it replaces is refused)
AND it adds at most ``canary_out_of_band_limit`` of raw's power in each region
outside the band (a canary that cleans the band but adds power beside it,
where neither the band's figures nor the OUT_DQ gate look, is refused),
else ``rejected``, with the reason. A version is never validated on less
than a full window. The verdicts of the :data:`KEPT_VERDICTS` newest
versions are kept (and saved), so the state stays small.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from monitor.frames import SecondData
from monitor.spectra import OUTSIDE
from monitor.spectra import added_fraction
from monitor.spectra import outside_regions
from monitor.spectra import periodograms
from monitor.spectra import region_powers
from utils.channels import OutputChannels
from utils.channels import State
from utils.errors import ConfigError
from utils.signal import Subbands
from utils.signal import subbands_of

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
        production_margin: and when no sub-band of the canary is worse
            than production by more than this (relative ASD).
        settle_length: qualifying seconds of a new canary skipped before
            its window (the cleaner's gain tracker fits it meanwhile).
        canary_out_of_band_limit: and when it adds at most this fraction
            of RAW's power in each region outside the band.
        freq_low, freq_high: band, Hz.
        subband_edges: Hz, where the band is split into the sub-bands
            compared with production.
        fftlength, overlap: Welch segment and overlap, s.
        sample_rate: Hz of the CANARY and RAW channels.
    """

    window_length: int
    ratio_threshold: float
    production_margin: float
    settle_length: int
    canary_out_of_band_limit: float
    freq_low: float
    freq_high: float
    subband_edges: tuple[float, ...]
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
        if self.production_margin < 0:
            raise ConfigError(
                f"production_margin={self.production_margin!r}: >= 0"
            )
        if not self.canary_out_of_band_limit > 0:
            raise ConfigError(
                "canary_out_of_band_limit="
                f"{self.canary_out_of_band_limit!r}: > 0"
            )
        subbands_of(self)  # they split the band at this resolution

    @property
    def subbands(self) -> Subbands:
        return subbands_of(self)

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
    """The end of one version's validation.

    Attributes:
        version: the canary version judged.
        validated: it may be promoted.
        ratio: ASD ratio CANARY / RAW, band mean.
        vs_production: ASD ratio CANARY / PRODUCTION, worst sub-band.
        subband: that sub-band.
        added_outside: power CANARY adds outside the band, a fraction of
            RAW's, in the worst region.
        production_version: production's version tag in the window's
            last second (0: none, PRODUCTION was the raw strain).
        seconds: seconds of the window.
        gps: GPS second of the verdict.
        reason: why it was rejected ("" when validated).
    """

    version: int
    validated: bool
    ratio: float
    vs_production: float
    subband: str
    added_outside: float
    production_version: int
    seconds: int
    gps: int
    reason: str = ""

    def describe(self) -> str:
        """One line with both figures, for the log and the exporter."""
        against = (
            f"production v{self.production_version}"
            if self.production_version
            else "production (none: raw)"
        )
        status = "validated" if self.validated else "rejected"
        return (
            f"canary v{self.version} {status}"
            f" over {self.seconds} s to GPS {self.gps}: ASD ratio "
            f"{self.ratio:.4f} vs raw (band mean), {self.vs_production:.4f} "
            f"vs {against} (worst sub-band, {self.subband}), "
            f"{100 * self.added_outside:+.2f} % power outside the band"
            + (f"; {self.reason}" if self.reason else "")
        )


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
        self.freqs = freqs[self.band]
        self.outside = outside_regions(
            freqs, config.freq_low, config.freq_high
        )
        self.subbands = config.subbands
        self.verdicts: dict[int, dict] = {}
        self._reset(None)
        if state:
            self._load(state, reread)

    def _reset(self, version: int | None) -> None:
        self.version = version
        self.status = COLLECTING
        self.seconds = 0
        self.settled = 0  # seconds skipped while the canary settles
        self.segments = 0
        self.first_gps: int | None = None
        self.sum_canary = np.zeros(int(self.band.sum()))
        self.sum_raw = np.zeros(int(self.band.sum()))
        self.sum_production = np.zeros(int(self.band.sum()))
        # CANARY's and RAW's power in each region outside the band
        self.sum_outside = np.zeros((2, len(self.outside)))
        self.production_version = 0
        self._tail_gps: list[int] = []
        self._tail: tuple[np.ndarray, ...] | None = None
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

    def vs_production(self) -> tuple[float, str]:
        """Worst sub-band ASD ratio CANARY / PRODUCTION of the window and
        its sub-band (NaN before any segment)."""
        if self.segments == 0:
            return float("nan"), ""
        ratios = self.subbands.ratios(
            self.sum_canary, self.sum_production, self.freqs
        )
        worst = int(np.argmax(ratios))
        return float(ratios[worst]), self.subbands.names[worst]

    def added_outside(self) -> tuple[float, str]:
        """Power CANARY adds outside the band over the window, a fraction
        of RAW's, in its worst region, and that region (0 before any
        segment)."""
        added = added_fraction(*self.sum_outside)
        worst = int(np.argmax(added))
        return float(added[worst]), list(self.outside)[worst]

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
        if self.settled < self.config.settle_length:
            self.settled += 1
            return None
        self._append(
            second.gps,
            tuple(
                second.strains[name]
                for name in (
                    self.channels.canary,
                    self.channels.raw,
                    self.channels.production,
                )
            ),
        )
        self.production_version = second.production_version
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
            "canary %d: validation started at GPS %d (%d s to settle, "
            "window %d s, ratio < %.3g)",
            version,
            gps,
            self.config.settle_length,
            self.config.window_length,
            self.config.ratio_threshold,
        )

    def _decide(self, gps: int) -> Verdict:
        c = self.config
        ratio = self.ratio
        vs_production, subband = self.vs_production()
        added, region = self.added_outside()
        reasons = []
        if not ratio < c.ratio_threshold:
            reasons.append(f"not below {c.ratio_threshold:g} vs raw")
        if vs_production > 1 + c.production_margin:
            reasons.append(
                f"worse than production in {subband} by more than "
                f"{c.production_margin:g}"
            )
        if added > c.canary_out_of_band_limit:
            reasons.append(
                f"adds {100 * added:.1f} % of raw power {OUTSIDE[region]}"
                f" (> {100 * c.canary_out_of_band_limit:g} %)"
            )
        verdict = Verdict(
            version=self.version,
            validated=not reasons,
            ratio=ratio,
            vs_production=vs_production,
            subband=subband,
            added_outside=added,
            production_version=self.production_version,
            seconds=self.seconds,
            gps=gps,
            reason=" and ".join(reasons),
        )
        self.status = VALIDATED if verdict.validated else REJECTED
        self.verdicts[self.version] = {
            "status": self.status,
            "ratio": ratio,
            "vs_production": vs_production,
            "subband": subband,
            "added_outside": added,
            "production_version": self.production_version,
            "reason": verdict.reason,
            "gps": gps,
            "seconds": self.seconds,
            "first_gps": self.first_gps,
        }
        self._bound_verdicts()
        log = logger.info if verdict.validated else logger.warning
        log("%s (%d segments)", verdict.describe(), self.segments)
        self._break()
        return verdict

    def _bound_verdicts(self) -> None:
        """Keep the verdicts of the :data:`KEPT_VERDICTS` newest versions."""
        for version in sorted(self.verdicts)[:-KEPT_VERDICTS]:
            del self.verdicts[version]

    def _break(self) -> None:
        self._last_gps: int | None = None
        self._tail = None
        self._tail_gps = []
        self._tail_offset = 0

    def _append(self, gps: int, strains: tuple[np.ndarray, ...]) -> None:
        """Add (CANARY, RAW, PRODUCTION) of second ``gps``."""
        if self._tail is None or self._last_gps != gps - 1:
            self._tail = strains
            self._tail_gps, self._tail_offset = [gps], 0
        else:
            self._tail = tuple(
                np.concatenate([old, new])
                for old, new in zip(self._tail, strains, strict=True)
            )
            self._tail_gps.append(gps)
        self._last_gps = gps
        self._consume()

    def _consume(self) -> None:
        """Accumulate every complete segment of the tail; keep the rest
        (the samples of ``_tail_gps`` from ``_tail_offset`` on)."""
        size, step = self.config.segment_size, self.config.step_size
        canary, raw, production = self._tail
        start = 0
        while start + size <= len(canary):
            part = slice(start, start + size)
            p = periodograms(
                np.stack([canary[part], raw[part], production[part]]),
                self.config.sample_rate,
            )
            self.sum_canary += p[0][self.band]
            self.sum_raw += p[1][self.band]
            self.sum_production += p[2][self.band]
            self.sum_outside += region_powers(p[:2], self.outside)
            self.segments += 1
            start += step
        start = min(start, len(canary))
        offset = self._tail_offset + start
        drop = offset // self.config.sample_rate
        self._tail = tuple(x[start:] for x in self._tail)
        self._tail_gps = self._tail_gps[drop:]
        self._tail_offset = offset - drop * self.config.sample_rate

    def to_state(self) -> dict:
        """JSON-able state (see the module docstring)."""
        return {
            "version": self.version,
            "status": self.status,
            "seconds": self.seconds,
            "settled": self.settled,
            "segments": self.segments,
            "first_gps": self.first_gps,
            "sum_canary": self.sum_canary.tolist(),
            "sum_raw": self.sum_raw.tolist(),
            "sum_production": self.sum_production.tolist(),
            "sum_outside": self.sum_outside.tolist(),
            "production_version": self.production_version,
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
            self._tail, self._last_gps = (np.zeros(0),) * 3, last
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
        self._tail = tuple(
            np.concatenate([d.strains[name] for d in data])[offset:]
            for name in (
                self.channels.canary,
                self.channels.raw,
                self.channels.production,
            )
        )
        self._tail_gps, self._tail_offset = tail_gps, offset
        self._last_gps = last

    def _load(self, state: dict, reread: Callable | None) -> None:
        self.verdicts = {int(k): v for k, v in state["verdicts"].items()}
        self._bound_verdicts()  # a state.json written before the bound
        self._reset(state["version"])
        self.status = state["status"]
        self.seconds = int(state["seconds"])
        # a state.json of before the settling: a canary in it had settled
        self.settled = int(state.get("settled", self.config.settle_length))
        self.segments = int(state["segments"])
        self.first_gps = state["first_gps"]
        names = ("sum_canary", "sum_raw", "sum_production")
        sums = [np.array(state.get(name, ()), float) for name in names]
        if any(x.shape != self.sum_canary.shape for x in sums):
            logger.warning(
                "saved validation has another band or no production "
                "sums (saved by an older monitor); restarting validation "
                "of canary %s",
                self.version,
            )
            self._reset(self.version)
            return
        self.sum_canary, self.sum_raw, self.sum_production = sums
        outside = np.array(state.get("sum_outside", ()), float)
        if outside.shape == self.sum_outside.shape:
            self.sum_outside = outside
        elif self.status == COLLECTING:  # saved by an older monitor
            logger.warning(
                "saved validation has no power outside the band (saved by "
                "an older monitor): canary %s is judged there on the "
                "segments after this restart",
                self.version,
            )
        self.production_version = int(state.get("production_version", 0))
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
