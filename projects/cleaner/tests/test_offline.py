"""Streaming == offline: the carousel written by the service over a stretch
equals a one-shot cleaning of the same frames with the same model.

Both read and resample the frames with the same preprocessor and ask the
same Triton model, so their noise predictions agree to float32 rounding
(the streaming windows keep only samples further than E from their end,
the offline chunks only samples further than the margin from both ends).
What remains is the streaming band-pass's edge error, bounded in
``test_postprocess.py`` by 1e-3 (RMS) and 1e-2 (max) of the RMS of the
band-passed noise: that is the tolerance, relative to the subtracted
noise (PRODUCTION - RAW of the offline result).
"""

import numpy as np
import pytest
from service_run import CHANNELS
from service_run import read_carousel
from service_run import run_service
from service_run import service_config
from simdata import GPS

from cleaner.client import PipelineClient
from cleaner.gate import OutDqGate
from cleaner.offline import clean_stretch
from cleaner.offline import read_stretch
from cleaner.service import make_preprocessor
from utils.simulation import Fault

DURATION = 36  # s fed to the service
DROP = GPS + 20
CORRUPT = GPS + 27


@pytest.mark.parametrize("margin", [0.0, 0.25], ids=["band", "margins"])
def test_streaming_equals_offline(tmp_path, sim, triton, margin):
    """The band alone, and with its margins tracked (``filter_margin``)."""
    config = service_config(tmp_path, sim, triton.url, filter_margin=margin)
    assert config.tracking.margin == config.filter.margin == margin
    faults = {DROP: Fault.DROP, CORRUPT: Fault.CORRUPT}
    run_service(config, sim, DURATION, faults=faults)
    streamed = read_carousel(tmp_path / "carousel")

    # 33 s: the one-shot filter's own end (GPS + 34) stays > 3 s away
    stretch = read_stretch(
        config.stream, make_preprocessor(config), GPS + 1, 33
    )
    client = PipelineClient(config.client)
    frames = clean_stretch(
        stretch,
        client.predict,
        config.window,
        config.filter,
        OutDqGate(config.gate),
        config.tracking,
    )
    client.close()
    offline = {f.gps: f for f in frames}
    assert sorted(offline) == list(range(GPS + 1, GPS + 33))
    # the first seconds differ: streaming starts from zero history, the
    # one-shot filter from its own edge; compare after P + W seconds
    compared = range(GPS + 5, GPS + 31)
    for channel, attr in (
        (CHANNELS.production, "production"),
        (CHANNELS.canary, "canary"),
    ):
        got = np.concatenate([streamed[g][channel] for g in compared])
        want = np.concatenate([getattr(offline[g], attr) for g in compared])
        noise = np.concatenate(
            [getattr(offline[g], attr) - offline[g].raw for g in compared]
        )
        scale = np.sqrt(np.mean(noise**2))
        error = got - want
        assert np.sqrt(np.mean(error**2)) < 1e-3 * scale, channel
        assert np.abs(error).max() < 1e-2 * scale, channel
    for gps in compared:
        frame, reference = streamed[gps], offline[gps]
        raw = frame[CHANNELS.raw]
        assert raw.tobytes() == reference.raw.tobytes()  # same input
        assert int(frame[CHANNELS.state][0]) == int(reference.state)
        assert int(frame[CHANNELS.production_version][0]) == (
            reference.production_version
        )
    # both dropped the missing and the corrupt second
    for gps in (DROP, CORRUPT):
        assert not streamed[gps][CHANNELS.raw].any()
        assert not offline[gps].raw.any()
