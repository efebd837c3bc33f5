"""Shared pieces of the web app tests: the example files and a real server in a subprocess."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

import mspectmol

EXAMPLES = Path(mspectmol.__file__).parent / "data" / "examples"
ASPIRIN_FILES = {"ir": "aspirin_ir.jdx", "h_nmr": "aspirin_h_nmr.jdx",
                 "c_nmr": "aspirin_c_nmr.csv"}
ASPIRIN_SMILES = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture(scope="session")
def aspirin():
    """``aspirin(*modalities)``: multipart ``files=`` for the aspirin example files of
    ``modalities`` (default: IR, 1H and 13C NMR)."""

    def files(*modalities):
        return {m: (ASPIRIN_FILES[m], (EXAMPLES / ASPIRIN_FILES[m]).read_bytes())
                for m in (modalities or ASPIRIN_FILES)}

    return files


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """``mspectmol serve`` on a free port (the packaged default model); yields ``.url`` and
    ``.pid``."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mspectmol", "serve", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server stopped: {log.read_text()}")
            try:
                with urllib.request.urlopen(url + "/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > end:
                    pytest.fail(f"the server did not start in 120 s: {log.read_text()}")
                time.sleep(0.3)
        yield SimpleNamespace(url=url, pid=process.pid)
        assert process.poll() is None, f"the server died: {log.read_text()}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
