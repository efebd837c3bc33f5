"""The answers of a finished request, rendered as the route needs them.

``POST /api/predict`` needs only the JSON document (:func:`document`); ``POST /predict``
needs the report for the page and the JSON and HTML reports to download
(:func:`page_result`). The report's figure of the spectra is inline SVG
(:func:`mspectmol.predict.figure.spectra_svg`, as in ``mspectmol predict``'s HTML report), so
no request imports a plotting library, and the report's body is rendered once for the page
and the downloadable HTML report.
"""

from __future__ import annotations

import json
from typing import Any

from mspectmol.data.samples import safe_name
from mspectmol.predict.pipeline import MassOnly
from mspectmol.predict.report import (
    mass_only_body,
    mass_only_dict,
    prediction_dict,
    render_html,
    report_body,
)
from mspectmol.web.page import PageResult
from mspectmol.web.predictor import Outcome


def document(outcome: Outcome) -> dict[str, Any]:
    """The JSON document of the answer (as ``mspectmol predict --format json`` writes it)."""
    if isinstance(outcome.result, MassOnly):
        return mass_only_dict(outcome.result, outcome.info)
    return prediction_dict(outcome.result, outcome.info)


def report_parts(outcome: Outcome) -> tuple[str, str]:
    """The report's body for the page and the whole self-contained HTML report."""
    result, info = outcome.result, outcome.info
    if isinstance(result, MassOnly):
        body = mass_only_body(result, info)
    else:
        body = report_body(result, info)
    return body, render_html(result, info, body=body)


def page_result(outcome: Outcome) -> PageResult:
    """The page's result: the report's body and the JSON and HTML reports to download."""
    body, html = report_parts(outcome)
    stem = safe_name(outcome.sample)
    text = json.dumps(document(outcome), indent=2, allow_nan=False) + "\n"
    return PageResult(body, {f"{stem}.json": ("application/json", text.encode()),
                             f"{stem}.html": ("text/html;charset=utf-8", html.encode())})
