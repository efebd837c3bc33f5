"""``mspectmol serve``: the local web app (upload spectra, see the groups and the report).

Starts :func:`mspectmol.web.create_app` under uvicorn, on 127.0.0.1 by default so that only
this computer can reach it. Needs the ``web`` extra (FastAPI, uvicorn, python-multipart).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import socket

log = logging.getLogger("mspectmol.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_MB = 20.0


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
               ) -> None:
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
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB",
                   help="largest request, all files together, in MB of 2^20 bytes (default "
                        f"{DEFAULT_MAX_UPLOAD_MB:g}); larger uploads are refused with 413 "
                        "before they are read")
    p.set_defaults(run=run)


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
    except ImportError as exc:
        raise MspectmolError(f"mspectmol serve needs the web extra ({exc.name} is missing): "
                             "pip install 'mspectmol[web]'") from None
    if not 1 <= args.port <= 65535:
        raise MspectmolError(f"--port must be between 1 and 65535, got {args.port}")
    if not args.max_upload_mb > 0:
        raise MspectmolError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    _check_port(args.host, args.port)
    # On the loopback address, only requests naming it are served (no DNS rebinding).
    hosts = (["127.0.0.1", "localhost"] if args.host in ("127.0.0.1", "localhost")
             else None)
    app = create_app(args.model, max_upload_bytes=int(args.max_upload_mb * 2**20),
                     allowed_hosts=hosts)
    if not _is_loopback(args.host):
        log.warning("listening on %s: other machines that reach this address can upload "
                    "files and see the results", args.host)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"mspectmol web app: http://{shown}:{args.port}/ (model "
          f"{app.state.predictor.info.name}; Ctrl+C stops it)", flush=True)
    level = "warning" if args.quiet else ("debug" if args.verbose > 1 else "info")
    uvicorn.run(app, host=args.host, port=args.port, log_level=level, server_header=False)
    return 0
