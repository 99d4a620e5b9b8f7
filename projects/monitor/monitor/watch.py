"""Watching production: does the live model still match the coupling?

A coupling that drifts leaves the production model behind: its
subtraction removes less, then the wrong amount, while the next run on the
cadence is minutes away. :class:`ProductionWatch` measures production as
validation measured it as a canary: the band-mean ASD ratio PRODUCTION /
RAW (mean Welch over every complete segment, ``fftlength`` long,
``overlap`` apart, of contiguous seconds that have INPUT_OK and
PRODUCTION_OK and the same production version), over the newest
``window_length`` seconds (a sliding window of segments).

Production is *stale* when that ratio exceeds ``stale_factor`` times its
baseline, or reaches ``ratio_threshold`` (no better than raw), and matches
again only once the ratio is back below halfway from that limit to the
baseline (a ratio hovering at the limit does not flip it each second). The
baseline is the ratio its validation found (the verdict of that version),
or, for a version without one (promoted by hand, verdict pruned), its
first full window. Stale, the monitor asks the trainer for a run now
(:mod:`utils.train_request`), once per production version and canary:
not while a newer canary is being validated (a fix is on its way), and
again only once a newer canary was judged and production is still stale.
The window restarts when the production version changes; it starts empty
after a monitor restart (one window to refill).

The same window says whether production adds power *outside* the band,
which the OUT_DQ gate does not judge (it looks in it): the power of
PRODUCTION over RAW, less 1, in each region of
:func:`monitor.spectra.outside_regions` (beside the band's edges, and
broadband; validation holds a canary to its own limit there, before
promotion; a production watched here passed it, over a window of its own,
or was promoted by hand). Above ``out_of_band_limit``
in either it is logged as a WARNING (once, until it is back below half the
limit), counted in the metrics and flagged on the status page; the
cleaner's product is not changed by it (an operator's call, with the
figure in hand).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from monitor.frames import SecondData
from monitor.spectra import OUTSIDE
from monitor.spectra import added_fraction
from monitor.spectra import outside_regions
from monitor.spectra import periodograms
from monitor.spectra import region_powers
from monitor.validation import ValidationConfig
from utils.channels import State
from utils.errors import ConfigError

logger = logging.getLogger(__name__)

WATCHED = State.INPUT_OK | State.PRODUCTION_OK


@dataclass(frozen=True)
class WatchConfig:
    """Attributes:
    stale_factor: production is stale above this times its baseline.
    out_of_band_limit: largest fraction of RAW's power PRODUCTION may add
        outside the band before a warning.
    """

    stale_factor: float
    out_of_band_limit: float

    def __post_init__(self) -> None:
        if not self.stale_factor > 1:
            raise ConfigError(f"stale_factor={self.stale_factor!r}: > 1")
        if not self.out_of_band_limit > 0:
            raise ConfigError(
                f"out_of_band_limit={self.out_of_band_limit!r}: > 0"
            )


class ProductionWatch:
    """The sliding window of production's ASD ratio (see the module).

    Args:
        config: the stale factor.
        validation: window, band, Welch and threshold of validation.
        production: the PRODUCTION channel's name.
        raw: the RAW channel's name.
    """

    def __init__(
        self,
        config: WatchConfig,
        validation: ValidationConfig,
        production: str,
        raw: str,
    ) -> None:
        self.config, self.validation = config, validation
        self.names = production, raw
        v = validation
        freqs = np.fft.rfftfreq(v.segment_size, 1 / v.sample_rate)
        self.band = (freqs >= v.freq_low) & (freqs <= v.freq_high)
        # region -> its bins: the band's edges, the broadband beyond
        self.outside = outside_regions(freqs, v.freq_low, v.freq_high)
        # one segment per step: the window's segments
        self.max_segments = max(
            1,
            (v.window_length * v.sample_rate - v.segment_size) // v.step_size
            + 1,
        )
        self.version = 0
        self.baseline: float | None = None
        self.stale = False
        self.harmful = False  # adds power outside the band
        self._asked: tuple[int, int] | None = None  # (production, canary)
        self._reset(0)

    def _reset(self, version: int) -> None:
        self.version = version
        self.baseline = None
        self.stale = False
        self.harmful = False
        # per segment: PRODUCTION's and RAW's PSD in the band, their power
        # in each region outside it
        self._segments: deque[tuple[np.ndarray, ...]] = deque(
            maxlen=self.max_segments
        )
        self._break()

    def _break(self) -> None:
        self._last_gps: int | None = None
        self._tail: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def full(self) -> bool:
        return len(self._segments) == self.max_segments

    @property
    def ratio(self) -> float:
        """Band-mean ASD ratio PRODUCTION / RAW over the window (NaN
        before any segment)."""
        if not self._segments:
            return float("nan")
        production = sum(s[0] for s in self._segments)
        raw = sum(s[1] for s in self._segments)
        ok = raw > 0
        if not ok.any():
            return 1.0
        return float(np.mean(np.sqrt(production[ok] / raw[ok])))

    @property
    def added(self) -> dict[str, float]:
        """Power PRODUCTION adds outside the band over the window, a
        fraction of RAW's, by region (NaN before any segment)."""
        if not self._segments:
            return {name: float("nan") for name in self.outside}
        production = sum(s[2] for s in self._segments)
        raw = sum(s[3] for s in self._segments)
        added = added_fraction(production, raw).tolist()
        return dict(zip(self.outside, added, strict=True))

    @property
    def reason(self) -> str:
        """One line: production's ratio now against its baseline."""
        ratio, base = self.ratio, self.baseline or float("nan")
        return (
            f"production v{self.version} ASD ratio {ratio:.3f} vs raw over "
            f"its newest window, {ratio / base:.1f}x its baseline {base:.3f}"
        )

    def add(self, second: SecondData, baseline: float | None) -> None:
        """Feed one processed second.

        Args:
            second: the frame.
            baseline: the ratio production's version was validated with
                (None: no verdict known).
        """
        version = second.production_version
        if version != self.version:
            self._reset(version)
        if version == 0 or not second.all_set(WATCHED):
            self._break()
            return
        self._append(second)
        if not self.full:
            return
        self._judge_outside(second.gps)
        ratio = self.ratio
        if self.baseline is None:
            self.baseline = baseline if baseline else ratio
        limit = min(
            self.config.stale_factor * self.baseline,
            self.validation.ratio_threshold,
        )
        was = self.stale
        # calm at the limit: once stale, production matches again only
        # when its ratio is back below halfway from the limit to baseline
        back = (limit + self.baseline) / 2
        self.stale = ratio > (back if was else limit)
        if self.stale and not was:
            logger.warning(
                "GPS %d: %s (> %.3f): production no longer matches the "
                "coupling",
                second.gps,
                self.reason,
                limit,
            )
        elif was and not self.stale:
            logger.info(
                "GPS %d: production v%d matches again: ASD ratio %.3f",
                second.gps,
                version,
                ratio,
            )

    def _judge_outside(self, gps: int) -> None:
        """Warn once when production adds power outside the band."""
        limit = self.config.out_of_band_limit
        added = self.added
        worst = max(added, key=added.get)
        was = self.harmful
        self.harmful = added[worst] > (limit / 2 if was else limit)
        if self.harmful and not was:
            logger.warning(
                "GPS %d: production v%d adds %.1f %% of raw power %s over "
                "its newest window (> %.1f %%): the product is worse than "
                "raw outside the band",
                gps,
                self.version,
                100 * added[worst],
                OUTSIDE[worst],
                100 * limit,
            )
        elif was and not self.harmful:
            logger.info(
                "GPS %d: production v%d adds nothing outside the band "
                "again (%s)",
                gps,
                self.version,
                ", ".join(
                    f"{OUTSIDE[k]} {100 * v:+.2f} %" for k, v in added.items()
                ),
            )

    def should_ask(self, canary: int, canary_judged: bool) -> bool:
        """Whether to ask the trainer for a run now: production is stale,
        no newer canary is being validated, and we have not asked for this
        production and canary yet."""
        if not self.stale:
            return False
        if canary > self.version and not canary_judged:
            return False  # a newer model is on its way
        if self._asked == (self.version, canary):
            return False
        self._asked = (self.version, canary)
        return True

    def ask_again(self) -> None:
        """The request :meth:`should_ask` allowed was not made (it could
        not be written): allow it again."""
        self._asked = None

    def _append(self, second: SecondData) -> None:
        production, raw = (second.strains[name] for name in self.names)
        if self._tail is None or self._last_gps != second.gps - 1:
            self._tail = (production, raw)
        else:
            self._tail = (
                np.concatenate([self._tail[0], production]),
                np.concatenate([self._tail[1], raw]),
            )
        self._last_gps = second.gps
        size, step = self.validation.segment_size, self.validation.step_size
        production, raw = self._tail
        start = 0
        while start + size <= production.size:
            both = np.stack(
                [production[start : start + size], raw[start : start + size]]
            )
            p = periodograms(both, self.validation.sample_rate)
            outside = region_powers(p, self.outside)
            self._segments.append((p[0][self.band], p[1][self.band], *outside))
            start += step
        self._tail = (production[start:], raw[start:])
