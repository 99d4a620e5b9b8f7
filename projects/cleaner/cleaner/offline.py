"""One-shot cleaning of a stretch of frames already on disk.

The reference for the streaming cleaner (the streaming == offline test) and
the quality benchmarks. It shares the streaming code where the two must
agree by construction (reading and resampling with the same
:class:`~utils.stream.Preprocessor`, the subtraction with its drop tapers,
the gate), and does in one shot what streaming does piecewise:

- the noise prediction of the whole stretch, in chunks of
  ``chunk_length`` seconds each padded by ``margin`` seconds of witnesses
  on both sides that are then cut off (so no sample is nearer than the
  margin to a window edge; margin = ``ceil(max(E, W - 1 - E))``, what the
  streaming windows guarantee);
- one zero-phase band-pass of the whole prediction (no streaming edges),
  and of the strain for the gain trackers (:mod:`cleaner.tracking`), which
  then see the seconds one by one as in streaming.

Stretch ``[gps_start, gps_start + duration)``: raw frames from
``gps_start - resample context`` are read; frames are returned for the
seconds the gate can judge, ``[gps_start, gps_start + duration -
lookahead)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cleaner.cleaning import WindowConfig
from cleaner.cleaning import clean_second
from cleaner.frames import CleanedSecond
from cleaner.frames import OutputFrame
from cleaner.frames import to_frame
from cleaner.frames import version_tag
from cleaner.gate import OutDqGate
from cleaner.postprocess import FilterConfig
from cleaner.postprocess import StreamingFilter
from cleaner.prediction import Predictor
from cleaner.tracking import GainTracker
from cleaner.tracking import TrackingConfig
from cleaner.tracking import follow_promotion
from cleaner.tracking import near_drop
from utils.follower import FrameFollower
from utils.follower import StreamConfig
from utils.stream import Resampler
from utils.stream import Second


@dataclass(frozen=True)
class Stretch:
    """Resampled data of consecutive seconds.

    Attributes:
        seconds: the :class:`~utils.stream.Second` s, in order.
        strain: ``(num_seconds * sample_rate,)``.
        witness: ``(num_witnesses, num_seconds * sample_rate)``.
    """

    seconds: list[Second]
    strain: np.ndarray
    witness: np.ndarray

    @property
    def gps_start(self) -> int:
        return self.seconds[0].gps


def read_stretch(
    stream: StreamConfig,
    preprocessor: Resampler,
    gps_start: int,
    duration: int,
) -> Stretch:
    """Read and resample ``[gps_start, gps_start + duration)``.

    Args:
        stream: where the frames are (timeouts are ignored).
        preprocessor: a fresh preprocessor, configured as in streaming.
        gps_start: first GPS second wanted.
        duration: seconds wanted.
    """
    # offline every file that will ever exist is there already: a missing
    # or unreadable one is dropped at the first look
    follower = FrameFollower(
        stream, start=gps_start - preprocessor.context, wait=False
    )
    seconds: list[Second] = []
    while len(seconds) < duration:
        seconds.extend(preprocessor.push(follower.next_second()))
    seconds = seconds[:duration]
    data = np.concatenate([s.data for s in seconds], axis=1)
    return Stretch(seconds, data[0], data[1:])


def predict_stretch(
    witness: np.ndarray,
    predictor: Predictor,
    window: WindowConfig,
    chunk_length: int = 32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Noise predictions of a whole stretch, chunk by chunk.

    Returns:
        ``(production, canary, production_versions, canary_versions)``,
        each ``(size,)``; version 0 and zeros where the predictor gave
        nothing.
    """
    fs = window.sample_rate
    margin = fs * math.ceil(
        max(window.edge_length, window.window_length - 1 - window.edge_length)
    )
    chunk = chunk_length * fs
    size = witness.shape[1]
    padded = np.pad(witness, ((0, 0), (margin, margin + chunk)))
    out = np.zeros((4, size))
    for start in range(0, size, chunk):
        x = padded[:, start : start + chunk + 2 * margin]
        prediction = predictor(x.astype(np.float32))
        stop = min(chunk, size - start)
        if prediction is None:
            continue
        keep = slice(margin, margin + stop)
        out[:, start : start + stop] = [
            prediction.production[keep],
            prediction.canary[keep],
            np.full(stop, prediction.production_version),
            np.full(stop, prediction.canary_version),
        ]
    return out[0], out[1], out[2].astype(np.int64), out[3].astype(np.int64)


def clean_stretch(
    stretch: Stretch,
    predictor: Predictor,
    window: WindowConfig,
    noise_filter: FilterConfig,
    gate: OutDqGate[CleanedSecond],
    tracking: TrackingConfig,
) -> list[OutputFrame]:
    """Clean a stretch in one shot.

    Returns:
        One frame per second of ``stretch`` but the gate's last look-ahead
        seconds, as the streaming cleaner would write them.
    """
    fs = window.sample_rate
    production, canary, p_versions, c_versions = predict_stretch(
        stretch.witness, predictor, window
    )
    # (bands, 3, samples) -> production, canary: (bands, samples) each
    *filtered, strain = noise_filter.bandpass(
        np.stack([production, canary, stretch.strain])
    ).swapaxes(0, 1)
    # the trackers' line band-pass sees 2 s either side, as in streaming
    margin = 2 * fs
    filtered = np.pad(filtered, ((0, 0), (0, 0), (margin, margin)))
    trackers = [GainTracker(tracking), GainTracker(tracking)]
    seconds = stretch.seconds
    drops = [i for i, second in enumerate(seconds) if second.dropped]
    reach = StreamingFilter(noise_filter).reach
    frames = []
    for i, second in enumerate(seconds):
        part = slice(i * fs, (i + 1) * fs)
        taper_in = i > 0 and seconds[i - 1].dropped
        taper_out = i + 1 < len(seconds) and seconds[i + 1].dropped
        fitted = None if near_drop(i, drops, reach) else strain[:, part]
        follow_promotion(*trackers, p_versions[part])
        cleaned = []
        for padded, versions, tracker in zip(
            filtered, (p_versions, c_versions), trackers, strict=True
        ):
            noise = tracker.correct(
                second.gps,
                padded[:, i * fs : (i + 1) * fs + 2 * margin],
                margin,
                fitted,
                versions[part],
            )
            clean = clean_second(second, noise, window, taper_in, taper_out)
            cleaned.append((clean, *version_tag(versions[part])))
        (p_clean, p_ok, p_version), (c_clean, c_ok, c_version) = cleaned
        record = CleanedSecond(
            second.gps,
            second.data[0],
            p_clean,
            c_clean,
            p_ok,
            c_ok,
            p_version,
            c_version,
            second,
        )
        gated = gate.push(record)
        if gated is not None:
            frames.append(to_frame(gated))
    return frames
