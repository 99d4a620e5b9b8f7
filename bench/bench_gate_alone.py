"""How often the OUT_DQ gate's per-second judgment calls a second worse
than raw, on a finished pipeline run's archived frames.

The gate judges each second alone (besides the 8-s buffer) so that one bad
second (a witness's glitch through the network, a sign flip) is never
written. This prints, over every second with a production model, how many
measure above ``gate_threshold + gate_margin`` when judged

- over the second alone (one 1-s Hann segment, 1-Hz bins: the rule
  before 39299f6), and
- with the second before it (one 2-s segment: the gate's rule now),

next to the in-band power ratio of the band-passed second (with a second
of context either side), which says whether PRODUCTION was worse at all::

    .venv/cleaner/bin/python bench/bench_gate_alone.py RUN_DIR

``RUN_DIR``: a ``bench/bench_couplings.py`` run folder (it keeps its
``project/archive``), or any ``PROJECT_DIR`` with an ``archive/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cleaner.config import CleanerSettings
from utils.channels import OutputChannels
from utils.channels import State
from utils.gwf import read_frame
from utils.names import FrameName
from utils.settings_checks import settings_loader
from utils.signal import Subbands
from utils.signal import bandpass
from utils.signal import psd


def archive_of(run: Path) -> Path:
    for folder in (run / "project" / "archive", run / "archive"):
        if folder.is_dir():
            return folder
    raise SystemExit(f"no archive/ in {run}")


def seconds(archive: Path, ifo: str):
    """``(sample_rate, raw, production, modelled)`` of each archive file,
    in GPS order (``modelled``: per second; seconds are judged within
    their file, never across two)."""
    ch = OutputChannels(ifo)
    for path in sorted(archive.glob(f"*-{ifo}_DEEPCLEAN-*.gwf")):
        name = FrameName.parse(path)
        data = read_frame(path, [ch.raw, ch.production, ch.state])
        raw, production = data[ch.raw].data, data[ch.production].data
        rate = data[ch.raw].sample_rate
        state = data[ch.state].data.reshape(name.duration, -1)
        modelled = np.all(state & State.PRODUCTION_OK, axis=1)
        yield int(rate), raw, production, modelled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    args = parser.parse_args()
    settings = settings_loader(CleanerSettings, "cleaner")()
    limit = settings.gate_threshold + settings.gate_margin
    band = Subbands(settings.freq_low, settings.freq_high, ())
    judged = {"1 s alone": [], "with the second before": [], "band-passed": []}
    for fs, raw, production, modelled in seconds(
        archive_of(args.run), settings.ifo
    ):
        both = np.stack([production, raw])
        for s in range(2, len(modelled) - 1):
            if not modelled[s - 1 : s + 1].all():
                continue
            for key, start, length in (
                ("1 s alone", s, 1),
                ("with the second before", s - 1, 2),
            ):
                part = both[:, start * fs : (start + length) * fs]
                f, (p_clean, p_raw) = psd(part, fs, length, 0.0, "mean")
                judged[key].append(band.ratios(p_clean, p_raw, f)[0])
            context = both[:, (s - 1) * fs : (s + 2) * fs]
            passed = bandpass(
                context, settings.freq_low, settings.freq_high, fs
            )[:, fs : 2 * fs]
            power = np.sum(passed**2, axis=1)
            judged["band-passed"].append(float(np.sqrt(power[0] / power[1])))
    print(
        f"{len(judged['1 s alone'])} seconds with a model; the gate's limit "
        f"{limit:g} (gate_threshold + gate_margin)"
    )
    for key, values in judged.items():
        x = np.array(values)
        if not x.size:
            continue
        print(
            f"  {key:24s} above the limit: {np.sum(x > limit):4d}; "
            f"median {np.median(x):.3f}, max {x.max():.3f}"
        )


if __name__ == "__main__":
    main()
