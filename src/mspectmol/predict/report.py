"""Prediction reports: text tables, JSON and a self-contained HTML page (the summary CSV of
many samples is :mod:`mspectmol.predict.summary`).

The HTML report needs no other file: the figure of the spectra (on chemists' axes, shaded by
the model's gate importance, with the regions behind each call) is inline SVG written without
a plotting library (:func:`mspectmol.predict.figure.spectra_svg`, the drawing of the web app's
result page), and the molecule drawing (:func:`mspectmol.explain.molecule.draw_molecule`,
when a SMILES is given) a PNG image embedded as a base64 ``data:`` URL. Every text taken from
the input (sample names, file names, SMILES, metadata) is HTML-escaped.

A sample with a mass spectrum also gets its molecular formulas and, with a SMILES, the peaks
the structure explains (:mod:`mspectmol.predict.mass`): ``formulas`` and ``explained_peaks``
in the JSON (null without a mass spectrum or a structure), a table in the text and a section
in the HTML (:mod:`mspectmol.predict.mass_html`). A :class:`~.pipeline.MassOnly` sample (a
mass spectrum without the primary spectrum) gets the same JSON layout with ``status``
``"formulas only"``, the reason in ``not_predicted`` and no groups.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.fileio import atomic_write
from mspectmol.predict.common import (
    format_regions,
    plain_label,
    probability_table,
    table_rows,
)
from mspectmol.predict.figure import spectra_svg
from mspectmol.predict.pipeline import MassOnly, ModelInfo, Prediction
from mspectmol.spectra.modalities import get_modality

#: Version of the JSON report layout.
REPORT_VERSION = 1


def _region_dicts(modality: str, regions: Sequence[tuple[float, float, float]]
                  ) -> list[dict[str, Any]]:
    unit = get_modality(modality).x_unit
    return [{"low": lo, "high": hi, "unit": unit, "weight": w} for lo, hi, w in regions]


def prediction_dict(pred: Prediction, model: ModelInfo) -> dict[str, Any]:
    """The JSON document of one prediction (plain types only)."""
    from mspectmol import __version__

    order = np.argsort(-pred.probabilities, kind="stable")
    spectra = {}
    for m, available in pred.inputs.available.items():
        prep = pred.inputs.prepared.get(m)
        spectra[m] = {"used": bool(available), "file": prep.source if prep else None,
                      "solvent": prep.solvent if prep else None,
                      "coverage": prep.coverage if prep else None,
                      "warnings": list(prep.warnings) if prep else [],
                      "preprocessing": list(prep.steps) if prep else []}
    return {
        "report_version": REPORT_VERSION,
        "mspectmol_version": __version__,
        "sample": pred.sample,
        "smiles": pred.smiles,
        "status": "predicted",
        "model": model.to_dict(),
        "warnings": pred.warnings,
        "out_of_distribution": pred.ood,
        "spectra_used": pred.inputs.used,
        "spectra_missing": pred.inputs.missing,
        "ignored_files": dict(pred.inputs.ignored),
        "spectra": spectra,
        "groups": [{"name": pred.label_names[i], "probability": float(pred.probabilities[i]),
                    "threshold": float(pred.thresholds[i]),
                    "call": bool(pred.probabilities[i] >= pred.thresholds[i])} for i in order],
        "calls": [pred.label_names[i] for i in pred.calls],
        "attribution": pred.attribution,
        "gate_importance_regions": {m: _region_dicts(m, r) for m, r in pred.gate_regions.items()},
        "call_regions": {g: {m: _region_dicts(m, r) for m, r in by_mod.items()}
                         for g, by_mod in pred.call_regions.items()},
        "formulas": None if pred.mass is None else pred.mass.formulas_dict(),
        "explained_peaks": None if pred.mass is None else pred.mass.explained_dict(),
    }


def mass_only_dict(result: MassOnly, model: ModelInfo) -> dict[str, Any]:
    """The JSON document of a :class:`~.pipeline.MassOnly` sample: the layout of
    :func:`prediction_dict` without groups."""
    from mspectmol import __version__

    return {"report_version": REPORT_VERSION, "mspectmol_version": __version__,
            "sample": result.sample, "smiles": result.smiles, "status": "formulas only",
            "not_predicted": result.reason, "model": model.to_dict(), "warnings": [],
            "out_of_distribution": None, "spectra_used": [], "spectra_missing": [],
            "ignored_files": {}, "spectra": {}, "groups": [], "calls": [],
            "attribution": None, "gate_importance_regions": {}, "call_regions": {},
            "formulas": result.mass.formulas_dict(),
            "explained_peaks": result.mass.explained_dict()}


def write_json(path: str | os.PathLike[str], pred: Prediction | MassOnly,
               model: ModelInfo) -> Path:
    """Write :func:`prediction_dict` (:func:`mass_only_dict`) as indented JSON; returns the
    path."""
    doc = (mass_only_dict(pred, model) if isinstance(pred, MassOnly)
           else prediction_dict(pred, model))
    return _write(Path(path), json.dumps(doc, indent=2, allow_nan=False) + "\n")


def _write(path: Path, text: str) -> Path:
    """Replace ``path`` atomically; :class:`~mspectmol.fileio.OutputError` when it fails."""
    return atomic_write(path, text, what="cannot write the report")


def _head_text(pred: Prediction, model: ModelInfo) -> str:
    """Says when the primary head alone predicted (no auxiliary spectrum given)."""
    if not model.primary_head_alone or set(model.auxiliary) - set(pred.inputs.missing):
        return ""
    return f"; {model.primary} alone: predicted by the model's primary head"


def _prior_text(model: ModelInfo) -> str:
    """How the logits were prior-corrected before the temperature ('' when not)."""
    if model.prior_correction is None:
        return ""
    return (f", after a prior correction of {model.prior_correction:g} x the log of the "
            "training label weights")


def text_report(pred: Prediction | MassOnly, model: ModelInfo, top: int | None = None
                ) -> list[str]:
    """Lines printed for one sample: inputs, the group table, the regions behind each call
    and, with a mass spectrum, the formulas and the explained peaks.

    ``top`` groups are listed by decreasing probability (0: all of them; None: at least
    :data:`~mspectmol.predict.common.DEFAULT_ROWS` and every call,
    :func:`~mspectmol.predict.common.table_rows`); the JSON report keeps every group.
    """
    if isinstance(pred, MassOnly):
        return [f"sample {pred.sample}: model {model.name} ({model.path})",
                f"  functional groups not predicted: {pred.reason}",
                *("  " + ln for ln in pred.mass.text_lines())]
    inputs = pred.inputs
    used = ", ".join(f"{m} {inputs.prepared[m].source}" for m in inputs.used)
    lines = [f"sample {pred.sample}: model {model.name} ({model.path})",
             f"  spectra used: {used or 'none'}; missing: {', '.join(inputs.missing) or 'none'}"]
    calib = (f"temperature {model.temperature:.3g}" if model.temperature is not None
             else "no temperature") + _prior_text(model)
    rule = "per-group thresholds" if model.tuned_thresholds else "threshold 0.5"
    lines.append(f"  probabilities: {calib}; calls (yes) at the model's {rule}"
                 + _head_text(pred, model))
    lines += [f"  WARNING: {w}" for w in pred.warnings]
    rows = table_rows(pred.probabilities, pred.calls, top)
    lines += ["  " + row for row in probability_table(pred.label_names, pred.probabilities,
                                                       pred.thresholds, rows)]
    if not pred.calls:
        lines.append("  no group reaches its threshold")
    elif pred.attribution is None:
        lines.append("  (a classical model: no spectral regions)")
    else:
        lines.append(f"  spectral regions behind each call ({pred.attribution}):")
        for i in pred.calls:
            name = pred.label_names[i]
            lines.append(f"    {name} ({pred.probabilities[i]:.2f}):")
            lines += ["      " + format_regions(m, r, pred.grids[m])
                      for m, r in pred.call_regions.get(name, {}).items()]
    if pred.mass is not None:
        lines += ["  " + ln for ln in pred.mass.text_lines()]
    return lines


def molecule_png(smiles: str, groups: Sequence[str]) -> tuple[bytes, list[str]]:
    """PNG of the molecule with the called groups it contains highlighted, and those groups
    (the last drawings are kept: a server answering the same SMILES draws it once)."""
    png, present = _molecule_png(smiles, tuple(groups))
    return png, list(present)


@lru_cache(maxsize=32)
def _molecule_png(smiles: str, groups: tuple[str, ...]) -> tuple[bytes, tuple[str, ...]]:
    from mspectmol.chem.functional_groups import FunctionalGroupError, get_group
    from mspectmol.explain.molecule import draw_molecule, group_atoms

    known = []
    for g in groups:
        try:
            get_group(g)
        except FunctionalGroupError:
            continue
        known.append(g)
    present = tuple(g for g, (atoms, _) in group_atoms(smiles, known).items() if atoms)
    return draw_molecule(smiles, list(present), fmt="png", size=(420, 320)), present


def _legend(groups: Sequence[str]) -> str:
    """Colour swatches and names of the highlighted groups (the drawing's colours)."""
    from mspectmol.explain.molecule import group_colours

    if not groups:
        return "none of the called groups is in this molecule"
    items = []
    for g, rgb in group_colours(groups).items():
        hex_colour = "#" + "".join(f"{round(255 * c):02x}" for c in rgb)
        items.append(f'<span style="background:{hex_colour}">&nbsp;&nbsp;&nbsp;</span> '
                     f"{escape(g)}")
    return ", ".join(items)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


#: The report's style sheet (also used by the web app, :mod:`mspectmol.web`).
REPORT_CSS = """body{font-family:sans-serif;margin:1.5em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:left}tr.call{background:#fde3da;font-weight:bold}td.num{text-align:right}
img{max-width:100%}code{background:#f4f4f4}.note{color:#666;font-size:.9em}
.warnings{background:#fff4ce;border:1px solid #e0b400;padding:.4em .8em;margin:.6em 0}
svg.ms-peaks,svg.spectra{max-width:100%;height:auto;display:block;margin:.5em 0}"""


def _groups_table(pred: Prediction) -> str:
    rows = []
    for i in np.argsort(-pred.probabilities, kind="stable"):
        call = pred.probabilities[i] >= pred.thresholds[i]
        cls = ' class="call"' if call else ""
        rows.append(f"<tr{cls}><td>"
                    f"{escape(pred.label_names[i])}</td><td class=\"num\">"
                    f"{pred.probabilities[i]:.3f}</td><td class=\"num\">"
                    f"{pred.thresholds[i]:.3f}</td><td>{'yes' if call else '-'}</td></tr>")
    return ('<table class="groups"><thead><tr><th>group</th><th>probability</th>'
            "<th>threshold</th><th>confident call</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _spectra_table(pred: Prediction) -> str:
    rows = []
    for m, available in pred.inputs.available.items():
        prep = pred.inputs.prepared.get(m)
        label = escape(plain_label(get_modality(m).label))
        if not available or prep is None:
            rows.append(f"<tr><td>{label}</td><td>missing (passed to the model as "
                        "unavailable)</td><td></td></tr>")
            continue
        steps = "".join(f"<li>{escape(s)}</li>" for s in prep.steps)
        rows.append(f"<tr><td>{label}</td><td><code>{escape(str(prep.source))}</code></td>"
                    f"<td><ol>{steps}</ol></td></tr>")
    if pred.mass is not None and "ms" not in pred.inputs.available:
        rows.append(f"<tr><td>MS</td><td><code>{escape(pred.mass.source)}</code></td>"
                    "<td>not a model input: read for the molecular formula</td></tr>")
    for m, path in pred.inputs.ignored.items():
        rows.append(f"<tr><td>{escape(m)}</td><td><code>{escape(path)}</code></td>"
                    "<td>ignored: the model does not use this modality</td></tr>")
    return ("<table class=\"spectra\"><thead><tr><th>spectrum</th><th>file</th>"
            "<th>preprocessing applied</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def _warnings_html(warnings: Sequence[str]) -> str:
    """A visible box listing the input warnings (empty when there are none)."""
    if not warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return (f'<div class="warnings" role="alert"><strong>Warnings about the input</strong>'
            f"<ul>{items}</ul></div>")


def _regions_html(pred: Prediction) -> str:
    if pred.attribution is None:
        return "<p class=\"note\">A classical model: no spectral regions.</p>"
    if not pred.calls:
        return "<p>No group reaches its threshold.</p>"
    items = []
    for i in pred.calls:
        name = pred.label_names[i]
        parts = "".join(f"<li>{escape(format_regions(m, r, pred.grids[m]))}</li>"
                        for m, r in pred.call_regions.get(name, {}).items())
        items.append(f"<li>{escape(name)} ({pred.probabilities[i]:.2f})<ul>{parts}</ul></li>")
    return (f"<p class=\"note\">Regions from {escape(pred.attribution)}.</p><ul>"
            + "".join(items) + "</ul>")


def report_body(pred: Prediction, model: ModelInfo) -> str:
    """The HTML of the report without the page around it (the web app embeds it)."""
    title = f"mspectmol prediction: {pred.sample}"
    figure = spectra_svg(pred, f"{model.name}: {pred.sample}")
    rule = ("the group's tuned threshold" if model.tuned_thresholds else "0.5 (the model "
            "has no tuned thresholds)")
    body = [f"<h1>{escape(title)}</h1>",
            f"<p>Model <code>{escape(model.path)}</code>: {escape(model.name)} "
            f"({escape(model.kind)}), saved by mspectmol "
            f"{escape(str(model.mspectmol_version or 'unknown'))} (model file format "
            f"{model.format_version}, created {escape(model.created or 'unknown')}, "
            f"SHA-256 <code>{escape(model.content_hash[:16])}...</code>).</p>",
            f"<p>Spectra used: {escape(', '.join(pred.inputs.used) or 'none')}; missing: "
            f"{escape(', '.join(pred.inputs.missing) or 'none')}.</p>",
            _warnings_html(pred.warnings),
            "<h2>Spectra</h2>", figure,
            "<h2>Functional groups</h2>",
            f"<p>Confident calls (highlighted): probability &ge; {escape(rule)}. "
            + (f"Probabilities calibrated with temperature {model.temperature:.3g}"
               f"{_prior_text(model)}." if model.temperature is not None
               else "No calibration temperature.")
            + "</p>", _groups_table(pred),
            "<h2>Spectral regions behind each call</h2>", _regions_html(pred)]
    if pred.smiles:
        mol_png, shown = molecule_png(pred.smiles, [pred.label_names[i] for i in pred.calls])
        body += ["<h2>Molecule</h2>", f"<p><code>{escape(pred.smiles)}</code>; called groups "
                 f"highlighted: {_legend(shown)}</p>", _img(mol_png, f"molecule {pred.smiles}")]
    if pred.mass is not None:  # the formula code loads pyteomics: only with a mass spectrum
        from mspectmol.predict.mass_html import mass_section

        body.append(mass_section(pred.mass))
    body += ["<h2>Spectra used and preprocessing applied</h2>", _spectra_table(pred)]
    return "\n".join(body)


def mass_only_body(result: MassOnly, model: ModelInfo) -> str:
    """The HTML of a :class:`~.pipeline.MassOnly` sample's report without the page around it:
    why no groups were predicted, then the mass-spectrum section."""
    from mspectmol.predict.mass_html import mass_section  # pyteomics: see report_body

    return "\n".join([f"<h1>{escape(f'mspectmol: {result.sample}')}</h1>",
                      f"<p>Model <code>{escape(model.path)}</code>: {escape(model.name)} "
                      f"({escape(model.kind)}).</p>",
                      f'<div class="warnings" role="alert"><strong>Functional groups not '
                      f"predicted</strong><p>{escape(result.reason)}.</p></div>",
                      mass_section(result.mass)])


def render_html(pred: Prediction | MassOnly, model: ModelInfo, *, body: str | None = None
                ) -> str:
    """The self-contained HTML report of one prediction (see the module docstring).

    ``body``, when given, is :func:`report_body`'s (or :func:`mass_only_body`'s) result for
    ``pred``, already rendered.
    """
    title = f"mspectmol prediction: {pred.sample}"
    if body is None:
        body = (mass_only_body(pred, model) if isinstance(pred, MassOnly)
                else report_body(pred, model))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{REPORT_CSS}</style></head><body>\n"
            + body + "\n</body></html>\n")


def write_html(path: str | os.PathLike[str], pred: Prediction | MassOnly,
               model: ModelInfo) -> Path:
    """Write :func:`render_html`; returns the path."""
    return _write(Path(path), render_html(pred, model))

