"""Hostile and unlucky clients: slow headers and bodies, a busy server, hostile uploads, CSP.

A real uvicorn server (the guarded h11 protocol of ``mspectmol serve``) runs in a thread on
127.0.0.1 with short limits; the raw-socket clients talk only to it.
"""

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import mspectmol

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from mspectmol.cli.main import main  # noqa: E402
from mspectmol.web.app import WebLimits, create_app  # noqa: E402
from mspectmol.web.guard import CSP, Gate, GateFull  # noqa: E402
from mspectmol.web.sandbox import MAX_LINE_BYTES, ReadLimits, ReadRefused, read_sample  # noqa: E402
from mspectmol.web.server import ServerLimits, uvicorn_config  # noqa: E402

EXAMPLES = Path(mspectmol.__file__).parent / "data" / "examples"
HEADER_TIMEOUT = 1.0
BODY_GRACE = 0.5
LIMITS = WebLimits(body_timeout=3.0, min_upload_rate=64 * 1024, body_grace=BODY_GRACE,
                   max_parallel=1, max_queued=0, retry_after=2,
                   read=ReadLimits(timeout=4.0, max_timeout=4.0))
JCAMP_HEAD = ("##TITLE=hostile\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n"
              "##XUNITS=1/CM\n##YUNITS=ABSORBANCE\n##XFACTOR=1\n##YFACTOR=1\n##FIRSTX=4000\n"
              "##LASTX=400\n##NPOINTS=10\n##XYDATA=(X++(Y..Y))\n")


@pytest.fixture(scope="module")
def server():
    """The app with short limits under uvicorn in a thread; ``.url``, ``.port``, ``.app``."""
    import uvicorn

    app = create_app(limits=LIMITS)
    port = _free_port()
    config = uvicorn_config(app, "127.0.0.1", port, ServerLimits(
        header_timeout=HEADER_TIMEOUT, keep_alive=1), log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < end, "the server did not start"
        time.sleep(0.05)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", port=port, app=app)
    srv.should_exit = True
    thread.join(10)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _aspirin_ir():
    return {"ir": ("aspirin_ir.jdx", (EXAMPLES / "aspirin_ir.jdx").read_bytes())}


def _alive(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.get("/api/health").json() == {"status": "ok"}
        r = client.post("/api/predict", files=_aspirin_ir())
        assert r.status_code == 200 and r.json()["groups"]


def _until_closed(sock, limit):
    """Everything the server sends until it closes the connection (or ``limit`` s pass)."""
    sock.settimeout(0.2)
    data, end = b"", time.monotonic() + limit
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def _trickle(sock, pieces, every):
    for piece in pieces:
        try:
            sock.sendall(piece)
        except OSError:  # the server closed the connection: what the test waits for
            return
        time.sleep(every)


def test_csp_allows_no_inline_script(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/")
        js = client.get("/static/page.js")
    csp = page.headers["content-security-policy"]
    assert csp == CSP
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts == ['<script src="/static/page.js" defer>']  # no inline script
    assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handlers
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "dataset.limit" in js.text and 'data-limit="' in page.text


def test_slow_headers_get_408_and_close(server):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        pieces = [b"X-Slow: " + b"a" * i + b"\r\n" for i in range(20)]  # never finishes
        sender = threading.Thread(target=_trickle, args=(sock, pieces, 0.2), daemon=True)
        sender.start()
        data, closed = _until_closed(sock, HEADER_TIMEOUT + 4)
    assert closed and data.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - start < HEADER_TIMEOUT + 2


def test_idle_connection_closed(server):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        data, closed = _until_closed(sock, HEADER_TIMEOUT + 4)
    assert closed and data.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - start < HEADER_TIMEOUT + 2


def test_slow_body_gets_408(server):
    head = (b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=abc\r\nContent-Length: 100000\r\n\r\n"
            b'--abc\r\nContent-Disposition: form-data; name="ir"; filename="slow.jdx"\r\n\r\n')
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head)
        sender = threading.Thread(target=_trickle, args=(sock, [b"1 2\n"] * 50, 0.1),
                                  daemon=True)
        sender.start()
        data, closed = _until_closed(sock, LIMITS.body_timeout + 4)
    assert data.startswith(b"HTTP/1.1 408") and b"upload too slow" in data
    assert b"connection: close" in data.lower() and closed
    assert time.monotonic() - start < BODY_GRACE + 2.5
    _alive(server)


def test_busy_server_answers_503_at_once(server, monkeypatch):
    predictor = server.app.state.predictor
    entered, release = threading.Event(), threading.Event()
    real = predictor.predict

    def slow(form, *args):
        entered.set()
        release.wait(30)
        return real(form, *args)

    monkeypatch.setattr(predictor, "predict", slow)
    first = {}

    def post_first():
        with httpx.Client(base_url=server.url, timeout=60) as client:
            first["r"] = client.post("/api/predict", files=_aspirin_ir())

    thread = threading.Thread(target=post_first)
    thread.start()
    try:
        assert entered.wait(30), "the first request never started"
        start = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            busy = client.post("/api/predict", files=_aspirin_ir())
            page = client.post("/predict", files=_aspirin_ir())
        assert time.monotonic() - start < 5
    finally:
        release.set()
        thread.join(60)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
    assert "busy" in busy.json()["error"]
    assert page.status_code == 503 and 'id="error"' in page.text
    assert first["r"].status_code == 200  # the request holding the slot is served


def test_one_line_upload_refused_quickly(server):
    line = "4000 " + "1 2 3 " * (MAX_LINE_BYTES // 6 + 1000)
    body = (JCAMP_HEAD + line + "\n##END=\n").encode()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        start = time.monotonic()
        r = client.post("/api/predict", files={"ir": ("one-line.jdx", body)})
        took = time.monotonic() - start
    assert r.status_code == 400
    error = r.json()["error"]
    assert "one-line.jdx (IR upload): line 12 is longer than 1024 KB" in error
    assert "/tmp" not in error and took < 3.0
    _alive(server)


def test_dup_bomb_refused_and_server_lives(server):
    bomb = (JCAMP_HEAD + "4000 As99999999\n" * 150 + "##END=\n").encode()
    assert len(bomb) < 3000
    with httpx.Client(base_url=server.url, timeout=60) as client:
        start = time.monotonic()
        r = client.post("/api/predict", files={"ir": ("bomb.jdx", bomb)})
        took = time.monotonic() - start
    assert r.status_code in (400, 422), r.text
    assert "bomb.jdx (IR upload)" in r.json()["error"]
    assert took < LIMITS.read.max_timeout + 3
    _alive(server)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_reading_that_hangs_is_killed(tmp_path):
    """A child that never finishes (here: blocked opening a FIFO) is killed at the
    deadline and the request refused with 422."""
    from mspectmol.data.samples import SampleSpec

    fifo = tmp_path / "hang.jdx"
    os.mkfifo(fifo)
    meta = SimpleNamespace(primary="ir", auxiliary=(), training={}, normalisation="max",
                           modalities={"ir": {"x_min": 400, "x_max": 4000, "n_points": 100}})
    start = time.monotonic()
    with pytest.raises(ReadRefused, match="took longer than 0.5 s") as info:
        read_sample(meta, SampleSpec("hang", {"ir": fifo}), None,
                    ReadLimits(timeout=0.5, max_timeout=0.5))
    assert info.value.status == 422 and time.monotonic() - start < 3.5


def test_child_memory_limit():
    """``RLIMIT_AS`` is set relative to what the child has: 64 MB more may be allocated,
    512 MB more raises MemoryError."""
    code = ("from mspectmol.web.sandbox import _limit_self\n_limit_self(64, 30)\n"
            "ok = bytearray(16 * 2**20)\n"
            "try:\n    bytearray(512 * 2**20)\nexcept MemoryError:\n    print('refused')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused"


def test_gate_queues_then_refuses():
    async def scenario():
        gate = Gate(1, queue=1, wait=0.3)
        await gate.acquire()  # the one slot
        waiter = asyncio.ensure_future(gate.acquire())  # queued
        await asyncio.sleep(0)
        with pytest.raises(GateFull):  # queue full: refused at once
            await gate.acquire()
        gate.release()  # the slot passes to the waiter
        await asyncio.wait_for(waiter, 1)
        assert gate.active == 1 and gate.waiting == 0
        with pytest.raises(GateFull, match="no slot came free"):  # waits 0.3 s, then refused
            await gate.acquire()
        gate.release()
        assert gate.active == 0
        async with gate.slot():
            assert gate.active == 1
        assert gate.active == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("option, value, message", [
    ("--max-parallel", "0", "--max-parallel must be at least 1"),
    ("--max-queued", "-1", "--max-queued must be 0 or more"),
    ("--read-timeout", "0", "--read-timeout must be positive"),
    ("--header-timeout", "-2", "--header-timeout must be positive"),
])
def test_serve_cli_refuses_bad_limits(capsys, option, value, message):
    assert main(["serve", option, value]) == 2
    assert message in capsys.readouterr().err

