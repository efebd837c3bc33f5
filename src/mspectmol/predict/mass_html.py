"""The mass-spectrum section of the HTML reports and the web page: the formula candidates with
their score terms and the assumptions made, and, with a structure, the explained peaks as a
stick spectrum (inline SVG: no plotting library, so the web app stays light) and a table.

The figure follows the conventions of mass spectra: m/z increasing to the right, intensity
relative to the base peak (100%) upwards, one line per peak; peaks a fragment explains are
red and labelled with the fragment ion's formula, unexplained ones grey, the precursor (or
molecular ion) dark blue. Every text from the input is HTML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from mspectmol.chem.fragments import PeakMatch
from mspectmol.predict.mass import SHARE_RULE, MassReport

#: Peaks drawn (the most intense) and labelled, and rows of the explained-peaks table.
MAX_DRAWN = 300
MAX_LABELS = 8
MAX_ROWS = 40
_W, _H = 640, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 50, 40
_COLOURS = {"explained": "#c0392b", "unexplained": "#9a9a9a", "precursor": "#1f3a5f",
            "below range": "#cfcfcf", "peak": "#555555"}


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 x 10^k apart) within ``lo``-``hi``."""
    raw = (hi - lo) / max(n, 1)
    mag = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]


def _peaks(report: MassReport) -> list[PeakMatch]:
    if report.explanation is not None:
        return list(report.explanation.peaks)
    ion = report.formulas.ion.mz
    return [PeakMatch(float(m), float(y), "precursor" if abs(m - ion) <= 0.5 else "peak")
            for m, y in zip(report.mz, report.intensity, strict=True)]


def peaks_svg(report: MassReport) -> str:
    """The stick spectrum as an inline SVG element (see the module docstring)."""
    peaks = [p for p in _peaks(report) if p.intensity > 0]
    if not peaks:
        return ""
    peaks = sorted(peaks, key=lambda p: -p.intensity)[:MAX_DRAWN]
    base = peaks[0].intensity
    top_mz = max(max(p.mz for p in peaks), report.formulas.ion.mz)
    lo = max(0.0, math.floor(min(p.mz for p in peaks) / 10.0) * 10.0 - 10.0)
    hi = math.ceil(top_mz * 1.04 / 10.0) * 10.0
    span_x, span_y = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(mz: float) -> float:
        return _LEFT + (mz - lo) / (hi - lo) * span_x

    def y(rel: float) -> float:
        return _TOP + (1.0 - rel / 100.0) * span_y

    out = [f'<svg class="ms-peaks" xmlns="http://www.w3.org/2000/svg" width="{_W}" '
           f'height="{_H}" viewBox="0 0 {_W} {_H}" role="img" font-family="sans-serif" '
           f'font-size="11" aria-label="mass spectrum of {escape(report.source)}">'
           f"<title>{escape(report.source)}: peaks relative to the base peak</title>",
           f'<line x1="{_LEFT}" y1="{y(0):.1f}" x2="{_W - _RIGHT}" y2="{y(0):.1f}" '
           'stroke="#222"/>',
           f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{y(0):.1f}" stroke="#222"/>']
    for t in _ticks(lo, hi):
        out.append(f'<line x1="{x(t):.1f}" y1="{y(0):.1f}" x2="{x(t):.1f}" '
                   f'y2="{y(0) + 4:.1f}" stroke="#222"/><text x="{x(t):.1f}" '
                   f'y="{y(0) + 16:.1f}" text-anchor="middle">{t:g}</text>')
    for t in (0, 25, 50, 75, 100):
        out.append(f'<line x1="{_LEFT - 4}" y1="{y(t):.1f}" x2="{_LEFT}" y2="{y(t):.1f}" '
                   f'stroke="#222"/><text x="{_LEFT - 7}" y="{y(t) + 4:.1f}" '
                   f'text-anchor="end">{t}</text>')
    out.append(f'<text x="{_LEFT + span_x / 2:.0f}" y="{_H - 6}" text-anchor="middle" '
               'font-style="italic">m/z</text>'
               f'<text transform="translate(13 {_TOP + span_y / 2:.0f}) rotate(-90)" '
               'text-anchor="middle">relative intensity (%)</text>')
    for p in sorted(peaks, key=lambda p: p.status == "explained"):  # explained on top
        rel = 100.0 * p.intensity / base
        out.append(f'<line x1="{x(p.mz):.1f}" y1="{y(0):.1f}" x2="{x(p.mz):.1f}" '
                   f'y2="{y(rel):.1f}" stroke="{_COLOURS[p.status]}" stroke-width="1.6">'
                   f"<title>m/z {p.mz:.4f}, {rel:.1f}%: {escape(_peak_note(p))}</title></line>")
    out += _labels(peaks, base, x, y)
    out.append(_legend(report))
    return "".join(out) + "</svg>"


def _peak_note(p: PeakMatch) -> str:
    if p.status == "explained":
        return f"{p.formula} ({p.cuts} cut(s), H shift {p.h_shift:+d})"
    return {"peak": "peak", "precursor": "precursor / molecular ion"}.get(p.status, p.status)


def _labels(peaks: Sequence[PeakMatch], base: float, x: Callable[[float], float],
            y: Callable[[float], float]) -> list[str]:
    """m/z (and fragment formula) above the most intense peaks, skipping crowded ones."""
    placed: list[float] = []
    out = []
    for p in peaks:  # by decreasing intensity
        if len(placed) >= MAX_LABELS or p.status == "below range":
            continue
        px = x(p.mz)
        if any(abs(px - q) < 46 for q in placed):
            continue
        placed.append(px)
        py = y(100.0 * p.intensity / base)
        colour = _COLOURS[p.status]
        out.append(f'<text x="{px:.1f}" y="{py - 4:.1f}" text-anchor="middle" '
                   f'fill="{colour}">{p.mz:.4f}</text>')
        if p.formula:
            out.append(f'<text x="{px:.1f}" y="{py - 16:.1f}" text-anchor="middle" '
                       f'fill="{colour}">{escape(p.formula)}</text>')
    return out


def _legend(report: MassReport) -> str:
    kinds = (["explained", "unexplained", "precursor"] if report.explanation is not None
             else ["peak", "precursor"])
    names = {"precursor": "precursor / molecular ion", "explained": "explained by a fragment"}
    out, x0 = [], _LEFT + 8
    for k in kinds:
        label = names.get(k, k)
        out.append(f'<rect x="{x0}" y="8" width="10" height="10" fill="{_COLOURS[k]}"/>'
                   f'<text x="{x0 + 14}" y="17">{escape(label)}</text>')
        x0 += 24 + 6 * len(label)
    return "".join(out)


def _num(value: float | None, fmt: str) -> str:
    """``value`` formatted, ``-`` for None, and no negative zero (``-0.00``)."""
    if value is None:
        return "-"
    text = format(value, fmt)
    return text if text.lstrip("+-").strip("0.") else format(abs(value) * 0, fmt)


def formulas_table(report: MassReport) -> str:
    """The ranked formula candidates with their score terms."""
    f = report.formulas
    if not f.candidates:
        return "<p>No formula within the tolerance obeys the chemical rules.</p>"
    rows = []
    for k, c in enumerate(f.candidates, 1):
        mark = ' class="call"' if report.structure_formula == c.name else ""
        rows.append(f"<tr{mark}><td class=\"num\">{k}</td><td>{escape(c.name)}</td>"
                    f'<td class="num">{c.mz:.5f}</td><td class="num">{_num(c.ppm, "+.2f")}</td>'
                    f'<td class="num">{c.rdbe:g}</td><td class="num">{_num(c.score, ".2f")}</td>'
                    f'<td class="num">{_num(c.mass_score, ".2f")}</td>'
                    f'<td class="num">{_num(c.isotope_score, ".2f")}</td>'
                    f'<td class="num">{_num(c.prior_score, ".2f")}</td></tr>')
    return ('<table class="formulas"><thead><tr><th>rank</th><th>formula</th>'
            f"<th>{escape(f.adduct)} m/z</th><th>error (ppm)</th><th>RDBE</th><th>score</th>"
            "<th>mass term</th><th>isotope term</th><th>prior term</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _explained_table(report: MassReport) -> str:
    e = report.explanation
    assert e is not None
    base = max((p.intensity for p in e.peaks), default=1.0) or 1.0
    listed = [p for p in e.peaks if p.status != "below range"]
    shown = sorted(sorted(listed, key=lambda p: -p.intensity)[:MAX_ROWS], key=lambda p: -p.mz)
    rows = []
    for p in shown:
        cls = ' class="call"' if p.status == "explained" else ""
        rows.append(f'<tr{cls}><td class="num">{p.mz:.4f}</td>'
                    f'<td class="num">{100 * p.intensity / base:.1f}</td>'
                    f"<td>{escape(p.status)}</td><td>{escape(p.formula or '')}</td>"
                    f'<td class="num">{_num(p.fragment_mz, ".4f")}</td>'
                    f'<td class="num">{_num(p.error_ppm, "+.1f")}</td>'
                    f'<td class="num">{_num(p.cuts, "d")}</td>'
                    f'<td class="num">{_num(p.h_shift, "+d")}</td></tr>')
    more = (f'<p class="note">{len(listed) - len(shown)} smaller peaks are in the JSON '
            "report.</p>" if len(shown) < len(listed) else "")
    return ('<table class="explained"><thead><tr><th>m/z</th><th>rel. intensity (%)</th>'
            "<th>peak</th><th>fragment ion</th><th>fragment m/z</th><th>error (ppm)</th>"
            "<th>bonds cut</th><th>H shift</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>" + more)


def mass_section(report: MassReport, heading: str = "h2") -> str:
    """The report's mass-spectrum section (see the module docstring); ``heading`` is the
    level of its title."""
    f = report.formulas
    iso = ("not used (no isotope peaks in the spectrum)" if f.ion.isotopes is None else
           ", ".join(f"M+{k + 1} {v:.1%}" for k, v in enumerate(f.ion.isotopes)))
    sub = "h3" if heading == "h2" else "h4"
    parts = [f"<{heading}>Molecular formula from the mass spectrum</{heading}>",
             f"<p>File <code>{escape(report.source)}</code>: ion m/z {f.ion.mz:.5f} "
             f"({escape(f.adduct)}, {escape(f.ion.how)}), tolerance {f.ppm:.3g} ppm; "
             f"isotopes {escape(iso)}. Score = mass term + isotope term + prior term "
             "(log-likelihoods); the chemical rules (RDBE, nitrogen rule, Senior) are "
             "applied first.</p>"]
    notes = list(f.notes) + list(report.notes)
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes)
                     + "</ul>")
    parts.append(formulas_table(report))
    e = report.explanation
    if e is None:
        parts += [peaks_svg(report), '<p class="note">Give the structure (SMILES) to see '
                  "which peaks its fragments explain.</p>"]
        return "\n".join(parts)
    rank = (f"rank {report.structure_rank} among the formulas, highlighted"
            if report.structure_rank else "not among the formulas")
    parts += [f"<{sub}>Peaks explained by the structure</{sub}>",
              f"<p><code>{escape(report.smiles or '')}</code> "
              f"({escape(report.structure_formula or '')}, {escape(rank)}): fragments from "
              f"one or two bond cuts with up to two hydrogen shifts explain "
              f"<strong>{e.explained:.0%}</strong> of the fragment intensity "
              f"({e.n_explained} of {e.scored} scored peaks, within {e.ppm:g} ppm).</p>",
              peaks_svg(report), f'<p class="note">Explained share: {escape(SHARE_RULE)}.</p>',
              _explained_table(report)]
    return "\n".join(parts)

