"""The local web app of ``mspectmol serve``: upload spectra, get the functional groups.

Routes
------
``GET /``
    The page: one file input per modality of the model, SMILES, NMR solvent, preprocessing.
``POST /predict``
    The form's target: the page again with the report (group table, shaded spectra, regions,
    molecule) and download links for the JSON and HTML reports, or with the error.
``POST /api/predict``
    The same multipart fields (``ir``, ``h_nmr``, ... files; ``smiles``, ``solvent``,
    ``no_baseline``, ``denoise``); answers :func:`~mspectmol.predict.report.prediction_dict`
    as JSON, or ``{"error": message}`` with status 400 (bad input), 413 (too large) or 500.
``GET /api/model``, ``GET /api/health``
    The model's inputs and labels; ``{"status": "ok"}``.

Uploads are read into memory (the request is at most ``max_upload_bytes``, enforced while
it streams in, :mod:`mspectmol.web.guard`), written to a private temporary folder for the
readers and deleted when the request ends. Bad files, bad SMILES and unknown solvents are
answered with the reader's message, naming the uploaded file; no error stops the server.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect

from mspectmol.errors import MspectmolError
from mspectmol.predict.common import model_modalities, plain_label
from mspectmol.spectra.modalities import MODALITIES, get_modality
from mspectmol.web.guard import (
    ASGIApp,
    Scope,
    SecurityHeaders,
    UploadLimit,
    UploadTooLarge,
)
from mspectmol.web.page import FormState, PageModel, PageResult, render_page

log = logging.getLogger("mspectmol.web")

#: Default limit on the size of one request (all its files together): 20 MB.
DEFAULT_MAX_UPLOAD_BYTES = 20 * 2**20
#: Text fields of the form and the API, besides one file field per modality.
TEXT_FIELDS = ("smiles", "solvent", "no_baseline", "denoise")
_TRUE = ("1", "on", "true", "yes")
_FALSE = ("", "0", "off", "false", "no")


class WebError(Exception):
    """A request the app answers with an error ``status`` and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    """One uploaded spectrum file: its modality, the name the browser gave, its bytes."""

    modality: str
    filename: str
    data: bytes


@dataclass
class PredictForm:
    """The fields of one prediction request."""

    uploads: dict[str, Upload] = field(default_factory=dict)
    state: FormState = field(default_factory=FormState)


@dataclass
class Outcome:
    """A finished prediction: the JSON document, the report body and the full report."""

    sample: str
    document: dict[str, Any]
    body: str
    html: str


def _flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise WebError(400, f"field {name!r} must be on/off (or true/false, 1/0), got {value!r}")


async def read_form(request: Request) -> PredictForm:
    """The uploads and fields of a multipart (or URL-encoded) request.

    Raises
    ------
    WebError
        400 for malformed bodies, unknown or repeated fields, empty files; 413 for bodies
        over the limit.
    """
    out = PredictForm()
    try:
        form = await request.form(max_files=len(MODALITIES), max_fields=2 * len(TEXT_FIELDS),
                                  max_part_size=64 * 1024)
    except UploadTooLarge as exc:
        raise WebError(413, str(exc)) from None
    except HTTPException as exc:
        raise WebError(400, f"could not read the upload: {exc.detail}") from None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                upload = await _upload(key, value)
                if upload is None:
                    continue
                if upload.modality in out.uploads:
                    raise WebError(400, f"two files for {modality_name(upload.modality)}")
                out.uploads[upload.modality] = upload
                out.state.files[upload.modality] = upload.filename
            elif key in TEXT_FIELDS:
                _text_field(out.state, key, value)
            elif key in MODALITIES:
                if value.strip():
                    raise WebError(400, f"field {key!r} must be a file upload, not text")
            else:
                raise WebError(400, f"unknown field {key!r}; the fields are "
                                    f"{', '.join((*MODALITIES, *TEXT_FIELDS))}")
    finally:
        await form.close()
    return out


def modality_name(modality: str) -> str:
    """``"the 1H NMR spectrum"`` for messages."""
    return f"the {plain_label(get_modality(modality).label)} spectrum"


def upload_label(filename: str, modality: str) -> str:
    """``"aspirin_ir.jdx (IR upload)"``: how messages name an uploaded file."""
    return f"{filename} ({plain_label(get_modality(modality).label)} upload)"


async def _upload(key: str, value: UploadFile) -> Upload | None:
    if key not in MODALITIES:
        raise WebError(400, f"unknown file field {key!r}; one file per modality: "
                            f"{', '.join(MODALITIES)}")
    name = Path((value.filename or "").replace("\\", "/")).name
    data = await value.read()
    if not data:
        if not name:
            return None  # a file input left empty in the browser
        raise WebError(400, f"{upload_label(name, key)}: the file is empty")
    return Upload(key, name or f"{key}-upload", data)


def _text_field(state: FormState, key: str, value: str) -> None:
    if key == "smiles":
        state.smiles = value.strip()
    elif key == "solvent":
        state.solvent = value.strip()
    else:
        setattr(state, key, _flag(key, value))


class Predictor:
    """The loaded model and what the app does with it (one prediction at a time)."""

    def __init__(self, model_path: str | os.PathLike[str] | None) -> None:
        from mspectmol.models.io import load_model
        from mspectmol.predict.pipeline import ModelInfo, missing_allowed
        from mspectmol.training.pipeline import find_model

        path = find_model(model_path)
        self.model, self.meta = load_model(path)
        self.info = ModelInfo.from_meta(path, self.meta)
        self.modalities = model_modalities(self.meta)
        self.optional = missing_allowed(self.meta)
        self._lock = threading.Lock()

    def page_model(self, max_upload_bytes: int) -> PageModel:
        """What the page shows about this model."""
        return PageModel(self.info.name, self.info.path, self.meta.primary, self.modalities,
                         sorted(self.optional), max_upload_bytes)

    def check(self, form: PredictForm) -> None:
        """Refuse a request without files or without the primary spectrum the model needs."""
        primary = self.meta.primary
        if not form.uploads:
            raise WebError(400, f"no spectrum file uploaded: choose at least "
                                f"{modality_name(primary)}")
        if primary not in form.uploads and primary not in self.optional:
            given = ", ".join(plain_label(get_modality(m).label) for m in form.uploads)
            raise WebError(400, f"the model needs {modality_name(primary)} (its primary "
                                f"input) and was not trained without it; uploaded: {given}")

    def predict(self, form: PredictForm) -> Outcome:
        """Read, prepare and predict the uploaded sample (see the module docstring)."""
        from mspectmol.predict.samples import SampleSpec, safe_name, split_file_name
        from mspectmol.spectra.pipeline import PrepareOptions
        from mspectmol.spectra.solvents import canonical_solvent

        self.check(form)
        state = form.state
        if state.solvent:
            try:
                canonical_solvent(state.solvent)
            except MspectmolError as exc:
                raise WebError(400, str(exc)) from None
        options = PrepareOptions(solvent=state.solvent or None,
                                  baseline=not state.no_baseline, denoise=state.denoise)
        first = form.uploads.get(self.meta.primary) or next(iter(form.uploads.values()))
        parsed = split_file_name(Path(first.filename))
        sample = (parsed[0] if parsed else Path(first.filename).stem)[:100] or "sample"
        with tempfile.TemporaryDirectory(prefix="mspectmol-web-") as tmp:
            files = {}
            for m, up in form.uploads.items():
                folder = Path(tmp) / m
                folder.mkdir()
                files[m] = folder / safe_name(up.filename)
                files[m].write_bytes(up.data)
            spec = SampleSpec(sample, files, state.smiles or None)
            try:
                return self._run(spec, form, options)
            except MspectmolError as exc:
                raise WebError(400, _public_message(str(exc), files, form, tmp)) from None

    def _run(self, spec: Any, form: PredictForm, options: Any) -> Outcome:
        from mspectmol.predict.pipeline import load_sample, predict_inputs
        from mspectmol.predict.report import (
            figure_png,
            prediction_dict,
            render_html,
            report_body,
        )

        inputs = load_sample(self.meta, spec, options)
        for m, prepared in inputs.prepared.items():
            prepared.source = form.uploads[m].filename
        inputs.ignored = {m: form.uploads[m].filename for m in inputs.ignored}
        with self._lock:
            pred = predict_inputs(self.model, self.meta, [inputs])[0]
        png = figure_png(pred, f"{self.info.name}: {pred.sample}")
        return Outcome(pred.sample, prediction_dict(pred, self.info),
                       report_body(pred, self.info, figure=png),
                       render_html(pred, self.info, figure=png))


def _public_message(message: str, files: dict[str, Path], form: PredictForm, tmp: str) -> str:
    """An error message with the temporary paths replaced by the uploaded files' names."""
    for m, path in files.items():
        message = message.replace(str(path), upload_label(form.uploads[m].filename, m))
    return message.replace(tmp + os.sep, "").replace(tmp, "upload")


def create_app(model_path: str | os.PathLike[str] | None = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, *,
               allowed_hosts: Sequence[str] | None = None) -> FastAPI:
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

    Raises
    ------
    MspectmolError
        When the model cannot be found or loaded, or the limit is below 1 KB.
    """
    from mspectmol.predict.samples import safe_name

    if max_upload_bytes < 1024:
        raise MspectmolError(f"the upload limit must be at least 1 KB, got {max_upload_bytes} "
                             "bytes")
    predictor = Predictor(model_path)
    page_model = predictor.page_model(max_upload_bytes)
    # No /docs or /redoc: FastAPI's documentation pages load scripts from a CDN.
    app = FastAPI(title="mspectmol", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.predictor = predictor

    def page(status: int = 200, **kwargs: Any) -> HTMLResponse:
        return HTMLResponse(render_page(page_model, **kwargs), status_code=status)

    def api_error(exc: WebError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def run(request: Request) -> tuple[PredictForm | None, Outcome | WebError]:
        form = None
        try:
            form = await read_form(request)
            return form, await run_in_threadpool(predictor.predict, form)
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

    @app.post("/predict", response_class=HTMLResponse)
    async def predict_page(request: Request) -> HTMLResponse:
        form, outcome = await run(request)
        state = form.state if form is not None else None
        if isinstance(outcome, WebError):
            return page(outcome.status, state=state, error=outcome.message)
        stem = safe_name(outcome.sample)
        downloads = {f"{stem}.json": ("application/json", (json.dumps(
            outcome.document, indent=2, allow_nan=False) + "\n").encode()),
                     f"{stem}.html": ("text/html;charset=utf-8", outcome.html.encode())}
        return page(state=state, result=PageResult(outcome.body, downloads))

    @app.post("/api/predict")
    async def predict_api(request: Request) -> JSONResponse:
        _, outcome = await run(request)
        if isinstance(outcome, WebError):
            return api_error(outcome)
        return JSONResponse(outcome.document)

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

    def too_large(scope: Scope, message: str) -> ASGIApp:
        if str(scope.get("path", "")).startswith("/api/"):
            return JSONResponse({"error": message}, status_code=413)
        return page(413, error=message)

    app.add_middleware(UploadLimit, max_bytes=max_upload_bytes, respond=too_large)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(SecurityHeaders)
    return app
