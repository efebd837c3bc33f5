"""The figure of a prediction's report: the used spectra shaded by importance, as inline SVG.

The HTML report of ``mspectmol predict`` (:mod:`mspectmol.predict.report`) and the web app's
result page (:mod:`mspectmol.web.render`) show this same drawing. It is written directly as
SVG text (no plotting library: neither imports matplotlib nor rasterises a figure), one panel
per spectrum the model used, on chemists' axes (the modality registry's ``x_decreasing``: IR
wavenumbers from 4000 down to 400 cm-1, NMR shifts decreasing to the right):

* the prepared spectrum on the model's grid as a black line;
* its gate importance as a background from white (the spectrum's least important point) to
  red (its most important), as the figures of :mod:`mspectmol.explain.plots` shade it, and
  the range of the map in the panel's corner;
* under the spectrum, one track per confident call (most probable first) marking the
  spectral regions behind that call (darker: a larger share of the attribution; the exact
  ranges as tooltips);
* x ticks at round values with the modality's axis label, y ticks of the normalised
  intensity.

Every text from the input (sample name, title) is escaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np

from mspectmol.predict.common import format_regions
from mspectmol.spectra.modalities import get_modality

#: The most important point of a map (the colour of ``mspectmol.explain.plots``).
IMPORTANCE_RED = "#e4572e"
#: Colours of the calls' region tracks, in call order (matplotlib's "tab10").
TRACK_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: Calls shown as region tracks (the most probable ones).
MAX_TRACKS = 10
_LEVELS = 12  # shades of the importance background
_W, _LEFT, _RIGHT = 760, 58, 150
_TITLE, _HEAD, _PLOT, _TRACK, _AXIS, _GAP = 40, 20, 130, 11, 36, 12
_TEX = re.compile(r"\$([^$]*)\$")
_SUPER = re.compile(r"\^(\{[^}]*\}|.)")


def svg_text(label: str) -> str:
    """SVG text content for a registry label with TeX bits (``"$^{13}$C NMR"``,
    ``"Wavenumber (cm$^{-1}$)"``, ``"$\\delta$ (ppm)"``): superscripts as raised
    ``tspan`` elements, ``\\delta`` as the Greek letter, the rest escaped."""
    out, pos = [], 0
    for math_part in _TEX.finditer(label):
        out.append(escape(label[pos:math_part.start()]))
        inner, at = math_part.group(1).replace("\\delta", "\u03b4"), 0
        for sup in _SUPER.finditer(inner):
            out.append(escape(inner[at:sup.start()]))
            text = sup.group(1).strip("{}").replace("-", "\u2212")
            out.append(f'<tspan dy="-4" font-size="0.75em">{escape(text)}</tspan>'
                       '<tspan dy="4">\u200b</tspan>')
            at = sup.end()
        out.append(escape(inner[at:]))
        pos = math_part.end()
    out.append(escape(label[pos:]))
    return "".join(out)


def ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 x 10^k apart) from ``lo`` to ``hi`` (ascending)."""
    raw = (hi - lo) / max(n, 1)
    if not raw > 0:
        return [lo]
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    count = int(math.floor((hi - first) / step + 1e-9)) + 1
    return [round(first + k * step, 10) + 0.0 for k in range(count)]


def _number(value: float) -> str:
    """A tick label: shortest form, with a real minus sign."""
    return f"{value:g}".replace("-", "\u2212")


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around ascending points (midpoints, ends extended by half a step)."""
    mid = (x[1:] + x[:-1]) / 2
    return np.r_[x[0] - (mid[0] - x[0]), mid, x[-1] + (x[-1] - mid[-1])]


class _Axis:
    """Data to pixel coordinates of one panel (x reversed for ``x_decreasing``)."""

    def __init__(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float, top: float,
                 decreasing: bool) -> None:
        self.x_lo, self.x_hi, self.y_lo, self.y_hi = x_lo, x_hi, y_lo, y_hi
        self.top, self.decreasing = top, decreasing
        self.width = _W - _LEFT - _RIGHT

    def px(self, x: np.ndarray | float) -> Any:
        frac = (np.asarray(x, dtype=np.float64) - self.x_lo) / (self.x_hi - self.x_lo)
        return _LEFT + (1.0 - frac if self.decreasing else frac) * self.width

    def py(self, y: np.ndarray | float) -> Any:
        frac = (np.asarray(y, dtype=np.float64) - self.y_lo) / (self.y_hi - self.y_lo)
        return self.top + (1.0 - frac) * _PLOT

    def span(self, lo: float, hi: float) -> tuple[float, float]:
        """Left pixel and width of the data range ``lo``-``hi``, clipped to the plot."""
        a, b = sorted((float(self.px(lo)), float(self.px(hi))))
        a, b = max(a, _LEFT), min(b, _LEFT + self.width)
        return a, max(b - a, 0.0)


def _shading(axis: _Axis, x: np.ndarray, imp: np.ndarray) -> tuple[list[str], str]:
    """Rectangles of the importance background (runs of equal shade) and the range note."""
    lo, hi = float(np.nanmin(imp)), float(np.nanmax(imp))
    norm = np.nan_to_num((imp - lo) / (hi - lo) if hi > lo else np.zeros_like(imp))
    level = np.rint(norm * _LEVELS).astype(int)
    edges = _edges(x)
    starts = np.r_[0, np.flatnonzero(np.diff(level)) + 1]
    stops = np.r_[starts[1:], level.size]
    out = []
    for a, b in zip(starts, stops, strict=True):
        if level[a] == 0:
            continue
        left, width = axis.span(edges[a], edges[b])
        out.append(f'<rect x="{left:.1f}" y="{axis.top}" width="{width:.2f}" height="{_PLOT}" '
                   f'fill="{IMPORTANCE_RED}" fill-opacity="{0.7 * level[a] / _LEVELS:.3f}"/>')
    return out, f"importance {lo:.2g} to {hi:.2g}"


def _tracks(axis: _Axis, modality: str, grid: np.ndarray, calls: Sequence[tuple[str, float]],
            regions: dict[str, dict[str, list[tuple[float, float, float]]]], top: float
            ) -> list[str]:
    """One row per call under the plot: its regions in this spectrum, and its name."""
    out = []
    for k, (name, prob) in enumerate(calls):
        y = top + k * _TRACK
        colour = TRACK_COLOURS[k % len(TRACK_COLOURS)]
        found = regions.get(name, {}).get(modality, [])
        most = max((w for _, _, w in found), default=0.0) or 1.0
        out.append(f'<line x1="{_LEFT}" y1="{y + 4.5:.1f}" x2="{_W - _RIGHT}" '
                   f'y2="{y + 4.5:.1f}" stroke="#e4e4e4"/>')
        for lo, hi, w in found:
            left, width = axis.span(lo, hi)
            tip = f"{name} ({prob:.2f}): {format_regions(modality, [(lo, hi, w)], grid)}"
            out.append(f'<rect class="region" x="{left:.1f}" y="{y:.1f}" '
                       f'width="{max(width, 1.5):.1f}" height="9" fill="{colour}" '
                       f'fill-opacity="{0.35 + 0.65 * w / most:.2f}"><title>{escape(tip)}'
                       "</title></rect>")
        short = name if len(name) <= 22 else name[:21] + "\u2026"
        out.append(f'<text x="{_W - _RIGHT + 6}" y="{y + 8.5:.1f}" font-size="9" '
                   f'fill="{colour}">{escape(short)} ({prob:.2f})</text>')
    return out


def _panel(modality: str, x: np.ndarray, y: np.ndarray, imp: np.ndarray | None,
           calls: Sequence[tuple[str, float]],
           regions: dict[str, dict[str, list[tuple[float, float, float]]]], top: float,
           note: str | None) -> tuple[list[str], float]:
    """The SVG elements of one spectrum's panel starting at ``top``, and its height."""
    mod = get_modality(modality)
    order = np.argsort(x)
    x, y = x[order], np.nan_to_num(y[order])
    y_hi = float(max(y.max(), 0.0)) * 1.08 or 1.0
    y_lo = min(0.0, float(y.min()) * 1.08)
    axis = _Axis(float(x[0]), float(x[-1]), y_lo, y_hi, top + _HEAD, mod.x_decreasing)
    bottom = axis.top + _PLOT
    out = [f'<g class="panel" data-modality="{escape(modality)}">',
           f'<text x="{_LEFT}" y="{top + 14}" font-size="13" font-weight="bold">'
           f"{svg_text(mod.label)}</text>"]
    if imp is not None and np.isfinite(imp).any() and np.nanmax(imp) > 0:
        shades, contrast = _shading(axis, x, np.asarray(imp, dtype=np.float64)[order])
        out += shades
        note = f"{note}; {contrast}" if note else contrast
    if note:
        out.append(f'<text x="{_W - _RIGHT}" y="{top + 14}" font-size="10" fill="#666" '
                   f'text-anchor="end">{escape(note)}</text>')
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(axis.px(x), axis.py(y), strict=True))
    out.append(f'<polyline class="spectrum" points="{points}" fill="none" stroke="#111" '
               'stroke-width="1" stroke-linejoin="round"/>')
    out.append(f'<rect x="{_LEFT}" y="{axis.top}" width="{axis.width}" height="{_PLOT}" '
               'fill="none" stroke="#222"/>')
    for t in ticks(y_lo, y_hi / 1.08, 4):
        py = float(axis.py(t))
        out.append(f'<line x1="{_LEFT - 4}" y1="{py:.1f}" x2="{_LEFT}" y2="{py:.1f}" '
                   f'stroke="#222"/><text x="{_LEFT - 7}" y="{py + 3.5:.1f}" font-size="10" '
                   f'text-anchor="end">{_number(t)}</text>')
    out.append(f'<text transform="translate(14 {axis.top + _PLOT / 2:.0f}) rotate(-90)" '
               'font-size="10" text-anchor="middle">Intensity (norm.)</text>')
    out += _tracks(axis, modality, x, calls, regions, bottom + 4)
    axis_y = bottom + 4 + len(calls) * _TRACK + (2 if calls else 0)
    tick_values = ticks(axis.x_lo, axis.x_hi, 8)
    for t in sorted(tick_values, key=lambda v: float(axis.px(v))):  # left to right
        px = float(axis.px(t))
        out.append(f'<line x1="{px:.1f}" y1="{axis_y}" x2="{px:.1f}" y2="{axis_y + 4}" '
                   f'stroke="#222"/><text class="xtick" x="{px:.1f}" y="{axis_y + 15}" '
                   f'font-size="10" text-anchor="middle">{_number(t)}</text>')
    out.append(f'<line x1="{_LEFT}" y1="{axis_y}" x2="{_W - _RIGHT}" y2="{axis_y}" '
               'stroke="#222"/>')
    out.append(f'<text x="{_LEFT + axis.width / 2:.0f}" y="{axis_y + 30}" font-size="11" '
               f'text-anchor="middle">{svg_text(mod.x_label)}</text></g>')
    return out, axis_y + _AXIS - top


def _legend(has_importance: bool, has_tracks: bool) -> str:
    items = ['<line x1="0" y1="-4" x2="16" y2="-4" stroke="#111" stroke-width="1.5"/>'
             '<text x="21" y="0">spectrum (prepared, on the model\'s grid)</text>']
    x = 250
    if has_importance:
        items.append(f'<g transform="translate({x} 0)"><rect x="0" y="-9" width="16" '
                     f'height="10" fill="{IMPORTANCE_RED}" fill-opacity="0.7"/><text x="21" '
                     'y="0">gate importance (white: least, red: most)</text></g>')
        x += 250
    if has_tracks:
        items.append(f'<g transform="translate({x} 0)"><rect x="0" y="-8" width="16" '
                     f'height="8" fill="{TRACK_COLOURS[0]}"/><text x="21" y="0">regions '
                     "behind each call</text></g>")
    return f'<g transform="translate({_LEFT} 34)" font-size="10">{"".join(items)}</g>'


def spectra_svg(pred: Any, title: str = "") -> str:
    """The figure of a :class:`~mspectmol.predict.pipeline.Prediction` as an inline
    ``<svg class="spectra">`` element (see the module docstring); empty without a used
    spectrum."""
    used = [m for m in pred.inputs.used if m in pred.grids and m in pred.inputs.spectra]
    if not used:
        return ""
    calls = [(pred.label_names[i], float(pred.probabilities[i]))
             for i in pred.calls][:MAX_TRACKS]
    calls = calls if pred.call_regions else []
    maps = pred.gate_maps or {}
    body, top = [], float(_TITLE)
    for m in used:
        note = None if m in maps else "no gate importance"
        part, height = _panel(m, np.asarray(pred.grids[m], dtype=np.float64),
                              np.asarray(pred.inputs.spectra[m], dtype=np.float64),
                              maps.get(m), calls, pred.call_regions, top, note)
        body += part
        top += height + _GAP
    height = int(math.ceil(top))
    label = f"spectra with gate importance: {title}" if title else "spectra with gate importance"
    return (f'<svg class="spectra" xmlns="http://www.w3.org/2000/svg" width="{_W}" '
            f'height="{height}" viewBox="0 0 {_W} {height}" role="img" '
            f'font-family="sans-serif" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>"
            f'<text x="{_LEFT}" y="16" font-size="13">{escape(title)}</text>'
            f"{_legend(bool(maps), bool(calls))}{''.join(body)}</svg>")
