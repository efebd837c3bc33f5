"""The local web app of ``mspectmol serve`` (FastAPI; the ``web`` extra).

:func:`~mspectmol.web.app.create_app` builds the application: a self-contained upload page
and a JSON API around :mod:`mspectmol.predict` (:mod:`mspectmol.web.page` renders the page,
:mod:`mspectmol.web.forms` reads the requests, :mod:`mspectmol.web.predictor` runs the model,
:mod:`mspectmol.web.render` renders the answer with the report's SVG figure
(:mod:`mspectmol.predict.figure`), :mod:`mspectmol.web.sandbox` reads the uploaded files in a
limited child process that :mod:`mspectmol.web.children` starts ahead of time,
:mod:`mspectmol.web.guard` limits bodies and parallel requests and sets the security headers,
:mod:`mspectmol.web.timing` times each request's phases (``Server-Timing``),
:mod:`mspectmol.web.server` runs it under uvicorn with header deadlines). Importing this
package needs FastAPI and python-multipart; serving it needs uvicorn.
"""

from mspectmol.web.app import DEFAULT_MAX_UPLOAD_BYTES, WebLimits, create_app

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "WebLimits", "create_app"]
