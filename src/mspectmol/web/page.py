"""The web app's one HTML page: the upload form, then the result or the error.

The page fetches nothing from other machines: its CSS is inline, its few lines of
JavaScript are the app's own ``/static/page.js`` (:data:`SCRIPT`; the Content-Security-Policy
runs no inline script, so the script reads the upload limit from the form's ``data-``
attributes), the figure of the spectra is inline SVG (:mod:`mspectmol.predict.figure`), the
molecule drawing a ``data:`` URL (from :mod:`mspectmol.predict.report`), and the JSON and
HTML reports are offered as ``data:`` download links. Every text that comes from the user
(file names, SMILES, messages that quote them) is HTML-escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from mspectmol.chem.formula.composition import ADDUCTS
from mspectmol.predict.common import plain_label
from mspectmol.predict.report import REPORT_CSS
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.readers.formats import format_list, formats
from mspectmol.spectra.solvents import SOLVENT_PEAKS

_CSS = """form.upload{border:1px solid #ccc;border-radius:6px;padding:1em 1.2em;
background:#fafafa}form.upload label{display:inline-block;min-width:12em;font-weight:bold}
form.upload .row{margin:.45em 0}form.upload .hint{color:#666;font-size:.85em;margin-left:.5em}
form.upload input[type=text]{width:26em}button{font-size:1em;padding:.35em 1.4em;
margin-top:.5em}.error{border:1px solid #c0392b;background:#fdecea;color:#7b1d12;
padding:.6em 1em;border-radius:6px;margin:1em 0}.downloads a{margin-right:1.2em}
#busy{color:#555;margin-left:1em}.result{border-top:2px solid #ddd;margin-top:1.5em}"""

#: Where the page's script is served (``static/page.js`` of this package).
SCRIPT = "/static/page.js"


@dataclass
class FormState:
    """What the user entered, shown again in the form after a result or an error."""

    smiles: str = ""
    solvent: str = ""
    no_baseline: bool = False
    denoise: bool = False
    ms_adduct: str = ""
    ms_ppm: str = ""
    ms_elements: str = ""
    #: Names of the files of the last request, by modality (browsers cannot refill inputs).
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class PageResult:
    """A finished prediction as the page shows it.

    ``body`` is :func:`~mspectmol.predict.report.report_body`'s HTML; ``downloads`` maps
    a file name to ``(media type, content)``.
    """

    body: str
    downloads: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class PageModel:
    """What the page says about the model: inputs, primary, file, upload limit."""

    name: str
    path: str
    primary: str
    modalities: Sequence[str]
    optional: Sequence[str]
    max_upload_bytes: int


def accepted_formats() -> str:
    """What the file inputs accept, shown under the form: the registered formats of one
    sample's spectrum that come in a single file (no folders, no datasets)."""
    return format_list(s for s in formats(dataset=False) if s.containers != ("folder",))


def modality_title(modality: str) -> str:
    """``"1H NMR (ppm)"``: a modality's plain label and unit."""
    mod = get_modality(modality)
    return f"{plain_label(mod.label)} ({mod.x_unit})"


def _file_rows(model: PageModel, state: FormState) -> str:
    rows = []
    extra = [] if "ms" in model.modalities else ["ms"]
    for m in [*model.modalities, *extra]:
        if m == model.primary and m not in model.optional:
            hint = ("the model's primary spectrum, required for the functional groups")
        elif m == model.primary:
            hint = "the model's primary spectrum"
        elif m == "ms" and m in extra:
            hint = ("optional, not a model input: the molecular formula of its ion and, "
                    "with a SMILES, the MS/MS peaks the structure explains")
        else:
            hint = "optional"
        if m in state.files:
            hint += f"; last request: {state.files[m]}"
        rows.append(f'<div class="row"><label for="file-{m}">{escape(modality_title(m))}'
                    f'</label><input type="file" id="file-{m}" name="{m}">'
                    f'<span class="hint">{escape(hint)}</span></div>')
    return "".join(rows)


def _solvent_select(chosen: str) -> str:
    options = [("", "as named in the file (else none)"),
               *((s, s) for s in SOLVENT_PEAKS), ("none", "none: remove no peaks")]
    items = "".join(f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>'
                    f"{escape(text)}</option>" for v, text in options)
    return f'<select id="solvent" name="solvent">{items}</select>'


def _mass_row(state: FormState) -> str:
    """The mass spectrum's ion type, m/z tolerance and elements."""
    options = [("", "from the file, else [M+H]+ (MS/MS) or [M]+ (EI)"),
               *((a, a) for a in ADDUCTS)]
    items = "".join(f'<option value="{escape(v)}"{" selected" if v == state.ms_adduct else ""}>'
                    f"{escape(text)}</option>" for v, text in options)
    return ('<div class="row"><label for="ms_adduct">MS ion type</label>'
            f'<select id="ms_adduct" name="ms_adduct">{items}</select></div>'
            '<div class="row"><label for="ms_ppm">MS tolerance (ppm)</label><input '
            f'type="text" id="ms_ppm" name="ms_ppm" value="{escape(state.ms_ppm)}" '
            'placeholder="5" style="width:5em"> <label for="ms_elements" style="min-width:0">'
            'elements</label> <input type="text" id="ms_elements" name="ms_elements" '
            f'value="{escape(state.ms_elements)}" placeholder="CHNOPSFClBrI" '
            'style="width:12em"><span class="hint">with optional maximum counts, e.g. '
            "CHNOS2Cl3</span></div>")


def _form(model: PageModel, state: FormState) -> str:
    limit_mb = model.max_upload_bytes / 2**20
    checked = {True: " checked", False: ""}
    limit_message = (f"The files hold more than {limit_mb:.3g} MB in all; the limit of this "
                     "server is set with mspectmol serve --max-upload-mb.")
    return (
        '<form class="upload" id="upload" method="post" action="/predict" '
        f'enctype="multipart/form-data" data-limit="{model.max_upload_bytes}" '
        f'data-limit-message="{escape(limit_message)}">'
        f"{_file_rows(model, state)}"
        '<div class="row"><label for="smiles">SMILES (optional)</label><input type="text" '
        f'id="smiles" name="smiles" value="{escape(state.smiles)}" '
        'placeholder="if known: called groups highlighted, MS/MS peaks explained"></div>'
        f'<div class="row"><label for="solvent">NMR solvent</label>'
        f"{_solvent_select(state.solvent)}"
        '<span class="hint">its residual, water and TMS peaks are zeroed</span></div>'
        '<div class="row"><label>Preprocessing</label>'
        f'<input type="checkbox" id="no_baseline" name="no_baseline"'
        f'{checked[state.no_baseline]}> <label for="no_baseline" style="min-width:0;'
        'font-weight:normal">skip the baseline correction</label> '
        f'<input type="checkbox" id="denoise" name="denoise"{checked[state.denoise]}> '
        '<label for="denoise" style="min-width:0;font-weight:normal">light smoothing'
        "</label></div>"
        f"{_mass_row(state)}"
        '<button type="submit" id="submit">Predict</button><span id="busy"></span>'
        f'<p class="note">Formats: {escape(accepted_formats())}. At most {limit_mb:.3g} MB per '
        "request.</p></form>")


def _downloads(result: PageResult) -> str:
    links = []
    for i, (name, (media, content)) in enumerate(result.downloads.items()):
        data = base64.b64encode(content).decode("ascii")
        kind = name.rsplit(".", 1)[-1].upper()
        links.append(f'<a id="download-{i}" class="download" download="{escape(name)}" '
                     f'href="data:{media};base64,{data}">Download the {kind} report '
                     f"({escape(name)})</a>")
    return '<p class="downloads">' + "".join(links) + "</p>"


def render_page(model: PageModel, *, state: FormState | None = None,
                result: PageResult | None = None, error: str | None = None) -> str:
    """The whole page: heading, upload form and, when given, the error or the result."""
    state = state or FormState()
    inputs = ", ".join(modality_title(m) for m in model.modalities)
    parts = ["<h1>mspectmol: functional groups from spectra</h1>",
             f"<p>Model <code>{escape(model.name)}</code> (<code>{escape(model.path)}</code>), "
             f"inputs: {escape(inputs)}. Upload one file per spectrum, any subset that "
             f"includes the {escape(plain_label(get_modality(model.primary).label))} "
             "spectrum; a mass spectrum alone gives the molecular formula (and, with a "
             "SMILES, the explained MS/MS peaks) without the functional groups.</p>",
             _form(model, state)]
    if error is not None:
        parts.append(f'<div class="error" id="error" role="alert"><strong>Error:</strong> '
                     f"{escape(error)}</div>")
    if result is not None:
        parts.append(f'<div class="result" id="result">{_downloads(result)}{result.body}'
                     "</div>")
    parts.append('<p class="note">Files are read on this computer, in a private temporary '
                 "folder deleted after each request; this page loads nothing from other "
                 "machines.</p>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,"><title>mspectmol</title>'
            f'<script src="{SCRIPT}" defer></script>'
            f"<style>{REPORT_CSS}\n{_CSS}</style></head><body>\n" + "\n".join(parts)
            + "\n</body></html>\n")
