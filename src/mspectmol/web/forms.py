"""The fields of a prediction request: uploads streamed to a private folder, text fields.

:func:`read_form` reads a multipart (or URL-encoded) request. The body's size and pace are
limited while it streams in (:mod:`mspectmol.web.guard`); each uploaded file is copied in
1 MB pieces to the request's private temporary folder, so no upload sits in the server's
memory as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from mspectmol.data.samples import safe_name
from mspectmol.predict.common import plain_label
from mspectmol.spectra.modalities import MODALITIES, get_modality
from mspectmol.web.guard import BodyRefused
from mspectmol.web.page import FormState

#: Text fields of the form and the API, besides one file field per modality (``ms``: a mass
#: spectrum, with its ion type, m/z tolerance in ppm and element limits).
TEXT_FIELDS = ("smiles", "solvent", "no_baseline", "denoise", "ms_adduct", "ms_ppm",
               "ms_elements")
_TRUE = ("1", "on", "true", "yes")
_FALSE = ("", "0", "off", "false", "no")
_CHUNK = 2**20


class WebError(Exception):
    """A request the app answers with an error ``status`` and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    """One uploaded spectrum file: its modality, the name the browser gave, where it was
    saved and its size in bytes."""

    modality: str
    filename: str
    path: Path
    size: int


@dataclass
class PredictForm:
    """The fields of one prediction request."""

    uploads: dict[str, Upload] = field(default_factory=dict)
    state: FormState = field(default_factory=FormState)

    @property
    def upload_bytes(self) -> int:
        """The size of all uploaded files together."""
        return sum(u.size for u in self.uploads.values())


def modality_name(modality: str) -> str:
    """``"the 1H NMR spectrum"`` for messages."""
    return f"the {plain_label(get_modality(modality).label)} spectrum"


def upload_label(filename: str, modality: str) -> str:
    """``"aspirin_ir.jdx (IR upload)"``: how messages name an uploaded file."""
    return f"{filename} ({plain_label(get_modality(modality).label)} upload)"


async def read_form(request: Request, folder: Path) -> PredictForm:
    """The uploads (saved under ``folder``, one subfolder per modality) and fields of a
    request.

    Raises
    ------
    WebError
        400 for malformed bodies, unknown or repeated fields, empty files; 413 for bodies
        over the limit; 408 for bodies that came in too slowly.
    """
    out = PredictForm()
    try:
        form = await request.form(max_files=len(MODALITIES), max_fields=2 * len(TEXT_FIELDS),
                                  max_part_size=64 * 1024)
    except BodyRefused as exc:
        raise WebError(exc.status, str(exc)) from None
    except HTTPException as exc:
        raise WebError(400, f"could not read the upload: {exc.detail}") from None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                upload = await _save(key, value, folder)
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


async def _save(key: str, value: UploadFile, folder: Path) -> Upload | None:
    if key not in MODALITIES:
        raise WebError(400, f"unknown file field {key!r}; one file per modality: "
                            f"{', '.join(MODALITIES)}")
    name = Path((value.filename or "").replace("\\", "/")).name
    target = folder / key
    target.mkdir(exist_ok=True)
    path = target / safe_name(name or f"{key}-upload")
    size = 0
    with open(path, "wb") as f:
        while chunk := await value.read(_CHUNK):
            f.write(chunk)
            size += len(chunk)
    if not size:
        path.unlink()
        if not name:
            return None  # a file input left empty in the browser
        raise WebError(400, f"{upload_label(name, key)}: the file is empty")
    return Upload(key, name or f"{key}-upload", path, size)


def _flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise WebError(400, f"field {name!r} must be on/off (or true/false, 1/0), got {value!r}")


def _text_field(state: FormState, key: str, value: str) -> None:
    if key in ("no_baseline", "denoise"):
        setattr(state, key, _flag(key, value))
    else:
        setattr(state, key, value.strip())
