"""Screenshot of the web app for the README (docs/img/serve.png).

Starts ``mspectmol serve`` on a free port, uploads the aspirin example files (IR, 1H and
13C NMR) and its SMILES in headless Chromium driven by Playwright, and saves the page with
the result. Needs the ``web`` extra, the ``playwright`` Python package and a Chromium
binary (Debian: ``apt-get install chromium``); no browser is downloaded.

    python scripts/screenshot_app.py [--output docs/img/serve.png] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "mspectmol" / "data" / "examples"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until ``url`` answers 200 (the server started) or fail with its output."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped (status {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url} within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "img" / "serve.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1100, help="page width, CSS pixels")
    parser.add_argument("--rows", type=int, default=8,
                        help="rows of the group table shown; the page is captured from its "
                             "top to there")
    parser.add_argument("--scale", type=float, default=0.75,
                        help="image pixels per CSS pixel (default 0.75)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "mspectmol", "-q", "serve", "--port",
                               str(port)], cwd=ROOT)
    try:
        wait_ready(base + "/api/health", server)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium,
                                         args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": args.width, "height": 900},
                                    device_scale_factor=args.scale)
            page.goto(base + "/")
            for modality, name in (("ir", "aspirin_ir.jdx"), ("h_nmr", "aspirin_h_nmr.jdx"),
                                   ("c_nmr", "aspirin_c_nmr.csv")):
                page.set_input_files(f"#file-{modality}", str(EXAMPLES / name))
            page.fill("#smiles", ASPIRIN)
            page.click("#submit")
            page.wait_for_selector("#result table.groups", timeout=120_000)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            bottom = page.evaluate(
                "n => { const row = document.querySelector("
                "`#result table.groups tbody tr:nth-child(${n})`);"
                " return row.getBoundingClientRect().bottom + window.scrollY + 2; }",
                args.rows)
            page.screenshot(path=str(args.output), full_page=True,
                            clip={"x": 0, "y": 0, "width": args.width, "height": bottom})
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
