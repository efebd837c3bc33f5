"""Benchmark: ``mspectmol serve`` warm, under load and hostile uploads, on 127.0.0.1 only.

Starts ``python -m mspectmol serve`` (shipped defaults, packaged default model) on a free
loopback port, then 1. warm: ``--warm`` sequential requests with the aspirin IR, 1H and 13C
NMR files to the page (``POST /predict``) and the API (``POST /api/predict``): client
latency and the server's time by phase (its ``Server-Timing`` header,
:mod:`mspectmol.web.timing`), p50 of each; ``--baseline-src DIR`` runs a second server from
another source tree (e.g. a ``git worktree`` of an earlier commit) and alternates the
requests between the two, so both see the same load; 2. sequential: a few predictions, each
the IR example of a random sample with a random subset of its NMR files; 3. load:
``--requests`` of them at ``--concurrency``; 4. hostile: a 20 MB one-line JCAMP-DX upload,
a 3 KB JCAMP-DX DUP bomb, a 100 MB declared body, a client trickling its headers, one its
body, a burst beyond the server's parallel + queued capacity; then the load again.

It prints and writes to ``benchmarks/results/serve.md`` the CPU and load average, phases,
throughput, p50/p95 latency, hostile answers and the server's memory (own RSS, process-tree
PSS); the counts are bounded and ``--time-limit`` stops the load phases.

    python benchmarks/bench_serve.py [--warm 20] [--baseline-src DIR] [--requests 120]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import httpx

import mspectmol
from mspectmol.models.precision import cpu_description
from mspectmol.web.timing import PHASES, parse_server_timing

EXAMPLES = Path(mspectmol.__file__).parent / "data" / "examples"
SAMPLES = ("aspirin", "paracetamol", "chloroacetophenone")
FILES = {"ir": "{}_ir.jdx", "h_nmr": "{}_h_nmr.jdx", "c_nmr": "{}_c_nmr.csv"}
OUT = Path(__file__).parent / "results" / "serve.md"
JCAMP_HEAD = ("##TITLE=hostile\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n"
              "##XUNITS=1/CM\n##YUNITS=ABSORBANCE\n##XFACTOR=1\n##YFACTOR=1\n##FIRSTX=4000\n"
              "##LASTX=400\n##NPOINTS=10\n##XYDATA=(X++(Y..Y))\n")
HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def machine() -> str:
    """The CPU (model, torch capability, native bf16), its cores and the load average."""
    try:
        load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "unknown"
    return f"{cpu_description()}; {os.cpu_count()} cores; load average {load} (1/5/15 min)"


def rss_mb(pid: int, key: str = "VmRSS:", source: str = "status") -> float:
    """A memory figure of one process from ``/proc/PID/source``, MB (0 when it is gone):
    resident memory, or ``"Pss:"`` of ``"smaps_rollup"`` (shared pages counted once)."""
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_pss_mb(pid: int) -> float:
    """Proportional memory of a process and all its descendants, MB (the reading children
    share most of their pages with the fork server: their RSS would count them again)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += rss_mb(p, "Pss:", "smaps_rollup")
        todo += children.get(p, [])
    return total


def sample_files(rng: random.Random) -> dict[str, tuple[str, bytes]]:
    """A random example sample: IR plus a random subset of its NMR files."""
    name = rng.choice(SAMPLES)
    mods = ["ir"] + [m for m in ("h_nmr", "c_nmr") if rng.random() < 0.5]
    return {m: (FILES[m].format(name), (EXAMPLES / FILES[m].format(name)).read_bytes())
            for m in mods}


def post(url: str, files: Any = None, timeout: float = 120.0, **kw: Any
         ) -> tuple[int, float, str]:
    """``(status, seconds, error text)`` of one POST /api/predict (status 0: no answer)."""
    start = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout) as client:
            r = client.post(url + "/api/predict", files=files, **kw)
        text = r.json().get("error", "") if r.status_code != 200 else ""
        return r.status_code, time.perf_counter() - start, text
    except (httpx.HTTPError, ValueError) as exc:
        return 0, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load(url: str, n: int, concurrency: int, time_limit: float, seed: int) -> dict[str, Any]:
    """``n`` predictions at ``concurrency``; stops issuing new ones after ``time_limit``."""
    rng = random.Random(seed)
    jobs = [sample_files(rng) for _ in range(n)]
    end = time.monotonic() + time_limit

    def one(files: Any) -> tuple[int, float, str] | None:
        return post(url, files) if time.monotonic() < end else None

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = [r for r in pool.map(one, jobs) if r is not None]
    wall = time.perf_counter() - start
    ok = [t for s, t, _ in results if s == 200]
    return {"sent": len(results), "ok": len(ok), "wall": wall,
            "errors": sorted({f"{s} {e[:80]}" for s, _, e in results if s != 200}),
            "throughput": len(ok) / wall if wall else 0.0,
            "p50": percentile(ok, 0.5) if ok else float("nan"),
            "p95": percentile(ok, 0.95) if ok else float("nan")}


def trickle(port: int, head: bytes, piece: bytes, every: float, limit: float
            ) -> tuple[str, float]:
    """Send ``head`` then ``piece`` every ``every`` s until the server answers or closes
    (at most ``limit`` s); ``(first line of the answer, seconds until it came)``."""
    start = time.perf_counter()
    with socket.create_connection((HOST, port)) as sock:
        sock.sendall(head)
        sock.settimeout(every)
        data = b""
        while time.perf_counter() - start < limit and b"\r\n" not in data:
            try:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
                continue
            except TimeoutError:
                pass
            except ConnectionResetError:
                break
            try:
                sock.sendall(piece)
            except OSError:
                break
    first = data.split(b"\r\n", 1)[0].decode("latin-1") or "closed without an answer"
    return first, time.perf_counter() - start


def hostile(url: str, port: int, pid: int, capacity: int) -> list[tuple[str, str, float, float]]:
    """The hostile requests: ``(what, answer, seconds, server tree PSS after, MB)``."""
    rows = []

    def record(what: str, answer: str, seconds: float) -> None:
        rows.append((what, answer, seconds, tree_pss_mb(pid)))
        print(f"  {what:<44} {answer[:60]:<60} {seconds:6.2f} s  "
              f"tree PSS {rows[-1][3]:7.0f} MB", flush=True)

    line = "4000 " + "0.123 " * ((20 * 2**20 - 4096) // 6)
    one_line = (JCAMP_HEAD + line + "\n##END=\n").encode()
    s, t, e = post(url, {"ir": ("one-line.jdx", one_line)})
    record(f"one-line JCAMP-DX, {len(one_line) / 2**20:.1f} MB", f"{s} {e}", t)
    del one_line, line
    bomb = (JCAMP_HEAD + "4000 As99999999\n" * 150 + "##END=\n").encode()
    s, t, e = post(url, {"ir": ("bomb.jdx", bomb)})
    record(f"JCAMP-DX DUP bomb, {len(bomb)} bytes", f"{s} {e}", t)
    declared = (b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/"
                b"form-data; boundary=abc\r\nContent-Length: 104857600\r\n\r\n")
    record("100 MB declared body", *trickle(port, declared, b"x" * 4096, 0.2, 30))
    head = (b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/"
            b"form-data; boundary=abc\r\nContent-Length: 1000000\r\n\r\n--abc\r\n"
            b'Content-Disposition: form-data; name="ir"; filename="slow.jdx"\r\n\r\n')
    with ThreadPoolExecutor(2) as pool:
        slow_body = pool.submit(trickle, port, head, b"1", 0.5, 60)
        slow_head = pool.submit(trickle, port, b"GET / HTTP/1.1\r\n", b"X", 0.5, 60)
        record("body trickled, 2 bytes/s", *slow_body.result())
        record("headers trickled, 2 bytes/s", *slow_head.result())
    burst = capacity + 6
    rng = random.Random(1)
    files = [sample_files(rng) for _ in range(burst)]
    barrier = threading.Barrier(burst)

    def at_once(f: Any) -> tuple[int, float, str]:
        barrier.wait()
        return post(url, f)

    with ThreadPoolExecutor(burst) as pool:
        results = list(pool.map(at_once, files))
    busy = [t for s, t, _ in results if s == 503]
    served = [t for s, t, _ in results if s == 200]
    record(f"burst of {burst} at once (capacity {capacity})",
           f"{len(served)} x 200, {len(busy)} x 503 (503 in at most "
           f"{max(busy, default=0):.2f} s)", max(t for _, t, _ in results))
    return rows


def warm(urls: dict[str, str], n: int) -> dict[tuple[str, str], dict[str, float]]:
    """``n`` sequential requests with the three aspirin files per route and server (the
    servers alternate, one kept-alive connection each, after two unmeasured requests):
    ``{(server, route): {"client": p50 ms, phase: p50 ms of its Server-Timing}}``."""
    files = {m: (FILES[m].format("aspirin"), (EXAMPLES / FILES[m].format("aspirin"))
                 .read_bytes()) for m in FILES}
    clients = {name: httpx.Client(base_url=url, timeout=120) for name, url in urls.items()}
    seen: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for i in range(n + 2 if n else 0):
            for name in (list(urls) if i % 2 else list(urls)[::-1]):
                for route in ("/predict", "/api/predict"):
                    start = time.perf_counter()
                    r = clients[name].post(route, files=files)
                    took = 1000 * (time.perf_counter() - start)
                    if r.status_code != 200:
                        raise SystemExit(f"{name} {route}: {r.status_code} {r.text[:300]}")
                    if i >= 2:
                        seen.setdefault((name, route), []).append(
                            {"client": took, **parse_server_timing(
                                r.headers.get("server-timing", ""))})
    finally:
        for client in clients.values():
            client.close()
    out = {key: {k: statistics.median(r[k] for r in rows if k in r)
                 for k in ["client", *PHASES] if any(k in r for r in rows)}
           for key, rows in seen.items()}
    for key, t in sorted(out.items()):
        print(f"warm {key}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in t.items()), flush=True)
    return out


@contextmanager
def serving(port: int, log: Path, src: Path | None = None) -> Iterator[subprocess.Popen]:
    """``mspectmol serve`` on ``127.0.0.1:port`` (the package of source tree ``src`` when
    given) until the ``with`` block ends, waited for until it answers."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src / "src"), env.get("PYTHONPATH", "")])
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "mspectmol", "serve", "--host", HOST,
                                    "--port", str(port), "--quiet"],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        end = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server stopped: {log.read_text()}")
            try:
                if httpx.get(f"http://{HOST}:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > end:
                raise SystemExit(f"the server did not start in 180 s: {log.read_text()}")
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def warm_markdown(args: argparse.Namespace, timings: dict[tuple[str, str], dict[str, float]]
                  ) -> list[str]:
    """The table of the warm requests by phase (before/after when there is a baseline)."""
    phases = [k for k in PHASES if any(k in t for t in timings.values())]
    lines = ["## A warm request (IR + 1H + 13C NMR of aspirin) by phase", "",
             f"p50 over {args.warm} sequential requests per row, milliseconds; the server "
             "phases come from its `Server-Timing` header (`src/mspectmol/web/timing.py`: "
             "form = upload received and saved, queue = wait for a slot, read = reading and "
             "preparing in the limited child, child = the rest of the child's round trip, "
             "predict = the model with gate importance and the regions behind each call, "
             "render = JSON or page with report, figure and downloads). Each column is its own "
             "p50, so the phases need not add up to the total. In this tree's server a "
             "request's reading child starts while the previous one predicts and exits while "
             "its own predicts: on busy cores part of its cost shows in predict, not child."]
    if args.baseline_src is not None:
        git = subprocess.run(["git", "-C", str(args.baseline_src), "log", "-1", "--format=%h"],
                             capture_output=True, text=True).stdout.strip()
        lines += ["", f"before = {args.baseline_label or 'commit ' + git}; after = this "
                  "tree. The two servers ran side by side and the requests alternated between "
                  "them, so both saw the same load."]
    lines += ["", "| request | code | client | " + " | ".join(phases) + " |",
              "|---|---|" + "---:|" * (len(phases) + 1)]
    ratios = []
    for route, what in (("/predict", "page, POST /predict"), ("/api/predict", "API")):
        rows = [(name, timings[name, route]) for name in ("before", "after", "this tree")
                if (name, route) in timings]
        for name, t in rows:
            cells = " | ".join(f"{t[k]:.0f}" if k in t else "-" for k in phases)
            lines.append(f"| {what} | {name} | {t['client']:.0f} | {cells} |")
        if len(rows) == 2 and "total" in rows[0][1] and "total" in rows[1][1]:
            ratios.append(f"{what.split(',')[0]} {rows[0][1]['total'] / rows[1][1]['total']:.1f}x")
    if ratios:
        lines += ["", "Server time (total) before / after: " + ", ".join(ratios) + "."]
    return lines + [""]


def write_markdown(path: Path, args: argparse.Namespace, rows: dict[str, Any]) -> None:
    """The results as markdown (see the module docstring)."""
    base, loaded, after = rows["baseline"], rows["load"], rows["after"]
    mem = rows["memory"]
    lines = [
        "# `mspectmol serve`: warm requests, load and hostile uploads",
        "",
        f"Measured {date.today().isoformat()} on {rows['machine']} at the start (a shared "
        "machine: other jobs kept the cores busy). `python benchmarks/bench_serve.py --warm "
        f"{args.warm} --requests {args.requests} --concurrency {args.concurrency}`: the "
        "server with its shipped limits (2 requests read and predicted at once, 8 queued, "
        "reading in a child with 1024 MB and 10-60 s, body 120 s / 32 KB/s, headers 10 s), "
        "the packaged default model, the example spectra, all traffic on 127.0.0.1.",
        "", *(warm_markdown(args, rows["warm"]) if rows["warm"] else []),
        "## Load", "",
        "Each request: the IR example of a random sample plus a random subset of its 1H and "
        "13C NMR files.", "",
        "| phase | requests | ok | throughput (req/s) | p50 (s) | p95 (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r, conc in (("sequential", base, 1), ("load", loaded, args.concurrency),
                          ("after the hostile uploads", after, args.concurrency)):
        lines.append(f"| {name}, concurrency {conc} | {r['sent']} | {r['ok']} | "
                     f"{r['throughput']:.2f} | {r['p50']:.2f} | {r['p95']:.2f} |")
    lines += ["", f"Throughput at concurrency {args.concurrency} vs 1: "
              f"{loaded['throughput'] / base['throughput']:.2f}x; p50 latency "
              f"{loaded['p50'] / base['p50']:.2f}x. Errors under load: "
              f"{', '.join(loaded['errors'] + after['errors']) or 'none'}.", "",
              "| hostile request | answer | seconds | server tree PSS after (MB) |",
              "|---|---|---:|---:|"]
    for what, answer, seconds, tree in rows["hostile"]:
        answer = answer.replace("|", "\\|")
        lines.append(f"| {what} | {answer[:140]} | {seconds:.2f} | {tree:.0f} |")
    lines += ["", "| server memory | own RSS (MB) | process tree PSS (MB) |", "|---|---:|---:|"]
    for name, (own, tree) in mem.items():
        lines.append(f"| {name} | {own:.0f} | {tree:.0f} |")
    first, last = mem["before the load"], mem["at the end"]
    lines += ["", f"Memory at the end vs before the load: own RSS {last[0] / first[0]:.2f}x, "
              f"process tree {last[1] / first[1]:.2f}x."]
    lines += ["", "Notes: the process tree is the server, the fork server of the reading "
              "children, the child waiting for the next request and any child reading; PSS "
              "counts the pages they share once. The one-line upload is refused by "
              "the child's line-length check, the DUP bomb by the JCAMP-DX reader's repeat-"
              "count check; a file past both meets the child's address-space limit or its "
              "deadline (422; tests/web/test_hardening.py checks both).", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--warm", type=int, default=20,
                   help="sequential warm requests per route and server (0: none)")
    p.add_argument("--baseline-src", type=Path, default=None,
                   help="a source tree (e.g. a git worktree of an earlier commit) whose "
                        "server is measured beside this one in the warm phase")
    p.add_argument("--baseline-label", help="what the baseline is (default: its commit)")
    p.add_argument("--requests", type=int, default=120, help="requests of the load phase")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--baseline", type=int, default=10, help="sequential requests first")
    p.add_argument("--time-limit", type=float, default=300.0,
                   help="seconds after which the load phases issue no new requests")
    p.add_argument("--capacity", type=int, default=10,
                   help="the server's parallel + queued requests (serve's defaults: 2 + 8)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    if not (0 < args.requests <= 5000 and 0 < args.concurrency <= 32
            and 0 <= args.warm <= 1000):
        p.error("--requests must be 1-5000, --concurrency 1-32 and --warm 0-1000")
    if args.baseline_src is not None and not (args.baseline_src / "src" / "mspectmol").is_dir():
        p.error(f"--baseline-src {args.baseline_src}: no src/mspectmol there")
    port = free_port()
    url = f"http://{HOST}:{port}"
    rows: dict[str, Any] = {"memory": {}, "machine": machine(), "warm": {}}
    print(rows["machine"], flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp, \
            serving(port, Path(tmp) / "server.log") as server:
        pid = server.pid

        def memory(name: str) -> None:
            rows["memory"][name] = (rss_mb(pid), tree_pss_mb(pid))
            print(f"{name}: server RSS {rows['memory'][name][0]:.0f} MB, process tree PSS "
                  f"{rows['memory'][name][1]:.0f} MB", flush=True)

        print(f"server pid {pid} on {url}", flush=True)
        other = free_port()
        with (serving(other, Path(tmp) / "before.log", args.baseline_src)
              if args.warm and args.baseline_src else nullcontext()) as before:
            rows["warm"] = warm({"after" if before else "this tree": url} | (
                {"before": f"http://{HOST}:{other}"} if before else {}), args.warm)
        rows["baseline"] = load(url, args.baseline, 1, args.time_limit, seed=0)
        print(f"sequential (concurrency 1): {rows['baseline']}", flush=True)
        memory("before the load")
        rows["load"] = load(url, args.requests, args.concurrency, args.time_limit, seed=1)
        print(f"load (concurrency {args.concurrency}): {rows['load']}", flush=True)
        memory("after the load")
        print("hostile requests:", flush=True)
        rows["hostile"] = hostile(url, port, pid, args.capacity)
        memory("after the hostile requests")
        rows["after"] = load(url, max(args.requests // 4, 1), args.concurrency,
                             args.time_limit, seed=2)
        print(f"after the hostile requests: {rows['after']}", flush=True)
        memory("at the end")
        alive = server.poll() is None
    if not alive:
        raise SystemExit("the server died during the benchmark")
    first, last = rows["memory"]["before the load"], rows["memory"]["at the end"]
    print(f"memory end/before: own {last[0] / first[0]:.2f}x, tree {last[1] / first[1]:.2f}x; "
          f"throughput c={args.concurrency} vs c=1: "
          f"{rows['load']['throughput'] / rows['baseline']['throughput']:.2f}x")
    if not args.no_write:
        write_markdown(args.out, args, rows)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
