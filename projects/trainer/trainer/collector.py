"""Collecting analysis-ready training data, second by second.

The seed's rules, applied to the preprocessed seconds of
:class:`utils.stream.Preprocessor` (which already tapers around dropped
seconds and zero-fills them):

- only analysis-ready seconds are kept; a second that is not ready drops
  the whole collected set, and collection resumes once ``ready_settle_length``
  consecutive ready seconds have passed;
- a dropped second is kept as the Preprocessor made it (zeros, neighbours
  tapered), but more than ``max_consecutive_drops`` in a row drop the set;
- the set is one contiguous stretch of at most ``max_length`` seconds (the
  newest are kept): stretches broken by a not-ready second are never joined.

Shapes: each kept second is ``(1 + num_witnesses, sample_rate)``, strain
first (float64), witnesses float32.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from utils.errors import ConfigError
from utils.nn.data import Stretch
from utils.stream import Second

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectConfig:
    """How training data are collected.

    Attributes:
        sample_rate: Hz of the preprocessed seconds.
        max_length: newest seconds kept.
        max_consecutive_drops: dropped seconds in a row tolerated.
        ready_settle_length: ready seconds skipped after a not-ready one.
    """

    sample_rate: int
    max_length: int
    max_consecutive_drops: int
    ready_settle_length: int

    def __post_init__(self) -> None:
        if self.max_length < 1 or self.max_consecutive_drops < 0:
            raise ConfigError("max_length >= 1, max_consecutive_drops >= 0")
        if self.ready_settle_length < 0:
            raise ConfigError("ready_settle_length must be >= 0")


class Collector:
    """The current contiguous set of training seconds.

    Args:
        config: rules and sizes.
    """

    def __init__(self, config: CollectConfig) -> None:
        self.config = config
        self._strain: deque[np.ndarray] = deque(maxlen=config.max_length)
        self._witness: deque[np.ndarray] = deque(maxlen=config.max_length)
        self._gps_stop: int | None = None
        self._drops = 0
        self._settle_left = 0
        self._ready = True
        self.sets_dropped = 0

    @property
    def length(self) -> int:
        """Seconds in the current set."""
        return len(self._strain)

    @property
    def gps_stop(self) -> int | None:
        """End (exclusive) of the current set; None when empty."""
        return self._gps_stop if self._strain else None

    @property
    def gps_start(self) -> int | None:
        return None if not self._strain else self._gps_stop - self.length

    def add(self, second: Second) -> None:
        """Apply the collection rules to the next preprocessed second."""
        if second.dropped:
            self._add_dropped(second)
        elif not second.ready:
            self._drops = 0
            if self._ready:
                logger.info(
                    "GPS %d not analysis ready: collection stops", second.gps
                )
                self._ready = False
            self._clear(f"GPS {second.gps} is not analysis ready")
            self._settle_left = self.config.ready_settle_length
        else:
            self._drops = 0
            if not self._ready:
                logger.info("GPS %d analysis ready again", second.gps)
                self._ready = True
            if self._settle_left > 0:
                self._settle_left -= 1
                if self._settle_left == 0:
                    logger.info("collection resumes after GPS %d", second.gps)
                return
            self._append(second)

    def _add_dropped(self, second: Second) -> None:
        self._drops += 1
        if self._drops > self.config.max_consecutive_drops:
            self._clear(
                f"{self._drops} consecutive dropped seconds up to "
                f"GPS {second.gps}"
            )
        elif self._strain and self._settle_left == 0:
            self._append(second)  # zeros, as the seed does

    def _append(self, second: Second) -> None:
        if self._strain and second.gps != self._gps_stop:
            self._clear(f"GPS {second.gps} does not follow {self._gps_stop}")
        self._strain.append(np.array(second.data[0], dtype=np.float64))
        self._witness.append(np.array(second.data[1:], dtype=np.float32))
        self._gps_stop = second.gps + 1

    def _clear(self, reason: str) -> None:
        if self._strain:
            logger.warning(
                "dropping the %d s collected from GPS %d: %s",
                self.length,
                self.gps_start,
                reason,
            )
            self.sets_dropped += 1
        self._strain.clear()
        self._witness.clear()

    def snapshot(self, duration: int) -> Stretch:
        """A copy of the newest ``duration`` seconds.

        Raises:
            ValueError: fewer seconds collected.
        """
        if not 0 < duration <= self.length:
            raise ValueError(f"{duration} s asked, {self.length} s collected")
        strain = list(self._strain)[-duration:]
        witness = list(self._witness)[-duration:]
        return Stretch(
            self._gps_stop - duration,
            self.config.sample_rate,
            np.concatenate(witness, axis=-1),
            np.concatenate(strain),
        )
