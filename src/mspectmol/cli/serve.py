"""``mspectmol serve``: the local web app (upload spectra, see the groups and the report).

Starts :func:`mspectmol.web.create_app` under uvicorn, on 127.0.0.1 by default so that only
this computer can reach it, with deadlines for request headers and bodies, a cap on the
requests read and predicted at once, and the uploaded files read in a child process with a
memory and time limit (:mod:`mspectmol.web.server`, :mod:`mspectmol.web.app`). Needs the
``web`` extra (FastAPI, uvicorn, python-multipart).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import socket
from typing import Any

log = logging.getLogger("mspectmol.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_MB = 20.0


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
               ) -> None:
    from mspectmol.models.numpy_inference import ENGINES

    p = sub.add_parser(
        "serve", parents=parents, help="start the local web app",
        description="Start a local web app: upload a sample's spectrum files (any subset of "
                    "the model's modalities) and see the functional-group table, the spectra "
                    "shaded by importance and the report, with JSON and HTML downloads; "
                    "POST /api/predict answers JSON. Files are processed on this computer "
                    "and deleted after each request.",
    )
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this computer only; "
                        "0.0.0.0 lets other machines upload files)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--model", default=None, metavar="PATH|NAME",
                   help="model folder, model file, run folder or the name of a packaged model "
                        "(default: the packaged default model)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="what runs the model: 'numpy' (PA-IB models only; the server does "
                        "not load torch), 'torch', or 'auto' (default: NumPy for PA-IB "
                        "models, torch for the others); both give the same results to float "
                        "rounding")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB",
                   help="largest request, all files together, in MB of 2^20 bytes (default "
                        f"{DEFAULT_MAX_UPLOAD_MB:g}); larger uploads are refused with 413 "
                        "before they are read")
    g = p.add_argument_group("limits (hostile or unlucky clients)")
    g.add_argument("--max-parallel", type=int, default=2, metavar="N",
                   help="requests read and predicted at the same time (default 2)")
    g.add_argument("--max-queued", type=int, default=8, metavar="N",
                   help="requests that may wait for those; more are answered 503 with "
                        "Retry-After at once (default 8)")
    g.add_argument("--read-memory-mb", type=int, default=1024, metavar="MB",
                   help="memory that reading one request's files may take, in a child "
                        "process; more is answered 422 (default 1024)")
    g.add_argument("--read-timeout", type=float, default=60.0, metavar="S",
                   help="most seconds reading one request's files may take (10 s for up to "
                        "1 MB, 2.5 s more per MB, at most this; default 60)")
    g.add_argument("--body-timeout", type=float, default=120.0, metavar="S",
                   help="seconds a request body may take to arrive (it must also average "
                        "32 KB/s after 10 s); slower uploads are answered 408 (default 120)")
    g.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                   help="seconds a client has to send a request's headers (default 10)")
    p.set_defaults(run=run)


def _limits(args: argparse.Namespace) -> tuple[Any, Any]:
    """The app's and the server's limits from the options."""
    from mspectmol.errors import MspectmolError
    from mspectmol.web.app import WebLimits
    from mspectmol.web.sandbox import ReadLimits
    from mspectmol.web.server import ServerLimits

    for name in ("max_parallel", "read_memory_mb"):
        if getattr(args, name) < 1:
            raise MspectmolError(f"--{name.replace('_', '-')} must be at least 1, got "
                                 f"{getattr(args, name)}")
    if args.max_queued < 0:
        raise MspectmolError(f"--max-queued must be 0 or more, got {args.max_queued}")
    for name in ("read_timeout", "body_timeout", "header_timeout"):
        if not getattr(args, name) > 0:
            raise MspectmolError(f"--{name.replace('_', '-')} must be positive, got "
                                 f"{getattr(args, name)}")
    read = ReadLimits(memory_mb=args.read_memory_mb, timeout=min(10.0, args.read_timeout),
                      max_timeout=args.read_timeout)
    web = WebLimits(body_timeout=args.body_timeout, max_parallel=args.max_parallel,
                    max_queued=args.max_queued, read=read)
    return web, ServerLimits(header_timeout=args.header_timeout)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    """Fail with a clear message when the address cannot be bound (port in use, bad host)."""
    from mspectmol.errors import MspectmolError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MspectmolError(f"--host {host}: not an address of this computer ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            why = ("is in use; choose another with --port" if exc.errno == errno.EADDRINUSE
                   else f"cannot be opened ({exc.strerror})")
            raise MspectmolError(f"{host}:{port} {why}") from None


def run(args: argparse.Namespace) -> int:
    from mspectmol.errors import MspectmolError

    try:
        import uvicorn

        from mspectmol.web import create_app
        from mspectmol.web.server import uvicorn_config
    except ImportError as exc:
        raise MspectmolError(f"mspectmol serve needs the web extra ({exc.name} is missing): "
                             "pip install 'mspectmol[web]'") from None
    if not 1 <= args.port <= 65535:
        raise MspectmolError(f"--port must be between 1 and 65535, got {args.port}")
    if not args.max_upload_mb > 0:
        raise MspectmolError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    web_limits, server_limits = _limits(args)
    _check_port(args.host, args.port)
    # On the loopback address, only requests naming it are served (no DNS rebinding).
    hosts = (["127.0.0.1", "localhost"] if args.host in ("127.0.0.1", "localhost")
             else None)
    app = create_app(args.model, max_upload_bytes=int(args.max_upload_mb * 2**20),
                     allowed_hosts=hosts, limits=web_limits, engine=args.engine)
    if not _is_loopback(args.host):
        log.warning("listening on %s: other machines that reach this address can upload "
                    "files and see the results", args.host)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"mspectmol web app: http://{shown}:{args.port}/ (model "
          f"{app.state.predictor.info.name}; Ctrl+C stops it)", flush=True)
    level = "warning" if args.quiet else ("debug" if args.verbose > 1 else "info")
    server = uvicorn.Server(uvicorn_config(app, args.host, args.port, server_limits,
                                           log_level=level))
    try:
        server.run()
    except KeyboardInterrupt:  # a second Ctrl+C during the shutdown
        pass
    return 0
