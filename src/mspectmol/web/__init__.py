"""The local web app of ``mspectmol serve`` (FastAPI; the ``web`` extra).

:func:`~mspectmol.web.app.create_app` builds the application: a self-contained upload page
and a JSON API around :mod:`mspectmol.predict` (:mod:`mspectmol.web.page` renders the page,
:mod:`mspectmol.web.guard` limits uploads and sets the security headers). Importing this
package needs FastAPI and python-multipart; serving it needs uvicorn.
"""

from mspectmol.web.app import DEFAULT_MAX_UPLOAD_BYTES, create_app

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "create_app"]
