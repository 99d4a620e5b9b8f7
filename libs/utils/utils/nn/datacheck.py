"""Checks on training data before any training (numpy/scipy only).

Each check can fail, and the data are refused when one does:

``finite``      every strain and witness sample is finite;
``strain_live`` strain is not flat (a dead or saturated channel);
``witnesses_live`` at least one witness is not flat (flat witnesses are
                reported and keep their previous scaler, see
                :mod:`utils.nn.train`);
``coherence``   at least one witness has an in-band magnitude-squared
                coherence with strain of at least ``min_coherence``, and
                above what chance gives for that much data (else there is
                nothing the network can learn to subtract); with
                ``min_coherence`` 0 it is reported, never enforced (for
                studies of what a model of nothing does);
``duration``    there are enough seconds to train and validate;
``dropped``     at most ``max_dropped_fraction`` of the whole seconds are
                zero-filled (strain exactly 0 throughout: input the stream
                dropped, which the collector keeps up to
                ``max_consecutive_drops`` in a row): a stretch that is
                mostly gaps teaches the network nothing about the noise.

:func:`check_training_data` returns a :class:`CheckReport` (written as
``checks.json`` with every run); :meth:`CheckReport.raise_for_failure`
raises :class:`~utils.errors.DataCheckError` naming what failed and why.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field

import numpy as np

from utils.errors import DataCheckError

FLAT_RTOL = 1e-5  # std below this fraction of |mean| (or 0): flat channel
# Samples averaged before the flatness test: resampling a constant channel
# from 256-2048 Hz up to 4096 Hz leaves a ripple of ~3e-4 of its value with
# a period of 2-16 samples, which these block means cancel exactly.
FLAT_BLOCK_SIZE = 16
# Welch segments of a Hann window overlapping by half are correlated: n of
# them are worth about n / 1.06 independent ones (Harris 1978, ratio 0.167).
HANN_OVERLAP_FACTOR = 1.06


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds of the data checks.

    Attributes:
        sample_rate: Hz of the data.
        freq_low: lower edge of the band, Hz.
        freq_high: upper edge of the band, Hz.
        min_coherence: in-band coherence at least one witness must reach
            (0: the coherence check does not refuse).
        max_dropped_fraction: largest fraction of zero-filled seconds.
        fftlength: seconds per segment of the coherence estimate.
        min_duration: fewest seconds of data accepted.
        false_alarm: probability that incoherent data pass the coherence
            check (sets the chance threshold for short data).
    """

    sample_rate: int
    freq_low: float
    freq_high: float
    min_coherence: float
    max_dropped_fraction: float
    fftlength: float = 2.0
    min_duration: float = 16.0
    false_alarm: float = 1e-3

    def __post_init__(self) -> None:
        if not 0 <= self.min_coherence <= 1:
            raise ValueError("min_coherence must be in [0, 1]")
        if not 0 <= self.max_dropped_fraction < 1:
            raise ValueError("max_dropped_fraction must be in [0, 1)")
        if self.min_duration < 2 * self.fftlength:
            raise ValueError("min_duration must hold two FFT segments")


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class CheckReport:
    """Every check of one training set.

    Attributes:
        checks: outcome of each check, in order.
        flat_witnesses: witness channels found flat (dead).
        coherence: witness channel -> its largest in-band coherence.
    """

    checks: tuple[Check, ...]
    flat_witnesses: tuple[str, ...] = ()
    coherence: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def to_json(self) -> dict:
        out = asdict(self)
        out["passed"] = self.passed
        return out

    def raise_for_failure(self, what: str) -> None:
        """Raise :class:`DataCheckError` if a check failed.

        Args:
            what: names the data (e.g. the GPS span) in the message.
        """
        if not self.passed:
            raise DataCheckError(
                f"training data {what} refused: " + "; ".join(self.failures)
            )


def is_flat(x: np.ndarray) -> bool:
    """True when ``x`` (1-D) is constant up to round-off and resampling
    ripple (a dead channel)."""
    size = x.shape[-1] - x.shape[-1] % FLAT_BLOCK_SIZE
    blocks = np.asarray(x[:size], dtype=np.float64)
    blocks = blocks.reshape(-1, FLAT_BLOCK_SIZE).mean(axis=-1)
    std = float(np.std(blocks))
    return std == 0.0 or std <= FLAT_RTOL * abs(float(np.mean(blocks)))


def zero_seconds(strain: np.ndarray, sample_rate: int) -> int:
    """Whole seconds of ``strain`` that are exactly 0 throughout (a
    dropped second, zero-filled)."""
    seconds = strain.shape[-1] // sample_rate
    blocks = strain[: seconds * sample_rate].reshape(seconds, sample_rate)
    return int(np.count_nonzero(~blocks.any(axis=-1)))


def chance_coherence(size: int, num_tests: int, config: CheckConfig) -> float:
    """Coherence that pure noise exceeds with probability ``false_alarm``
    in any of ``num_tests`` (witness, bin) pairs.

    For ``n`` independent averages ``P(coherence > c) = (1 - c)^(n - 1)``;
    Hann segments overlapping by half are ~``n / 1.06`` independent ones.
    """
    nperseg = int(round(config.fftlength * config.sample_rate))
    segments = (size - nperseg) // (nperseg // 2) + 1
    independent = max(segments / HANN_OVERLAP_FACTOR, 2.0)
    per_test = config.false_alarm / max(num_tests, 1)
    return float(1 - per_test ** (1 / (independent - 1)))


def band_coherence(
    witness: np.ndarray, strain: np.ndarray, config: CheckConfig
) -> np.ndarray:
    """Largest in-band coherence of each witness with strain.

    Args:
        witness: ``(num_witnesses, size)``.
        strain: ``(size,)``.
        config: band, rate and segment length.

    Returns:
        ``(num_witnesses,)`` in [0, 1].
    """
    from scipy import signal as sp_signal  # seconds: only where it is used

    nperseg = int(round(config.fftlength * config.sample_rate))
    with np.errstate(invalid="ignore", divide="ignore"):  # flat rows: 0/0
        freqs, coherence = sp_signal.coherence(
            witness,
            strain[None],
            fs=config.sample_rate,
            nperseg=nperseg,
            noverlap=nperseg // 2,
            axis=-1,
        )
    band = (freqs >= config.freq_low) & (freqs <= config.freq_high)
    return np.nan_to_num(coherence[:, band]).max(axis=-1)


def check_training_data(
    witness: np.ndarray,
    strain: np.ndarray,
    witness_channels: tuple[str, ...],
    config: CheckConfig,
) -> CheckReport:
    """Run every check on one contiguous stretch of raw data.

    Args:
        witness: ``(num_witnesses, size)`` raw witnesses at
            ``config.sample_rate``.
        strain: ``(size,)`` raw strain.
        witness_channels: names of the witness rows.
        config: thresholds.

    Returns:
        The report; see :meth:`CheckReport.raise_for_failure`.
    """
    if witness.shape != (len(witness_channels), strain.shape[-1]):
        raise ValueError(
            f"witness {witness.shape} does not match {len(witness_channels)}"
            f" channels and strain {strain.shape}"
        )
    duration = strain.shape[-1] / config.sample_rate
    checks = [
        Check(
            "duration",
            duration >= config.min_duration,
            f"{duration:g} s of data, need {config.min_duration:g} s",
        )
    ]
    seconds = strain.shape[-1] // config.sample_rate
    zeros = zero_seconds(strain, config.sample_rate)
    checks.append(
        Check(
            "dropped",
            zeros <= config.max_dropped_fraction * seconds,
            f"{zeros} of {seconds} s zero-filled (dropped input), at most "
            f"{config.max_dropped_fraction:.0%} allowed",
        )
    )
    bad = [
        c
        for c, x in zip(witness_channels, witness, strict=True)
        if not _finite(x)
    ]
    if not _finite(strain):
        bad.insert(0, "strain")
    checks.append(
        Check(
            "finite",
            not bad,
            f"non-finite samples in {bad}" if bad else "all samples finite",
        )
    )
    if bad or duration < 2 * config.fftlength:
        return CheckReport(tuple(checks))
    flat = tuple(
        c for c, x in zip(witness_channels, witness, strict=True) if is_flat(x)
    )
    strain_flat = is_flat(strain)
    checks.append(
        Check(
            "strain_live",
            not strain_flat,
            "strain is flat" if strain_flat else "strain varies",
        )
    )
    live = len(flat) < len(witness_channels)
    checks.append(
        Check(
            "witnesses_live",
            live,
            f"{len(flat)} of {len(witness_channels)} witnesses flat: "
            f"{list(flat)}",
        )
    )
    coherence = np.zeros(len(witness_channels))
    if not strain_flat:  # flat witnesses: 0/0, reported as 0
        coherence = band_coherence(witness, strain, config)
        coherence[[c in flat for c in witness_channels]] = 0.0
    checks.append(
        _coherence_check(coherence, witness_channels, config, strain.shape[-1])
    )
    return CheckReport(
        tuple(checks),
        flat,
        {
            c: round(float(v), 4)
            for c, v in zip(witness_channels, coherence, strict=True)
        },
    )


def _coherence_check(
    coherence: np.ndarray,
    witness_channels: tuple[str, ...],
    config: CheckConfig,
    size: int,
) -> Check:
    nperseg = int(round(config.fftlength * config.sample_rate))
    freqs = np.fft.rfftfreq(nperseg, 1 / config.sample_rate)
    bins = np.sum((freqs >= config.freq_low) & (freqs <= config.freq_high))
    chance = chance_coherence(size, bins * len(witness_channels), config)
    best = int(np.argmax(coherence))
    found = (
        f"largest in-band ({config.freq_low:g}-{config.freq_high:g} Hz)"
        f" coherence {coherence[best]:.3f} ({witness_channels[best]})"
    )
    if config.min_coherence == 0:
        return Check(
            "coherence",
            True,
            f"{found}, not enforced (min_coherence 0; chance level "
            f"{chance:.3f})",
        )
    need = max(config.min_coherence, chance)
    return Check(
        "coherence",
        bool(coherence[best] >= need),
        f"{found}, need {need:.3f} (chance level {chance:.3f})",
    )


def _finite(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)))
