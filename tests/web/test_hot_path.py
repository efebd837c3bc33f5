"""The warm request's hot path: an inline SVG figure on chemists' axes, no plotting library
and (for a PA-IB model) no torch in the server, the Server-Timing phases, and reading children
that wait for their job."""

import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import mspectmol

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # newer Starlette asks for httpx2; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

from mspectmol.data.samples import SampleSpec  # noqa: E402
from mspectmol.predict.figure import spectra_svg, svg_text, ticks  # noqa: E402
from mspectmol.web import WebLimits, children, create_app  # noqa: E402
from mspectmol.web.sandbox import ReadLimits, context, plain_meta, read_sample  # noqa: E402
from mspectmol.web.timing import PHASES, Timer, parse_server_timing  # noqa: E402

EXAMPLES = Path(mspectmol.__file__).parent / "data" / "examples"
SMILES = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def _panels(svg):
    """``{modality: [tick values left to right]}`` of the figure's panels."""
    out = {}
    for m, body in re.findall(r'<g class="panel" data-modality="(\w+)">(.*?)</g>', svg, re.S):
        found = re.findall(r'<text class="xtick" x="([\d.]+)"[^>]*>([^<]+)</text>', body)
        pairs = sorted((float(x), float(v.replace("\u2212", "-"))) for x, v in found)
        out[m] = [v for _, v in pairs]
    return out


def test_page_figure_is_inline_svg_on_chemists_axes(client, aspirin):
    r = client.post("/predict", files=aspirin(), data={"smiles": SMILES})
    assert r.status_code == 200, r.text[:300]
    svg = re.search(r'<svg class="spectra".*?</svg>', r.text, re.S).group(0)
    ticks_of = _panels(svg)
    assert set(ticks_of) == {"ir", "h_nmr", "c_nmr"}
    for m, values in ticks_of.items():  # IR wavenumbers and NMR shifts fall to the right
        assert len(values) >= 4 and values == sorted(values, reverse=True), (m, values)
    assert ticks_of["ir"][0] >= 3500 and ticks_of["ir"][-1] <= 1000
    assert svg.count('<polyline class="spectrum"') == 3
    assert 'fill="#e4572e"' in svg  # gate importance shading
    assert '<rect class="region"' in svg and "Arene (" in svg  # the calls' regions
    assert "Wavenumber (cm" in svg and "\u03b4 (ppm)" in svg


def test_request_imports_no_plotting_library_and_no_torch():
    code = f"""
import sys, warnings
warnings.filterwarnings("ignore")
from pathlib import Path
from fastapi.testclient import TestClient
from mspectmol.web import create_app
ex = Path({str(EXAMPLES)!r})
files = {{"ir": ("a_ir.jdx", (ex / "aspirin_ir.jdx").read_bytes()),
          "h_nmr": ("a_h_nmr.jdx", (ex / "aspirin_h_nmr.jdx").read_bytes()),
          "c_nmr": ("a_c_nmr.csv", (ex / "aspirin_c_nmr.csv").read_bytes())}}
with TestClient(create_app()) as c:
    page = c.post("/predict", files=files, data={{"smiles": {SMILES!r}}})
    assert page.status_code == 200 and '<svg class="spectra"' in page.text, page.text[:300]
    assert c.post("/api/predict", files=files).status_code == 200
print("\\n".join(sorted(sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = set(out.stdout.split())
    assert "mspectmol.models.numpy_pa_ib" in modules  # the model did run here, on NumPy
    assert not {m for m in modules if m.split(".")[0] == "torch"}
    heavy = {m for m in modules if m.split(".")[0] == "matplotlib"
             or m in ("mspectmol.explain.plots", "mspectmol.explain.coerror")}
    assert not heavy, sorted(heavy)


@pytest.mark.parametrize("route", ["/predict", "/api/predict"])
def test_server_timing_header_names_the_phases(client, aspirin, route):
    r = client.post(route, files=aspirin())
    assert r.status_code == 200
    phases = parse_server_timing(r.headers["server-timing"])
    assert {"form", "queue", "read", "child", "predict", "render", "total"} <= set(phases)
    assert all(v >= 0 for v in phases.values())
    assert phases["total"] >= phases["predict"] + phases["read"]
    bad = client.post(route, files={"ir": ("empty.jdx", b"")})
    assert bad.status_code == 400 and "total" in parse_server_timing(
        bad.headers["server-timing"])


def test_timer_header_round_trip():
    timer = Timer()
    with timer.phase("predict"):
        time.sleep(0.01)
    timer.add("read", 0.25)
    timer.add("read", 0.05)
    timer.finish()
    assert set(PHASES) >= set(timer.phases)
    parsed = parse_server_timing(timer.header())
    assert list(parsed) == ["read", "predict", "total"]  # in the order the phases run
    assert parsed["read"] == pytest.approx(300.0) and parsed["predict"] >= 10.0
    assert timer.line().startswith("read 300 ms, predict ")


def test_svg_helpers():
    assert ticks(400, 4000, 8) == [500.0 * k for k in range(1, 9)]
    assert ticks(-2, 10, 6) == [-2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert "<tspan" in svg_text("$^{13}$C NMR") and svg_text("$^{13}$C NMR").endswith("C NMR")
    assert svg_text("$\\delta$ (ppm)") == "\u03b4 (ppm)"
    assert svg_text("a<b") == "a&lt;b"


def _prediction(gates=True):
    grid = np.linspace(400.0, 4000.0, 50)
    y = np.exp(-((grid - 1700.0) / 40.0) ** 2)
    inputs = SimpleNamespace(used=["ir"], spectra={"ir": y})
    return SimpleNamespace(
        inputs=inputs, grids={"ir": grid}, label_names=("Ketone", "Arene"),
        probabilities=np.array([0.9, 0.1]), calls=[0],
        gate_maps={"ir": np.linspace(0.1, 1.0, 50)} if gates else None,
        call_regions={"Ketone": {"ir": [(1650.0, 1750.0, 0.6)]}} if gates else {})


def test_figure_of_a_model_without_gates_and_escaped_title():
    svg = spectra_svg(_prediction(gates=False), "<b>sample</b>")
    assert "no gate importance" in svg and 'fill="#e4572e"' not in svg
    assert "<b>" not in svg and "&lt;b&gt;sample&lt;/b&gt;" in svg
    shaded = spectra_svg(_prediction(), "s")
    assert shaded.count('fill="#e4572e"') >= 5 and "Ketone (0.90)" in shaded
    assert spectra_svg(SimpleNamespace(inputs=SimpleNamespace(used=[], spectra={}),
                                       grids={})) == ""


def test_reading_children_wait_ready_and_replace_a_dead_one():
    """A child waits for the next request; one that died while waiting is replaced, and
    the reading works as before."""
    ctx = context()
    meta = SimpleNamespace(primary="ir", auxiliary=(), training={}, normalisation="max",
                           modalities={"ir": {"x_min": 400, "x_max": 4000, "n_points": 100}})
    spec = SampleSpec("aspirin", {"ir": EXAMPLES / "aspirin_ir.jdx"})
    first = read_sample(meta, spec, None, ReadLimits())
    assert first.spectra["ir"].shape == (100,)
    end = time.monotonic() + 30
    while not children._ready and time.monotonic() < end:
        time.sleep(0.05)
    assert children._ready, "no child waits for the next request"
    waiting = children._ready[0].process
    assert waiting.is_alive()
    waiting.kill()
    waiting.join(10)
    again = read_sample(meta, spec, None, ReadLimits())
    assert np.array_equal(again.spectra["ir"], first.spectra["ir"])
    assert ctx is context()


def test_plain_meta_leaves_out_the_ood_statistics():
    from mspectmol.models.inference import find_model
    from mspectmol.models.io import load_model

    _, meta = load_model(find_model(None))
    light = plain_meta(meta)
    assert light.ood is None and light.primary == meta.primary


def test_model_threads_share_the_cpus(client):
    from threadpoolctl import threadpool_info

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert WebLimits(threads=3).model_threads() == 3
    assert WebLimits(max_parallel=2).model_threads() == max(1, cpus // 2)
    assert WebLimits(max_parallel=10_000).model_threads() == 1
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    numpy_blas = [lib for lib in blas if "numpy" in lib["filepath"]] or blas
    assert numpy_blas  # set by create_app for the NumPy engine's matrix products:
    assert {lib["num_threads"] for lib in numpy_blas} == {WebLimits().model_threads()}
