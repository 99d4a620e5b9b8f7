"""The status page: ``status_dir/index.html`` and its PNGs.

Rendered every ``interval`` seconds by the loop. The PNGs are written
first, each atomically, then ``index.html`` (atomically), so a reader never
sees a half-written file. The page reloads itself every ``interval``.
"""

from __future__ import annotations

import html
import logging
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from monitor import plots
from monitor.history import History
from monitor.spectra import OUTSIDE
from monitor.spectra import asd_ratios
from monitor.spectra import band_mean
from monitor.spectra import inspiral_range
from monitor.validation import ValidationConfig
from utils.astro import RANGE_FMIN
from utils.atomic import write_text
from utils.channels import STRAIN_RATE
from utils.channels import OutputChannels

logger = logging.getLogger(__name__)

FIGURES = (
    (
        "versions.png",
        "Model versions: frame tags over time, verdicts and "
        "promotions; training spans of the exported versions",
    ),
    ("asd_ratio.png", "ASD ratio of PRODUCTION, OUT_DQ and CANARY vs RAW"),
    ("range.png", "BNS inspiral range, raw vs cleaned"),
    (
        "latency.png",
        "Latency: carousel file mtime minus the end of the GPS "
        "second (cleaner data latency + compute + input delivery)",
    ),
    ("gate.png", "OUT_DQ gate state, dropped inputs, missing seconds"),
)


@dataclass(frozen=True)
class StatusConfig:
    """Status page and its plots.

    Attributes:
        status_dir: folder of index.html and the PNGs.
        interval: s between renders.
        port: HTTP port of the page on 127.0.0.1; 0 disables.
        history_length: s of per-second history plotted.
        psd_length: s of the newest contiguous data in the ASD plots.
        range_length: s of data per inspiral-range point.
        fftlength, overlap: s, Welch segments of the ASD ratios plotted
            (those the canaries are validated with).
        plot_low, plot_high: Hz, frequency axis of the ASD-ratio plot.
        range_fmin: Hz, low cut of the inspiral-range integral.
    """

    status_dir: Path
    interval: float
    port: int
    history_length: int
    psd_length: int
    range_length: int
    fftlength: float
    overlap: float
    plot_low: float = 50.0
    plot_high: float = 70.0
    range_fmin: float = RANGE_FMIN


@dataclass
class Snapshot:
    """What the page shows besides the history (plain values)."""

    exporter: dict | None = None
    exporter_error: str = ""
    validation: dict = field(default_factory=dict)
    pending: int | None = None
    promotions: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


class StatusPage:
    """Renders the page.

    Args:
        config: folder, sizes and plot spans.
        validation: the validation band and threshold (for the page).
        channels: output channel names.
    """

    def __init__(
        self,
        config: StatusConfig,
        validation: ValidationConfig,
        channels: OutputChannels,
    ) -> None:
        self.config = config
        self.validation = validation
        self.channels = channels
        self.labels = {
            channels.production: "production",
            channels.out_dq: "out_dq",
            channels.canary: "canary",
            channels.raw: "raw",
        }

    def render(self, history: History, snap: Snapshot) -> dict:
        """Draw every figure and write the page.

        Returns:
            ``{"asd_ratio": {label: band mean}, "range": {label: Mpc}}``.
        """
        t0 = time.perf_counter()
        folder = self.config.status_dir
        folder.mkdir(parents=True, exist_ok=True)
        hist = history.arrays()
        newest = int(hist["gps"][-1]) if len(hist["gps"]) else 0
        ratios, ranges, span = self._spectra(history, newest)
        plots.plot_versions(
            folder / "versions.png",
            hist,
            newest,
            self._marks(snap),
            self._versions(snap),
        )
        freqs, curves = ratios if ratios else (None, {})
        title = (
            "no data"
            if span is None
            else (f"GPS {span[0]}-{span[1]} ({span[1] - span[0]} s)")
        )
        plots.plot_asd_ratio(
            folder / "asd_ratio.png",
            freqs,
            curves,
            (self.validation.freq_low, self.validation.freq_high),
            (self.config.plot_low, self.config.plot_high),
            title,
        )
        plots.plot_series(
            folder / "range.png",
            newest,
            self._range_series(history),
            "range [Mpc]",
            "BNS (1.4+1.4) inspiral range",
        )
        ok = hist["gps"] if len(hist["gps"]) else []
        plots.plot_series(
            folder / "latency.png",
            newest,
            {"latency": (ok, hist["latency"])},
            "latency [s]",
            "frame latency",
        )
        plots.plot_gate(folder / "gate.png", hist, list(history.gaps), newest)
        self._write_html(folder / "index.html", snap, newest)
        band = {
            label: band_mean(
                freqs, r, self.validation.freq_low, self.validation.freq_high
            )
            for label, r in curves.items()
        }
        logger.debug(
            "status page rendered in %.2f s", time.perf_counter() - t0
        )
        return {"asd_ratio": band, "range": ranges}

    def _spectra(self, history: History, newest: int):
        run = history.contiguous_recent(self.channels.strains)
        if run is None:
            return None, {}, None
        data = {self.labels[c]: x for c, x in run["data"].items()}
        size = len(data["raw"])
        seconds = size // STRAIN_RATE
        span = (run["gps"], run["gps"] + seconds)
        ratios = None
        if seconds >= 4:
            c = self.config
            ratios = asd_ratios(
                data, "raw", STRAIN_RATE, c.fftlength, c.overlap
            )
        ranges = {}
        if seconds >= self.config.range_length:
            tail = self.config.range_length * STRAIN_RATE
            for label in ("raw", "production", "out_dq"):
                ranges[label] = inspiral_range(
                    data[label][-tail:], STRAIN_RATE, self.config.range_fmin
                )
            history.add_ranges(newest, ranges)
        return ratios, ranges, span

    @staticmethod
    def _range_series(history: History) -> dict:
        out = {}
        for label in ("raw", "production", "out_dq"):
            gps = [g for g, r in history.ranges]
            out[label] = (gps, [r.get(label) for g, r in history.ranges])
        return out

    @staticmethod
    def _marks(snap: Snapshot) -> list[dict]:
        marks = []
        for version, v in snap.validation.get("verdicts", {}).items():
            color = "C2" if v["status"] == "validated" else "C3"
            marks.append(
                {
                    "gps": v["gps"],
                    "color": color,
                    "label": f"v{version} {v['status']}",
                }
            )
        for p in snap.promotions:
            if p.get("gps") is not None:
                marks.append(
                    {
                        "gps": p["gps"],
                        "color": "C0",
                        "label": f"v{p['version']} promoted",
                    }
                )
        return marks

    @staticmethod
    def _versions(snap: Snapshot) -> list[dict]:
        if not snap.exporter:
            return []
        out = []
        for v in snap.exporter.get("versions", []):
            role = (
                "production"
                if v.get("version") == snap.exporter.get("production")
                else "canary"
                if v.get("version") == snap.exporter.get("canary")
                else ""
            )
            out.append({**v, "role": role})
        return out

    def _write_html(self, path: Path, snap: Snapshot, newest: int) -> None:
        e = html.escape
        if snap.exporter is not None:
            got = snap.exporter
            exporter = (
                f"production <b>{e(str(got.get('production')))}</b>"
                f", canary <b>{e(str(got.get('canary')))}</b>, "
                f"{len(got.get('versions', []))} versions"
            )
        else:
            exporter = f"<span class=bad>unreachable: {e(snap.exporter_error)}"
            exporter += "</span>"
        val, cfg = snap.validation, self.validation
        outside_limit = 100 * cfg.canary_out_of_band_limit
        validation = (
            f"version {val.get('version')} {val.get('status')}: "
            f"{val.get('seconds', 0)}/{cfg.window_length} s, "
            f"ASD ratio {val.get('ratio', float('nan')):.4f} vs raw "
            f"(promote below {cfg.ratio_threshold}, "
            f"{cfg.freq_low}-{cfg.freq_high} Hz), "
            f"{val.get('vs_production', float('nan')):.4f} vs production "
            f"(worst sub-band; at most {1 + cfg.production_margin:g}), "
            f"{100 * val.get('added_outside', float('nan')):+.2f} % power "
            f"outside the band (at most {outside_limit:g} %)"
        )
        rows = [
            ("exporter", exporter),
            ("live production", e(_live(snap.exporter))),
            ("production watch", e(_watch(val.get("watch")))),
            ("canary validation", e(validation)),
            ("verdicts", e(_verdicts(val.get("verdicts", {})))),
            ("pending promotion", e(str(snap.pending))),
            (
                "promotions",
                e(
                    ", ".join(
                        f"v{p['version']}@{p['gps']}"
                        for p in snap.promotions[-5:]
                    )
                ),
            ),
            ("newest GPS", str(newest)),
        ] + [(e(k), e(str(v))) for k, v in snap.facts.items()]
        table = "\n".join(
            f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows
        )
        figures = "\n".join(
            f'<figure><img src="{name}" alt="{e(caption)}">'
            f"<figcaption>{e(caption)}</figcaption></figure>"
            for name, caption in FIGURES
        )
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        page = _PAGE.format(
            refresh=int(max(5, self.config.interval)),
            ifo=e(self.channels.ifo),
            stamp=stamp,
            table=table,
            figures=figures,
        )
        write_text(path, page)


def _live(exporter: dict | None) -> str:
    """Which version is live and why (the exporter's promotion record)."""
    if not exporter:
        return "unknown (exporter unreachable)"
    since = exporter.get("production_since")
    production = exporter.get("production")
    if not production:
        return "none (version 0: PRODUCTION is raw strain)"
    if not since:
        return f"v{production}"
    reason = since.get("reason") or "no reason given"
    return (
        f"v{production} since {since.get('time')} (was "
        f"v{since.get('previous')}): {reason}"
    )


def _watch(watch: dict | None) -> str:
    """Production's ratio over its newest window against its baseline."""
    if not watch or not watch.get("version"):
        return "no production model"
    ratio, base = watch.get("ratio", float("nan")), watch.get("baseline")
    text = f"v{watch['version']}: ASD ratio {ratio:.4f} vs raw over " + (
        "its newest window" if watch.get("full") else "a partial window"
    )
    if base is not None:
        text += f" (validated {base:.4f})"
    if watch.get("stale"):
        text += " STALE: no longer matches the coupling; training requested"
    added = watch.get("added") or {}
    if added:
        text += "; added outside the band: " + ", ".join(
            f"{OUTSIDE.get(region, region)} {100 * value:+.2f} %"
            for region, value in added.items()
        )
    if watch.get("harmful"):
        text += " ADDS POWER outside the band"
    return text


def _verdicts(verdicts: dict) -> str:
    """The newest verdicts, both figures each."""
    out = []
    for version in sorted(verdicts, key=int, reverse=True)[:5]:
        v = verdicts[version]
        line = (
            f"v{version} {v['status']}: {v['ratio']:.4f} vs raw, "
            f"{v.get('vs_production', float('nan')):.4f} vs production "
            f"v{v.get('production_version', '?')} "
            f"({v.get('subband', '')}), "
            f"{100 * v.get('added_outside', float('nan')):+.2f} % outside"
        )
        if v.get("reason"):
            line += f", {v['reason']}"
        out.append(line)
    return "; ".join(out) or "none yet"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh}">
<title>DeepClean monitor {ifo}</title>
<style>
body {{ font-family: sans-serif; margin: 1em 2em; }}
th {{ text-align: left; padding-right: 1em; }}
.bad {{ color: #b00; }}
figure {{ margin: 1em 0; }}
img {{ max-width: 100%; border: 1px solid #ccc; }}
</style></head>
<body>
<h1>DeepClean monitor {ifo}</h1>
<p>rendered {stamp}</p>
<table>
{table}
</table>
{figures}
</body></html>
"""
