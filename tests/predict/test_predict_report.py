"""Prediction reports: well-formed self-contained HTML, escaping, JSON, text and summary CSV.

(Named test_predict_report.py: tests/evaluation/test_report.py already uses the plain name.)
"""

import base64
import csv
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.models.inputs import SampleInputs
from mspectmol.predict.common import DEFAULT_ROWS, probability_table, table_rows
from mspectmol.predict.pipeline import ModelInfo, Prediction, SampleFailure
from mspectmol.predict.report import (
    prediction_dict,
    render_html,
    text_report,
    write_json,
)
from mspectmol.predict.summary import SummaryWriter
from mspectmol.spectra.pipeline import PreparedSpectrum
from mspectmol.spectra.preprocessing import canonical_grid

N = 80
PNG = b"\x89PNG\r\n\x1a\n"
VOID = {"img", "meta", "br", "hr", "link", "input"}


class _Checker(HTMLParser):
    """Tracks open elements; records mismatched end tags, tables, rows and images."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.imgs, self.rows = [], [], [], []
        self.tables, self.text = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.imgs.append(attrs)
        if tag == "table":
            self.tables.append(attrs.get("class"))
        if tag == "tr" and self.tables and self.tables[-1] == "groups":
            self.rows.append(attrs.get("class"))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with {self.stack[-3:]} open")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _prediction(name="<script>alert(1)</script> & co", smiles="CC(C)=O", calls=(3, 7, 20)):
    grids = {m: canonical_grid(m, N) for m in ("ir", "h_nmr", "c_nmr")}
    x = grids["ir"]
    ir = (1 / (1 + ((x - 1715) / 15) ** 2)).astype(np.float32)
    h = (1 / (1 + ((grids["h_nmr"] - 2.1) / 0.1) ** 2)).astype(np.float32)
    prepared = {
        "ir": PreparedSpectrum("ir", x, ir, ["y: %T -> absorbance", "baseline: ALS <lam>"],
                               "spectra/<b>ir</b>&.jdx"),
        "h_nmr": PreparedSpectrum("h_nmr", grids["h_nmr"], h,
                                  ["solvent peaks removed (CDCl3; ...)"], "h.jdx", "CDCl3"),
    }
    inputs = SampleInputs(name, {"ir": ir, "h_nmr": h, "c_nmr": np.zeros(N, np.float32)},
                          {"ir": True, "h_nmr": True, "c_nmr": False}, prepared, smiles,
                          {"raman": "r.csv"})
    prob = np.linspace(0.05, 0.45, len(GROUP_NAMES))
    prob[list(calls)] = [0.9, 0.8, 0.7][:len(calls)]
    thresholds = np.full(len(GROUP_NAMES), 0.5)
    gate = {m: np.linspace(1.0, 2.0, N) / np.linspace(1.0, 2.0, N).sum() for m in ("ir", "h_nmr")}
    pred = Prediction(name, tuple(GROUP_NAMES), prob, thresholds, inputs, grids, gate,
                      {"ir": [(1650.0, 1780.0, 0.4)]}, attribution="gate importance")
    for i in calls:
        pred.call_regions[GROUP_NAMES[i]] = {"ir": [(1650.0, 1780.0, 0.4)],
                                             "h_nmr": [(2.0, 2.2, 0.5)]}
    return pred


MODEL = ModelInfo("models/<run>/model", "pa_ib", "neural", "ir", ("h_nmr", "c_nmr"), "0.1.0",
                  1, "2025-01-01T00:00:00+00:00", "ab" * 32, 1.3, True, ("c_nmr", "h_nmr"))


@pytest.fixture(scope="module")
def html_page():
    return render_html(_prediction(), MODEL)


def test_html_is_well_formed_with_group_table_svg_figure_and_molecule_png(html_page):
    checker = _Checker()
    checker.feed(html_page)
    checker.close()
    assert not checker.errors and checker.stack == []
    assert html_page.startswith("<!DOCTYPE html>")
    assert "groups" in checker.tables and "spectra" in checker.tables
    body_rows = checker.rows[1:]                  # the first row is the header
    assert len(body_rows) == len(GROUP_NAMES)
    assert body_rows[:3] == ["call"] * 3 and body_rows.count("call") == 3
    srcs = [img["src"] for img in checker.imgs]
    assert len(srcs) == 1                         # the molecule; the spectra are inline SVG
    assert srcs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(srcs[0].split(",", 1)[1])[:8] == PNG
    assert html_page.count('<svg class="spectra"') == 1
    svg = re.search(r'<svg class="spectra".*?</svg>', html_page, re.S).group(0)
    assert re.findall(r'data-modality="(\w+)"', svg) == ["ir", "h_nmr"]  # the used spectra
    assert 'fill="#e4572e"' in svg and '<rect class="region"' in svg
    assert "pa_ib: &lt;script&gt;" in svg         # titled with model and (escaped) sample
    assert not re.search(r"<(link|script)\b", html_page)   # nothing loaded from elsewhere


def test_html_escapes_every_text(html_page):
    assert "<script>" not in html_page and "<b>ir</b>" not in html_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html_page
    assert "spectra/&lt;b&gt;ir&lt;/b&gt;&amp;.jdx" in html_page
    assert "models/&lt;run&gt;/model" in html_page and "ALS &lt;lam&gt;" in html_page
    text = "".join(_collect_text(html_page))
    assert all(name in text for name in GROUP_NAMES)
    assert "missing (passed to the model as unavailable)" in text
    assert "ignored: the model does not use this modality" in text
    assert "2025-01-01" in text and "0.1.0" in text


def _collect_text(page):
    checker = _Checker()
    checker.feed(page)
    return checker.text


def test_html_without_smiles_has_no_image_and_no_molecule():
    page = render_html(_prediction(smiles=None), MODEL)
    checker = _Checker()
    checker.feed(page)
    assert not checker.imgs and "<h2>Molecule</h2>" not in page
    assert '<svg class="spectra"' in page


def test_json_document_and_text_table(tmp_path):
    pred = _prediction()
    path = write_json(tmp_path / "out" / "s.json", pred, MODEL)
    doc = json.loads(path.read_text())
    assert doc == json.loads(json.dumps(prediction_dict(pred, MODEL)))
    probs = [g["probability"] for g in doc["groups"]]
    assert probs == sorted(probs, reverse=True) and len(probs) == len(GROUP_NAMES)
    assert doc["calls"] == [GROUP_NAMES[i] for i in (3, 7, 20)]
    assert [g["name"] for g in doc["groups"] if g["call"]] == doc["calls"]
    assert doc["spectra_used"] == ["ir", "h_nmr"] and doc["spectra_missing"] == ["c_nmr"]
    assert doc["spectra"]["h_nmr"]["solvent"] == "CDCl3"
    assert doc["spectra"]["c_nmr"] == {"used": False, "file": None, "solvent": None,
                                       "coverage": None, "warnings": [],
                                       "preprocessing": []}
    assert doc["warnings"] == []
    assert doc["model"]["thresholds"] == "tuned per group"
    assert doc["call_regions"][GROUP_NAMES[3]]["ir"][0] == {
        "low": 1650.0, "high": 1780.0, "unit": "cm-1", "weight": 0.4}
    lines = text_report(pred, MODEL)
    called = [ln for ln in lines if ln.rstrip().endswith("yes")]
    assert [ln.split()[0] for ln in called] == [GROUP_NAMES[i].split()[0] for i in (3, 7, 20)]
    assert any("IR: 1780 to 1650 cm-1 (40%)" in ln for ln in lines)   # chemists' direction
    assert "missing: c_nmr" in lines[1]


def test_summary_csv_rows(tmp_path):
    path = tmp_path / "summary.csv"
    with SummaryWriter(path, GROUP_NAMES) as summary:
        summary.add(_prediction(name="a"))
        summary.add(SampleFailure("b", "b_ir.jdx: truncated file"))
    rows = list(csv.DictReader(path.open()))
    assert [r["sample"] for r in rows] == ["a", "b"]
    assert rows[0]["status"] == "ok" and rows[0]["missing"] == "c_nmr"
    assert rows[0]["calls"].split(";") == [GROUP_NAMES[i] for i in (3, 7, 20)]
    assert float(rows[0][f"p_{GROUP_NAMES[3]}"]) == pytest.approx(0.9)
    assert rows[1]["status"] == "error" and "b_ir.jdx" in rows[1]["error"]


def test_table_rows_show_every_call_by_default():
    prob = np.linspace(0.9, 0.1, 37)
    assert table_rows(prob, [0, 1]) == DEFAULT_ROWS
    assert table_rows(prob, [0, 30]) == 31          # a call ranked 31st (per-group threshold)
    assert table_rows(prob, [0, 30], top=3) == 3 and table_rows(prob, [], top=0) == 37
    assert table_rows(prob, [], top=99) == 37
    rows = probability_table(GROUP_NAMES, prob, np.full(37, 0.5), 3)
    assert len(rows) == 5 and rows[-1].strip().startswith("(34 less probable groups")
    assert len(probability_table(GROUP_NAMES, prob, np.full(37, 0.5))) == 38


def test_text_says_when_the_primary_head_alone_predicted():
    import dataclasses

    pred = _prediction()
    model = dataclasses.replace(MODEL, primary_head_alone=True, prior_correction=0.5)
    assert "primary head" not in text_report(pred, model)[2]  # 1H given
    pred.inputs.available["h_nmr"] = False
    pred.inputs.prepared.pop("h_nmr")
    line = text_report(pred, model)[2]
    assert line.endswith("; ir alone: predicted by the model's primary head")
    assert "after a prior correction of 0.5" in line
    assert prediction_dict(pred, model)["model"]["primary_head_alone"] is True
