"""The summary of a reprocessing: ``<output>/summary/index.html``.

It lists every output file of the span (computed now, finished before,
failed with its reason) and draws two charts from the figures each task
wrote (``summary/<name>.json``): the in-band ASD ratio per file, and the
BNS range of the raw and cleaned strain over time, a point per block
(256 s; a point per file from figures written before blocks were kept).
``run.json`` records what this run computed, skipped and lost.

The charts are SVG written here, inline in the page: no plotting library
to import (a second of start-up for a page of two charts).
"""

from __future__ import annotations

import html
import json
import logging
import math
from pathlib import Path

from utils.atomic import write_json
from utils.atomic import write_text

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
PAGE_FILE = "index.html"
WIDTH, HEIGHT = 760, 260  # px of a chart
LEFT, RIGHT, TOP, BOTTOM = 70, 110, 12, 42  # px of margin around the axes
TICKS = 7  # labelled values per axis, at most
COLOURS = ("#1f77b4", "#d62728", "#2ca02c")
MARKERS_UP_TO = 200  # points drawn as dots too, when no more than this


def chunk_figures(summary_dir: Path, frames_dir: Path) -> list[dict]:
    """The figures in ``summary_dir`` of each file in ``frames_dir``, in
    GPS order. A task writes a file's figures before its frame: figures
    whose frame is not there (its write failed, or a rerun will redo it)
    are left out."""
    out = []
    for path in sorted(summary_dir.glob("*HOFT_DEEPCLEAN*.json")):
        try:
            figures = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            logger.warning("figures %s unreadable: %s", path, exc)
            continue
        if (frames_dir / figures["name"]).is_file():
            out.append(figures)
        else:
            logger.info(
                "figures %s left out: no frame %s", path.name, figures["name"]
            )
    return sorted(out, key=lambda f: f["gps"])


Series = dict[str, list[tuple[float, float]]]  # label -> (x, y) points


def svg_chart(
    series: Series, xlabel: str, ylabel: str, reference: float | None = None
) -> str:
    """An SVG line chart of ``series``, with round values on each axis
    (:func:`_ticks`), a legend, and a grey line at ``reference``;
    non-finite points are left out (a gap in the line)."""
    finite = [
        (x, y)
        for points in series.values()
        for x, y in points
        if math.isfinite(x) and math.isfinite(y)
    ]
    if not finite:
        return "<p>(no data)</p>"
    xs = [x for x, _ in finite]
    ys = [y for _, y in finite] + ([] if reference is None else [reference])
    x0, x1 = _limits(min(xs), max(xs))
    y0, y1 = _limits(min(ys), max(ys))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * inner_w

    def py(y: float) -> float:
        return TOP + (y1 - y) / (y1 - y0) * inner_h

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' "
        f"height='{HEIGHT}' font-family='sans-serif' font-size='11'>",
        f"<rect x='{LEFT}' y='{TOP}' width='{inner_w}' height='{inner_h}' "
        "fill='none' stroke='black'/>",
    ]
    parts.extend(
        f"<text x='{px(x):.1f}' y='{TOP + inner_h + 15}' "
        f"text-anchor='middle'>{x:g}</text>"
        for x in _ticks(x0, x1)
    )
    parts.extend(
        f"<text x='{LEFT - 5}' y='{py(y) + 4:.1f}' "
        f"text-anchor='end'>{y:g}</text>"
        for y in _ticks(y0, y1)
    )
    parts.append(
        f"<text x='{LEFT + inner_w / 2}' y='{HEIGHT - 6}' "
        f"text-anchor='middle'>{html.escape(xlabel)}</text>"
        f"<text transform='translate(14 {TOP + inner_h / 2}) rotate(-90)' "
        f"text-anchor='middle'>{html.escape(ylabel)}</text>"
    )
    if reference is not None:
        parts.append(
            f"<line x1='{LEFT}' x2='{LEFT + inner_w}' y1='{py(reference):.1f}'"
            f" y2='{py(reference):.1f}' stroke='grey' stroke-dasharray='4'/>"
        )
    for row, (label, points) in enumerate(series.items()):
        colour = COLOURS[row % len(COLOURS)]
        for run in _finite_runs(points):
            line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
            parts.append(
                f"<polyline points='{line}' fill='none' stroke='{colour}'/>"
            )
            if len(points) <= MARKERS_UP_TO:
                parts.extend(
                    f"<circle cx='{px(x):.1f}' cy='{py(y):.1f}' r='2.5' "
                    f"fill='{colour}'/>"
                    for x, y in run
                )
        parts.append(
            f"<text x='{LEFT + inner_w + 8}' y='{TOP + 14 + 16 * row}' "
            f"fill='{colour}'>{html.escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _limits(low: float, high: float) -> tuple[float, float]:
    """The axis range of data in ``[low, high]`` (a margin of 5 %)."""
    margin = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
    return low - margin, high + margin


def _ticks(low: float, high: float) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart, at most
    ``TICKS``) inside ``[low, high]``."""
    span = high - low
    power = 10.0 ** math.floor(math.log10(span / (TICKS - 1)))
    step = next(
        power * m for m in (1, 2, 5, 10) if span / (power * m) <= TICKS - 1
    )
    first = math.ceil(low / step)
    count = math.floor(high / step) - first + 1
    # rounded to the step's decimals: 0.30000000000000004 is written 0.3
    decimals = max(0, -math.floor(math.log10(step)))
    return [round((first + i) * step, decimals) for i in range(count)]


def _finite_runs(points: list[tuple[float, float]]):
    """The runs of consecutive finite points of ``points``."""
    run: list[tuple[float, float]] = []
    for x, y in points:
        if math.isfinite(x) and math.isfinite(y):
            run.append((x, y))
        elif run:
            yield run
            run = []
    if run:
        yield run


def charts(figures: list[dict]) -> str:
    """The page's two charts of ``figures`` (:func:`chunk_figures`)."""
    if not figures:
        return ""
    t0 = figures[0]["gps"]
    xlabel = f"hours since GPS {t0}"

    def hours(gps: int) -> float:
        return (gps - t0) / 3600

    ratio = {"ASD ratio": [(hours(f["gps"]), f["asd_ratio"]) for f in figures]}
    blocks = [b for f in figures for b in f.get("blocks") or [f]]
    ranges = {
        label: [(hours(b["gps"]), b[key]) for b in blocks]
        for label, key in (
            ("raw", "range_raw_mpc"),
            ("cleaned", "range_cleaned_mpc"),
        )
    }
    return (
        "<h2>In-band ASD ratio, cleaned / raw, per file</h2>"
        + svg_chart(ratio, xlabel, "ASD ratio", reference=1.0)
        + "<h2>BNS range over time</h2>"
        + svg_chart(ranges, xlabel, "range [Mpc]")
    )


def write_summary(
    summary_dir: Path,
    frames_dir: Path,
    computed: list[str],
    skipped: list[str],
    failures: dict[str, str],
    without_input: list[str] = (),
) -> Path:
    """Write ``run.json`` and ``index.html``; returns the page.

    Args:
        summary_dir: where they go, and where each task wrote its file's
            figures.
        frames_dir: the cleaned frames (a file's figures are charted
            only if its frame is there).
        computed: files written by this run.
        skipped: files finished before it.
        failures: file -> why it failed.
        without_input: files of the span none of whose seconds the
            strain, or the witness, frames hold (not written).
    """
    write_json(
        summary_dir / RUN_FILE,
        {
            "computed": sorted(computed),
            "skipped": sorted(skipped),
            "failed": failures,
            "without_input": sorted(without_input),
        },
    )
    figures = chunk_figures(summary_dir, frames_dir)
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
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>DeepClean reprocessing</title></head><body>"
        "<h1>DeepClean reprocessing</h1>"
        f"<p>{len(computed)} files computed, {len(skipped)} finished "
        f"before, {len(failures)} failed, {len(without_input)} without "
        "input (not written).</p>"
        f"<h2>Failed chunks</h2><ul>{failed or '<li>none</li>'}</ul>"
        f"{charts(figures)}"
        "<h2>Chunks</h2><table border='1'><tr><th>file</th>"
        "<th>seconds with input</th><th>ASD ratio (band)</th>"
        "<th>range raw [Mpc]</th><th>range cleaned [Mpc]</th></tr>"
        f"{''.join(rows)}</table></body></html>\n"
    )
    return write_text(summary_dir / PAGE_FILE, page)
