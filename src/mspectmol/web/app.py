"""The local web app of ``mspectmol serve``: upload spectra, get the functional groups.

Routes
------
``GET /``
    The page: one file input per modality of the model and one for a mass spectrum, SMILES,
    NMR solvent, preprocessing, the mass spectrum's ion type, tolerance and elements.
``POST /predict``
    The form's target: the page again with the report (group table, shaded spectra, regions,
    molecule, input warnings; with a mass spectrum the formula candidates and, with a SMILES,
    the explained MS/MS peaks) and download links for the JSON and HTML reports, or with the
    error. A mass spectrum without the primary spectrum gives the formulas only.
``POST /api/predict``
    The same multipart fields (``ir``, ``h_nmr``, ``ms``, ... files; ``smiles``, ``solvent``,
    ``no_baseline``, ``denoise``, ``ms_adduct``, ``ms_ppm``, ``ms_elements``); answers
    :func:`~mspectmol.predict.report.prediction_dict` (``formulas`` and ``explained_peaks``
    included; :func:`~mspectmol.predict.report.mass_only_dict` for the formulas only) as
    JSON, or ``{"error": message}`` with status 400 (bad input), 408 (body too slow),
    413 (too large), 422 (reading the files went over the memory or time limit), 503 (busy,
    with ``Retry-After``) or 500.
``GET /api/model``, ``GET /api/health``
    The model's inputs and labels; ``{"status": "ok"}``.
``GET /static/page.js``
    The page's script.

Both prediction routes answer with a ``Server-Timing`` header: the milliseconds of each
phase of the request (:mod:`mspectmol.web.timing`), also logged at debug level.

Hostile and unlucky input
-------------------------
The body of a request is limited in size and pace while it streams in
(:mod:`mspectmol.web.guard`: 413 over ``max_upload_bytes``, 408 when it comes too slowly);
its files are copied to a private temporary folder, deleted when the request ends. At most
``WebLimits.max_parallel`` requests are read and predicted at once and
``WebLimits.max_queued`` more wait; the rest get 503 at once. The files are read in a child
process with a memory and time limit (:mod:`mspectmol.web.sandbox`): a file that would drive
a reader into a memory explosion or an endless loop costs a 422 answer, not the server.
Bad files, bad SMILES and unknown solvents are answered with the reader's message, naming
the uploaded file; no error stops the server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect

from mspectmol.errors import MspectmolError
from mspectmol.web.forms import PredictForm, WebError, read_form
from mspectmol.web.guard import (
    ASGIApp,
    BodyDeadline,
    Gate,
    GateFull,
    Scope,
    SecurityHeaders,
    UploadLimit,
)
from mspectmol.web.page import SCRIPT, render_page
from mspectmol.web.predictor import Outcome, Predictor
from mspectmol.web.render import document, page_result
from mspectmol.web.sandbox import ReadLimits, context
from mspectmol.web.timing import Timer

log = logging.getLogger("mspectmol.web")

#: Default limit on the size of one request (all its files together): 20 MB.
DEFAULT_MAX_UPLOAD_BYTES = 20 * 2**20
#: Requests whose files hold more than this hand freed memory back afterwards.
TRIM_AFTER_BYTES = 2**20
_trim: Any = None


@dataclass(frozen=True)
class WebLimits:
    """What one request may cost the app (the defaults of ``mspectmol serve``).

    Attributes
    ----------
    body_timeout
        Seconds the whole request body may take to arrive.
    min_upload_rate
        Bytes per second a body must average after ``body_grace`` seconds (else 408).
    body_grace
        Seconds before ``min_upload_rate`` counts.
    max_parallel
        Requests read and predicted at the same time.
    max_queued
        Requests that may wait for one of those slots; more are answered 503.
    queue_wait
        Seconds a request may wait for a slot before it is answered 503.
    retry_after
        Seconds a 503 answer asks the client to wait (``Retry-After``).
    read
        Memory and time for reading one request's files (:class:`ReadLimits`).
    threads
        Threads of the model's operations in the server process; None: the CPUs this
        process may use shared among the ``max_parallel`` requests (at least 1). A request
        predicts while another reads in its child; on 2 cores one thread each is faster than
        two that wait for each other (``benchmarks/results/serve.md``).
    """

    body_timeout: float = 120.0
    min_upload_rate: float = 32 * 1024
    body_grace: float = 10.0
    max_parallel: int = 2
    max_queued: int = 8
    queue_wait: float = 60.0
    retry_after: int = 5
    read: ReadLimits = field(default_factory=ReadLimits)
    threads: int | None = None

    def model_threads(self) -> int:
        """:attr:`threads`, or the usable CPUs divided among :attr:`max_parallel`."""
        if self.threads is not None:
            return max(1, self.threads)
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not on every system
            cpus = os.cpu_count() or 1
        return max(1, cpus // max(1, self.max_parallel))


def release_memory() -> None:
    """Hand the heap's free memory back to the system (glibc's ``malloc_trim``; a no-op
    where there is none), so that one large request does not leave the server big."""
    global _trim
    if _trim is None:
        try:
            _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


def page_script() -> str:
    """The page's JavaScript (``static/page.js`` of this package)."""
    return resources.files("mspectmol.web").joinpath("static/page.js").read_text("utf-8")


def create_app(model_path: str | os.PathLike[str] | None = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, *,
               allowed_hosts: Sequence[str] | None = None,
               limits: WebLimits | None = None, engine: str = "auto") -> FastAPI:
    """The web app (an ASGI application for uvicorn or a test client).

    Parameters
    ----------
    model_path
        A model folder or file, a run folder or a packaged model's name; None is the
        packaged default model. Loaded once, here.
    max_upload_bytes
        The largest request accepted (all files together); larger ones get 413.
    allowed_hosts
        Host names the ``Host`` header may carry (None: any). ``mspectmol serve`` on
        127.0.0.1 allows only ``127.0.0.1`` and ``localhost``, so that a web page whose name
        is rebound to this computer (DNS rebinding) cannot use the app.
    limits
        Body pace, parallel requests and the reading limits (default :class:`WebLimits`).
    engine
        What runs the model (:class:`~mspectmol.web.predictor.Predictor`): ``"auto"`` is
        NumPy for PA-IB models, torch for the others.

    Raises
    ------
    MspectmolError
        When the model cannot be found or loaded, or the limit is below 1 KB.
    """
    if max_upload_bytes < 1024:
        raise MspectmolError(f"the upload limit must be at least 1 KB, got {max_upload_bytes} "
                             "bytes")
    limits = limits or WebLimits()
    predictor = Predictor(model_path, limits.read, limits.model_threads(), engine)
    page_model = predictor.page_model(max_upload_bytes)
    script = page_script()
    gate = Gate(limits.max_parallel, limits.max_queued, limits.queue_wait)
    context()  # start the fork server of the reading children now, not at the first upload
    # No /docs or /redoc: FastAPI's documentation pages load scripts from a CDN.
    app = FastAPI(title="mspectmol", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.predictor = predictor
    app.state.gate = gate
    app.state.limits = limits

    def page(status: int = 200, **kwargs: Any) -> HTMLResponse:
        return HTMLResponse(render_page(page_model, **kwargs), status_code=status)

    def headers(exc: WebError) -> dict[str, str]:
        if exc.status == 503:
            return {"retry-after": str(limits.retry_after)}
        if exc.status in (400, 408, 413):  # the body may be unread: end the connection
            return {"connection": "close"}
        return {}

    async def run(request: Request, timer: Timer
                  ) -> tuple[PredictForm | None, Outcome | WebError]:
        form = None
        try:
            with tempfile.TemporaryDirectory(prefix="mspectmol-web-") as tmp:
                with timer.phase("form"):
                    form = await read_form(request, Path(tmp))
                predictor.check(form)
                try:
                    waiting = time.perf_counter()
                    async with gate.slot():
                        timer.add("queue", time.perf_counter() - waiting)
                        return form, await run_in_threadpool(predictor.predict, form, timer)
                finally:
                    if form.upload_bytes > TRIM_AFTER_BYTES:
                        release_memory()
        except GateFull as exc:
            log.warning("refused a request: %s", exc)
            return form, WebError(503, f"the server is {exc}; try again in "
                                       f"{limits.retry_after} s")
        except WebError as exc:
            log.info("refused a request: %s", exc.message)
            return form, exc
        except ClientDisconnect:
            return form, WebError(400, "the upload was interrupted")
        except Exception as exc:  # a bug, not bad input: say so and keep serving
            log.exception("prediction failed")
            return form, WebError(500, f"internal error while predicting ({type(exc).__name__}"
                                       f": {exc}); the server is still running")

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return page()

    @app.api_route(SCRIPT, methods=["GET", "HEAD"])
    async def page_js() -> Response:
        return Response(script, media_type="text/javascript; charset=utf-8")

    def timed(answer: Response, timer: Timer) -> Response:
        timer.finish()
        answer.headers["server-timing"] = timer.header()
        log.debug("request %s: %s", answer.status_code, timer.line())
        return answer

    @app.post("/predict", response_class=HTMLResponse)
    async def predict_page(request: Request) -> Response:
        timer = Timer()
        form, outcome = await run(request, timer)
        state = form.state if form is not None else None
        if isinstance(outcome, WebError):
            answer = page(outcome.status, state=state, error=outcome.message)
            answer.headers.update(headers(outcome))
            return timed(answer, timer)
        with timer.phase("render"):
            answer = await run_in_threadpool(
                lambda: page(state=state, result=page_result(outcome)))
        return timed(answer, timer)

    @app.post("/api/predict")
    async def predict_api(request: Request) -> Response:
        timer = Timer()
        _, outcome = await run(request, timer)
        if isinstance(outcome, WebError):
            return timed(JSONResponse({"error": outcome.message}, status_code=outcome.status,
                                      headers=headers(outcome)), timer)
        with timer.phase("render"):
            answer = JSONResponse(document(outcome))
        return timed(answer, timer)

    @app.get("/api/model")
    async def model_api() -> JSONResponse:
        info = predictor.info
        return JSONResponse({"name": info.name, "kind": info.kind, "file": info.path,
                             "primary": info.primary, "inputs": list(predictor.modalities),
                             "may_be_missing": sorted(predictor.optional),
                             "groups": list(predictor.meta.label_names),
                             "max_upload_bytes": max_upload_bytes})

    @app.get("/api/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def refuse(scope: Scope, status: int, message: str) -> ASGIApp:
        close = {"connection": "close"}
        if str(scope.get("path", "")).startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status, headers=close)
        answer = page(status, error=message)
        answer.headers.update(close)
        return answer

    app.add_middleware(UploadLimit, max_bytes=max_upload_bytes, respond=refuse)
    app.add_middleware(BodyDeadline, timeout=limits.body_timeout,
                       min_rate=limits.min_upload_rate, grace=limits.body_grace,
                       respond=refuse)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(SecurityHeaders)
    return app
