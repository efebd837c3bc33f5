"""The web app through FastAPI's test client, with the packaged default model."""

import asyncio
import base64
import json
import re
import socket
import warnings

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # newer Starlette asks for httpx2; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

from mspectmol.cli.main import main  # noqa: E402
from mspectmol.web import create_app  # noqa: E402
from mspectmol.web.guard import CSP  # noqa: E402

LIMIT = 20 * 2**20
ASPIRIN_SMILES = "CC(=O)Oc1ccccc1C(=O)O"
TOO_LARGE = "upload too large"
MGF = (b"BEGIN IONS\nTITLE=aspirin\nPEPMASS=181.0495\nCHARGE=1+\n93.0335 12\n121.0284 100\n"
       b"139.0390 45\n163.0390 30\n181.0495 20\nEND IONS\n")


@pytest.fixture(scope="module")
def app():
    return create_app(max_upload_bytes=LIMIT)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _alive(client):
    assert client.get("/api/health").json() == {"status": "ok"}


def _download(page, name):
    """The decoded content of the page's download link for ``name``."""
    m = re.search(r'download="' + re.escape(name) + r'" href="data:[^;]+(?:;charset=utf-8)?'
                  r';base64,([A-Za-z0-9+/=]+)"', page)
    assert m, f"no download link for {name}"
    return base64.b64decode(m.group(1)).decode("utf-8")


def test_page_loads_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    for m in ("ir", "h_nmr", "c_nmr"):
        assert f'type="file" id="file-{m}" name="{m}"' in r.text
    assert 'name="smiles"' in r.text and 'name="solvent"' in r.text
    # nothing fetched from another machine: no external scripts, styles, images
    assert not re.search(r'(src|href)="(https?:)?//', r.text)
    assert client.get("/docs").status_code == 404  # FastAPI's docs would load a CDN


def test_upload_aspirin_shows_table_and_figure(client, aspirin):
    r = client.post("/predict", files=aspirin(), data={"smiles": ASPIRIN_SMILES})
    assert r.status_code == 200, r.text[:500]
    page = r.text
    table = re.search(r'<table class="groups">.*?</table>', page, re.S).group(0)
    assert "<td>Arene</td>" in table
    assert table.count("<tr") == 38  # header + 37 groups
    assert '<svg class="spectra"' in page  # the figure, inline (tests/web/test_hot_path.py)
    assert '<img src="data:image/png;base64,' in page  # the molecule drawing
    assert "aspirin_ir.jdx" in page and "mspectmol-web-" not in page
    assert f'value="{ASPIRIN_SMILES}"' in page  # the form keeps the SMILES
    doc = json.loads(_download(page, "aspirin.json"))
    assert doc["sample"] == "aspirin" and "Arene" in doc["calls"]
    assert doc["spectra"]["h_nmr"]["file"] == "aspirin_h_nmr.jdx"
    html = _download(page, "aspirin.html")
    assert html.startswith("<!DOCTYPE html>") and "<td>Arene</td>" in html
    assert '<svg class="spectra"' in html  # the same figure in the downloadable report


def test_api_predict(client, aspirin):
    r = client.post("/api/predict", files=aspirin(), data={"solvent": "CDCl3"})
    assert r.status_code == 200
    doc = r.json()
    assert doc["spectra_used"] == ["ir", "h_nmr", "c_nmr"] and doc["spectra_missing"] == []
    assert len(doc["groups"]) == 37
    assert doc["groups"][0]["name"] in ("Arene", "Alkane", "Carboxylic acid", "Ester")
    assert {"Arene", "Ester", "Carboxylic acid"} <= set(doc["calls"])
    assert isinstance(doc["warnings"], list)
    assert doc["spectra"]["ir"]["file"] == "aspirin_ir.jdx"
    assert doc["spectra"]["h_nmr"]["solvent"] == "CDCl3"
    probs = [g["probability"] for g in doc["groups"]]
    assert probs == sorted(probs, reverse=True)
    # any subset with the primary spectrum: the others are passed as missing
    only_ir = client.post("/api/predict", files=aspirin("ir")).json()
    assert only_ir["spectra_used"] == ["ir"] and only_ir["spectra_missing"] == ["h_nmr",
                                                                                 "c_nmr"]
    info = client.get("/api/model").json()
    assert info["primary"] == "ir" and info["max_upload_bytes"] == LIMIT


@pytest.mark.parametrize("files, data, message", [
    ({"ir": ("empty.jdx", b"")}, {}, "empty.jdx (IR upload): the file is empty"),
    ({"ir": ("junk.jdx", bytes(range(256)) * 64)}, {}, "junk.jdx (IR upload): binary"),
    ({"ir": ("notes.txt", b"this is not\na spectrum\n")}, {}, "notes.txt (IR upload)"),
    ({"ir": ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(200))}, {}, "photo.png (IR upload)"),
    ({"ir": "h_nmr"}, {}, "holds a 'h_nmr' spectrum but modality 'ir' was requested"),
    ({"ir": "ir"}, {"smiles": "C1CC(("}, "invalid SMILES 'C1CC(('"),
    ({"ir": "ir"}, {"solvent": "olive oil"}, "unknown NMR solvent 'olive oil'"),
    ({"h_nmr": "h_nmr"}, {}, "the model needs the IR spectrum"),
    ({}, {}, "no spectrum file uploaded"),
    ({"ir": "ir"}, {"colour": "red"}, "unknown field 'colour'"),
    ({"ir": "ir"}, {"denoise": "perhaps"}, "field 'denoise' must be on/off"),
    ({"ms": ("junk.mgf", b"BEGIN IONS\nPEPMASS=abc\nEND IONS\n")}, {}, "junk.mgf (MS upload)"),
    ({"ms": ("a.mgf", MGF)}, {"ms_adduct": "[M+Xe]+"}, "unknown adduct '[M+Xe]+'"),
    ({"ms": ("a.mgf", MGF)}, {"ms_ppm": "lots"}, "MS tolerance 'lots': not a number of ppm"),
    ({"ms": ("a.mgf", MGF)}, {"ms_elements": "CHXx"}, "MS elements: unsupported element 'Xx'"),
    ({"ms": ("a.mgf", MGF)}, {"smiles": "C1CC(("}, "invalid SMILES 'C1CC(('"),
])
def test_bad_uploads_clear_errors(client, aspirin, files, data, message):
    real = aspirin()
    files = {m: real[v] if isinstance(v, str) else v for m, v in files.items()}
    r = client.post("/api/predict", files=files or None, data=data)
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert "/tmp" not in r.json()["error"]  # the temporary folder is not named
    _alive(client)


def test_page_offers_a_mass_spectrum(client):
    page = client.get("/").text
    assert 'type="file" id="file-ms" name="ms"' in page
    assert 'name="ms_adduct"' in page and '<option value="[M-H]-">' in page
    assert 'name="ms_ppm"' in page and 'name="ms_elements"' in page


def test_mass_spectrum_with_ir_shows_formulas_and_explained_peaks(client, aspirin):
    files = {**aspirin("ir"), "ms": ("aspirin_ms.mgf", MGF)}
    r = client.post("/predict", files=files, data={"smiles": ASPIRIN_SMILES,
                                                   "ms_adduct": "[M+H]+", "ms_ppm": "5"})
    assert r.status_code == 200, r.text[:500]
    page = r.text
    assert '<table class="groups">' in page                  # the groups are still there
    assert "<h2>Molecular formula from the mass spectrum</h2>" in page
    formulas = re.search(r'<table class="formulas">.*?</table>', page, re.S).group(0)
    assert '<tr class="call"><td class="num">1</td><td>C9H8O4</td>' in formulas
    explained = re.search(r'<table class="explained">.*?</table>', page, re.S).group(0)
    assert "<td>C7H5O2+</td>" in explained and "<td>C9H7O3+</td>" in explained
    assert '<svg class="ms-peaks"' in page and "aspirin_ms.mgf" in page
    assert "mspectmol-web-" not in page and "assumed [M+H]+" not in page   # ion type given
    assert '<option value="[M+H]+" selected>' in page     # the form keeps the choice
    doc = json.loads(_download(page, "aspirin.json"))
    assert doc["status"] == "predicted" and doc["formulas"]["source"] == "aspirin_ms.mgf"
    assert doc["explained_peaks"]["structure_formula_rank"] == 1
    assert "<svg" in _download(page, "aspirin.html")


def test_mass_spectrum_alone_gives_the_formulas(client):
    r = client.post("/api/predict", files={"ms": ("aspirin_ms.mgf", MGF)},
                    data={"smiles": ASPIRIN_SMILES})
    assert r.status_code == 200, r.text[:500]
    doc = r.json()
    assert doc["status"] == "formulas only" and doc["groups"] == []
    assert "needs its primary IR spectrum" in doc["not_predicted"]
    assert doc["formulas"]["candidates"][0]["formula"] == "C9H8O4"
    assert "set it with the MS ion type field" in doc["formulas"]["notes"][0]
    peaks = {p["mz"]: p["formula"] for p in doc["explained_peaks"]["peaks"]}
    assert peaks[121.0284] == "C7H5O2+" and peaks[139.039] == "C7H7O3+"
    page = client.post("/predict", files={"ms": ("aspirin_ms.mgf", MGF)}).text
    assert "Functional groups not predicted" in page and '<svg class="ms-peaks"' in page
    assert "Give the structure (SMILES)" in page


def test_one_line_mass_spectrum_refused(client):
    body = b"BEGIN IONS\nPEPMASS=181.05\n" + b"1 " * (2**19 + 100) + b"\nEND IONS\n"
    r = client.post("/api/predict", files={"ms": ("long.mgf", body)})
    assert r.status_code == 400
    assert "long.mgf (MS upload): line 3 is longer than 1024 KB" in r.json()["error"]
    _alive(client)


def test_bad_upload_on_the_page_escaped(client):
    name = "<img src=x onerror=alert(1)>.jdx"
    r = client.post("/predict", files={"ir": (name, b"\x00\x01junk" * 50)})
    assert r.status_code == 400
    assert 'id="error"' in r.text and "binary" in r.text
    assert "<img src=x" not in r.text and "&lt;img src=x onerror=alert(1)&gt;.jdx" in r.text
    assert 'id="upload"' in r.text  # the form is still there
    _alive(client)


def test_too_large_declared_length(client, aspirin):
    body = b"x" * (100 * 2**20)
    headers = {"content-type": "multipart/form-data; boundary=abc"}
    r = client.post("/api/predict", content=body, headers=headers)
    assert r.status_code == 413 and TOO_LARGE in r.json()["error"]
    r = client.post("/predict", content=body, headers=headers)
    assert r.status_code == 413 and TOO_LARGE in r.text and 'id="upload"' in r.text
    del body
    assert client.post("/api/predict", files=aspirin("ir")).status_code == 200


def test_too_large_streamed_upload(client, aspirin):
    def chunks():  # no Content-Length: the limit is counted as the body arrives
        yield (b'--abc\r\nContent-Disposition: form-data; name="ir"; filename="big.jdx"\r\n'
               b"Content-Type: text/plain\r\n\r\n")
        for _ in range(100):
            yield b"1 2\n" * 2**18
        yield b"\r\n--abc--\r\n"

    r = client.post("/api/predict", content=chunks(),
                    headers={"content-type": "multipart/form-data; boundary=abc"})
    assert r.status_code == 413 and TOO_LARGE in r.json()["error"]
    assert client.post("/api/predict", files=aspirin("ir")).status_code == 200


def test_limit_stops_reading_the_body(app):
    """The app pulls no more of a 100 MB streamed body than the limit (ASGI level)."""
    head = (b'--abc\r\nContent-Disposition: form-data; name="ir"; filename="big.jdx"\r\n'
            b"Content-Type: text/plain\r\n\r\n")
    pulled = 0
    sent = []

    async def receive():
        nonlocal pulled
        pulled += 1
        if pulled > 100:
            return {"type": "http.request", "body": b"\r\n--abc--\r\n", "more_body": False}
        return {"type": "http.request", "more_body": True,
                "body": (head if pulled == 1 else b"") + b"1 2\n" * 2**18}  # 1 MB

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/predict",
             "raw_path": b"/api/predict", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"multipart/form-data; boundary=abc")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled <= LIMIT // 2**20 + 1
    assert TOO_LARGE in json.loads(sent[1]["body"])["error"]


def test_temporary_files_deleted(client, aspirin, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert client.post("/api/predict", files=aspirin("ir", "h_nmr")).status_code == 200
    assert client.post("/api/predict", files={"ir": ("junk.jdx", b"\x00" * 99)}
                       ).status_code == 400
    assert [p for p in tmp_path.iterdir() if p.name.startswith("mspectmol-web-")] == []


def test_serve_cli_refuses_bad_settings(capsys):
    assert main(["serve", "--port", "0"]) == 2
    assert "--port must be between 1 and 65535" in capsys.readouterr().err
    assert main(["serve", "--max-upload-mb", "0"]) == 2
    assert "--max-upload-mb must be positive" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"127.0.0.1:{port} is in use" in capsys.readouterr().err
