"""The summary of a reprocessing: ``<output>/summary/index.html``.

It lists every output file of the span (computed now, finished before,
failed with its reason) and shows two PNGs from the figures each task
wrote (``summary/<name>.json``): the in-band ASD ratio per chunk, and the
BNS range of the raw and cleaned strain over time. ``run.json`` records
what this run computed, skipped and lost.

matplotlib (a Figure, no pyplot) is imported when the summary is drawn:
the Dask workers import this module with the command's and need none of it.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

from utils.atomic import atomic_path, write_json, write_text

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
PAGE_FILE = "index.html"


def chunk_figures(summary_dir: Path) -> list[dict]:
    """Every chunk's figures found in ``summary_dir``, in GPS order."""
    out = []
    for path in sorted(summary_dir.glob("*HOFT_DEEPCLEAN*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            logger.warning("figures %s unreadable: %s", path, exc)
    return sorted(out, key=lambda f: f["gps"])


def _plot(path: Path, figures: list[dict], what: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    gps = [f["gps"] for f in figures]
    if what == "ratio":
        ax.plot(gps, [f["asd_ratio"] for f in figures], "o-")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_ylabel("ASD ratio cleaned / raw")
    else:
        for key, label in (
            ("range_raw_mpc", "raw"),
            ("range_cleaned_mpc", "cleaned"),
        ):
            ax.plot(gps, [f[key] for f in figures], "o-", label=label)
        ax.set_ylabel("BNS range [Mpc]")
        ax.legend()
    ax.set_xlabel("GPS start of the chunk")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def write_summary(
    summary_dir: Path,
    computed: list[str],
    skipped: list[str],
    failures: dict[str, str],
) -> Path:
    """Write ``run.json``, the PNGs and ``index.html``; returns the page."""
    write_json(
        summary_dir / RUN_FILE,
        {
            "computed": sorted(computed),
            "skipped": sorted(skipped),
            "failed": failures,
        },
    )
    figures = chunk_figures(summary_dir)
    rows = []
    for f in figures:
        rows.append(
            f"<tr><td>{html.escape(f['name'])}</td>"
            f"<td>{f['seconds_present']}/{f['duration']}</td>"
            f"<td>{f['asd_ratio']:.4f}</td><td>{f['range_raw_mpc']:.1f}</td>"
            f"<td>{f['range_cleaned_mpc']:.1f}</td></tr>"
        )
    failed = "".join(
        f"<li>{html.escape(name)}: {html.escape(reason)}</li>"
        for name, reason in sorted(failures.items())
    )
    if figures:
        _plot(summary_dir / "asd_ratio.png", figures, "ratio")
        _plot(summary_dir / "range.png", figures, "range")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>DeepClean reprocessing</title></head><body>"
        "<h1>DeepClean reprocessing</h1>"
        f"<p>{len(computed)} files computed, {len(skipped)} finished "
        f"before, {len(failures)} failed.</p>"
        f"<h2>Failed chunks</h2><ul>{failed or '<li>none</li>'}</ul>"
        "<img src='asd_ratio.png'><img src='range.png'>"
        "<h2>Chunks</h2><table border='1'><tr><th>file</th>"
        "<th>seconds with input</th><th>ASD ratio (band)</th>"
        "<th>range raw [Mpc]</th><th>range cleaned [Mpc]</th></tr>"
        f"{''.join(rows)}</table></body></html>\n"
    )
    return write_text(summary_dir / PAGE_FILE, page)
