"""The status page's figures (matplotlib, Agg, no pyplot global state).

Each function draws one PNG and writes it atomically
(:func:`utils.atomic.atomic_path`). Time axes are seconds relative to the
newest processed GPS second, named in the axis label.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from utils.atomic import atomic_path

COLORS = {"raw": "0.3", "production": "C0", "out_dq": "C2", "canary": "C1"}
STYLES = {"out_dq": "--"}  # OUT_DQ equals PRODUCTION while the gate is open
MARGINS = (0.9, 0.9, 0.6, 0.35)  # inches: left, right, bottom, top
# explicit, whatever else restyles matplotlib globally (gwpy does, with
# mathtext tick labels that cost seconds per render)
STYLE = {
    "axes.formatter.use_mathtext": False,
    "axes.formatter.limits": [-5, 6],
    "axes.grid": False,
    "font.size": 10.0,
    "font.sans-serif": ["DejaVu Sans"],
    "legend.handlelength": 2.0,
}


def styled(plot: Callable[..., Path]) -> Callable[..., Path]:
    """Run a plotting function entirely in :data:`STYLE`."""

    @functools.wraps(plot)
    def wrapper(*args: object, **kwargs: object) -> Path:
        with matplotlib.rc_context(STYLE):
            return plot(*args, **kwargs)

    return wrapper


def save(fig: Figure, path: Path, hspace: float = 0.0) -> Path:
    """Lay out ``fig`` with fixed margins (``tight_layout`` measures every
    label: a third of the render time) and write it to ``path``
    atomically. ``hspace``: inches between stacked axes."""
    width, height = fig.get_size_inches()
    rows = len(fig.axes)
    fig.subplots_adjust(
        left=MARGINS[0] / width,
        right=1 - MARGINS[1] / width,
        bottom=MARGINS[2] / height,
        top=1 - MARGINS[3] / height,
        hspace=hspace * rows / max(height - sum(MARGINS[2:]), 1.0),
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    return path


def _time_axis(ax, newest: int) -> None:
    ax.set_xlabel(f"time [s] relative to GPS {newest}")
    ax.grid(alpha=0.3)


@styled
def plot_versions(
    path: Path,
    hist: dict,
    newest: int,
    marks: list[dict],
    versions: list[dict],
) -> Path:
    """Version tags of the frames over time (with verdicts and promotions
    marked) and the training spans of the exporter's versions."""
    fig = Figure(figsize=(10, 6))
    ax, ax2 = fig.subplots(2, 1)
    if len(hist["gps"]):
        t = hist["gps"] - newest
        ax.step(
            t,
            hist["production_version"],
            where="post",
            label="PRODUCTION_VERSION",
            color=COLORS["production"],
        )
        ax.step(
            t,
            hist["canary_version"],
            where="post",
            ls="--",
            label="CANARY_VERSION",
            color=COLORS["canary"],
        )
    for mark in marks:
        ax.axvline(mark["gps"] - newest, color=mark["color"], alpha=0.6)
        ax.text(
            mark["gps"] - newest,
            0.03,
            mark["label"],
            rotation=90,
            fontsize=7,
            color=mark["color"],
            va="bottom",
            transform=ax.get_xaxis_transform(),
        )
    ax.set_ylabel("version (0: none)")
    ax.set_title("model versions in the frames")
    ax.legend(loc="upper left", fontsize=8)
    _time_axis(ax, newest)
    for i, v in enumerate(versions[-20:]):
        start, stop = v.get("gps_start"), v.get("gps_stop")
        if start is None or stop is None:
            continue
        color = COLORS.get(v.get("role", ""), "0.6")
        ax2.barh(i, stop - start, left=start, color=color, height=0.6)
        ax2.annotate(
            f"v{v['version']} {v.get('role', '')}",
            (stop, i),
            fontsize=7,
            va="center",
        )
    ax2.set_title("training span of each exported version (exporter)")
    ax2.set_xlabel("GPS time of the training data [s]")
    ax2.set_yticks([])
    return save(fig, path, hspace=0.9)


@styled
def plot_asd_ratio(
    path: Path,
    freqs: np.ndarray | None,
    ratios: dict,
    band: tuple[float, float],
    span: tuple[float, float],
    title: str,
) -> Path:
    """ASD of each product over the raw ASD around the target band."""
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    if freqs is not None:
        mask = (freqs >= span[0]) & (freqs <= span[1])
        # OUT_DQ (dashed) last: it hides under PRODUCTION when the gate is open
        for label, ratio in sorted(
            ratios.items(), key=lambda item: item[0] == "out_dq"
        ):
            ax.plot(
                freqs[mask],
                ratio[mask],
                label=label,
                color=COLORS.get(label),
                ls=STYLES.get(label, "-"),
            )
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
    else:
        ax.text(
            0.5,
            0.5,
            "no contiguous data yet",
            ha="center",
            transform=ax.transAxes,
        )
    ax.axvspan(*band, color="0.85", zorder=0, label="target band")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xlim(*span)
    ax.set_xlabel("frequency [Hz]")
    ax.set_ylabel("ASD(product) / ASD(RAW)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return save(fig, path)


@styled
def plot_series(
    path: Path, newest: int, series: dict, ylabel: str, title: str
) -> Path:
    """Lines over time: ``series`` maps label -> (gps array, values)."""
    fig = Figure(figsize=(10, 3.5))
    ax = fig.subplots()
    drawn = False
    for label, (gps, values) in series.items():
        if len(gps):
            ax.plot(
                np.asarray(gps) - newest,
                values,
                marker="o",
                ms=3,
                label=label,
                color=COLORS.get(label),
                ls=STYLES.get(label, "-"),
            )
            drawn = True
    if drawn:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", transform=ax.transAxes)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _time_axis(ax, newest)
    return save(fig, path)


@styled
def plot_gate(
    path: Path, hist: dict, gaps: list[tuple[int, int]], newest: int
) -> Path:
    """OUT_DQ gate state, dropped inputs and missing carousel seconds."""
    fig = Figure(figsize=(10, 5))
    ax, ax2 = fig.subplots(2, 1, sharex=True)
    if len(hist["gps"]):
        t = hist["gps"] - newest
        ax.step(
            t,
            hist["out_dq_on"],
            where="post",
            color=COLORS["out_dq"],
            label="open",
        )
        ax.step(
            t, hist["out_dq_taper"], where="post", color="C3", label="tapering"
        )
        dropped = ~hist["input_ok"].astype(bool)
        ax2.plot(
            t[dropped],
            np.ones(dropped.sum()),
            "|",
            color="C3",
            ms=12,
            label="dropped input (INPUT_OK off)",
        )
    for start, stop in gaps:
        ax2.axvspan(start - newest, stop - newest, color="C4", alpha=0.4)
    ax2.plot(
        [], [], lw=6, color="C4", alpha=0.4, label="missing from the carousel"
    )
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("fraction of second")
    ax.set_title("OUT_DQ gate")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax2.set_yticks([])
    ax2.set_title("dropped and missing seconds")
    ax2.legend(fontsize=8, loc="upper left")
    _time_axis(ax2, newest)
    return save(fig, path, hspace=0.4)
