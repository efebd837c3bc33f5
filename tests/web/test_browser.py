"""End to end: ``mspectmol serve`` in a subprocess, driven by headless Chromium.

The browser tests need Debian's ``chromium`` (``/usr/bin/chromium``) and Playwright's Python
package (its driver only: no browser is downloaded); they are skipped, saying which is
missing, without them. The last test talks to the real server over HTTP without a browser.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from mspectmol import __file__ as _package_file

EXAMPLES = Path(_package_file).parent / "data" / "examples"
CHROMIUM = os.environ.get("MSPECTMOL_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Playwright, or a skip naming what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright's Python package is not installed (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        if found is None:
            pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set "
                        "MSPECTMOL_CHROMIUM)")
        chromium = found
    else:
        chromium = CHROMIUM
    with sync_playwright() as pw:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start
        b = pw.chromium.launch(executable_path=chromium, headless=True,
                               args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100,
                                                                   "height": 900})
    p = context.new_page()
    p.set_default_timeout(120_000)
    p.goto(live_server.url + "/")
    yield p
    context.close()


def _figure_loaded(page):
    """The inline SVG figure is drawn at a useful size, one panel per spectrum used."""
    svg = page.locator("#result svg.spectra")
    svg.wait_for(state="visible")
    return svg.evaluate("s => { const b = s.getBoundingClientRect(); return b.width > 300 && "
                        "b.height > 150 && s.querySelectorAll('g.panel polyline').length > 0; }")


def test_upload_shows_table_and_plot(page):
    page.set_input_files("#file-ir", str(EXAMPLES / "aspirin_ir.jdx"))
    page.set_input_files("#file-h_nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"))
    page.click("#submit")
    table = page.locator("#result table.groups")
    table.wait_for(state="visible")
    assert table.locator("tbody tr").count() == 37
    aspirin_groups = ("Arene", "Alkane", "Ester", "Carboxylic acid", "Alcohol", "Ether")
    assert table.locator("tbody tr").first.locator("td").first.inner_text() in aspirin_groups
    assert table.locator("tr.call").count() >= 1
    assert _figure_loaded(page)
    with page.expect_download() as info:
        page.click('a.download[download="aspirin.json"]')
    doc = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert doc["spectra_used"] == ["ir", "h_nmr"] and "Arene" in doc["calls"]


def test_bad_file_shows_error_then_server_still_serves(page, tmp_path):
    junk = tmp_path / "junk.jdx"
    junk.write_bytes(bytes(range(256)) * 40)
    page.set_input_files("#file-ir", str(junk))
    page.click("#submit")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "junk.jdx (IR upload): binary" in error.inner_text()
    page.set_input_files("#file-ir", str(EXAMPLES / "paracetamol_ir.jdx"))
    page.click("#submit")
    page.locator("#result table.groups").wait_for(state="visible")
    assert page.locator("#error").count() == 0
    assert _figure_loaded(page)


def test_page_refuses_files_over_the_limit(page, tmp_path):
    big = tmp_path / "big_ir.csv"
    with open(big, "wb") as f:
        f.truncate(21 * 2**20)
    page.set_input_files("#file-ir", str(big))
    page.click("#submit")
    assert "more than 20 MB" in page.locator("#busy").inner_text()
    assert page.locator("#result").count() == 0 and page.url.endswith("/")


def _peak_rss_kb(pid):
    status = Path(f"/proc/{pid}/status")
    if not status.is_file():
        return None
    line = next(ln for ln in status.read_text().splitlines() if ln.startswith("VmHWM:"))
    return int(line.split()[1])


def test_real_server_refuses_100_mb_and_keeps_serving(live_server):
    httpx = pytest.importorskip("httpx")
    before = _peak_rss_kb(live_server.pid)

    def chunks():  # streamed (chunked): the server counts the body as it arrives
        yield (b'--abc\r\nContent-Disposition: form-data; name="ir"; filename="big.jdx"\r\n'
               b"Content-Type: text/plain\r\n\r\n")
        for _ in range(100):
            yield b"1 2\n" * 2**18  # 1 MB
        yield b"\r\n--abc--\r\n"

    with httpx.Client(base_url=live_server.url, timeout=120) as client:
        r = client.post("/api/predict", content=chunks(),
                        headers={"content-type": "multipart/form-data; boundary=abc"})
        assert r.status_code == 413 and "upload too large" in r.json()["error"]
        r = client.post("/api/predict", content=b"x" * (100 * 2**20),
                        headers={"content-type": "multipart/form-data; boundary=abc"})
        assert r.status_code == 413
        if before is not None:  # the 100 MB never sat in the server's memory
            assert _peak_rss_kb(live_server.pid) - before < 60 * 1024
        assert client.get("/api/health").json() == {"status": "ok"}
        # served on 127.0.0.1: requests for another host name (DNS rebinding) are refused
        assert client.get("/api/health", headers={"host": "evil.example"}).status_code == 400
        files = {"ir": ("aspirin_ir.jdx", (EXAMPLES / "aspirin_ir.jdx").read_bytes())}
        assert client.post("/api/predict", files=files).json()["calls"]
