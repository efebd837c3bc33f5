"""The model behind the web app: check a request, read its files safely, predict, report.

The uploaded files are read and prepared in a limited child process
(:func:`mspectmol.web.sandbox.read_sample`); only the prepared spectra (small arrays on the
model's grids) come back, and the model runs here, one prediction at a time.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mspectmol.errors import MspectmolError
from mspectmol.models.inference import model_modalities
from mspectmol.predict.common import plain_label
from mspectmol.spectra.modalities import get_modality
from mspectmol.web.forms import PredictForm, WebError, modality_name, upload_label
from mspectmol.web.page import PageModel
from mspectmol.web.sandbox import ReadLimits, ReadRefused, plain_meta, read_sample


@dataclass
class Outcome:
    """A finished prediction: the JSON document, the report body and the full report."""

    sample: str
    document: dict[str, Any]
    body: str
    html: str


class Predictor:
    """The loaded model and what the app does with it.

    Parameters
    ----------
    model_path
        A model folder or file, a run folder or a packaged model's name; None is the
        packaged default model.
    read_limits
        Memory and time that reading one request's files may take.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None,
                 read_limits: ReadLimits | None = None) -> None:
        from mspectmol.models.inference import find_model
        from mspectmol.models.inputs import missing_allowed
        from mspectmol.models.io import load_model
        from mspectmol.predict.pipeline import ModelInfo

        path = find_model(model_path)
        self.model, self.meta = load_model(path)
        self.plain_meta = plain_meta(self.meta)
        self.info = ModelInfo.from_meta(path, self.meta)
        self.modalities = model_modalities(self.meta)
        self.optional = missing_allowed(self.meta)
        self.read_limits = read_limits or ReadLimits()
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
        """Read, prepare and predict the uploaded sample (files already on disk).

        Raises
        ------
        WebError
            400 for bad files, SMILES or solvents (the reader's message, naming the
            upload); 422 when reading went over the memory or time limit.
        """
        from mspectmol.data.samples import SampleSpec, split_file_name
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
        files = {m: up.path for m, up in form.uploads.items()}
        spec = SampleSpec(sample, files, state.smiles or None)
        try:
            inputs = read_sample(self.plain_meta, spec, options, self.read_limits)
            return self._run(inputs, form)
        except ReadRefused as exc:
            raise WebError(exc.status, public_message(str(exc), form)) from None
        except MspectmolError as exc:
            raise WebError(400, public_message(str(exc), form)) from None

    def _run(self, inputs: Any, form: PredictForm) -> Outcome:
        from mspectmol.predict.pipeline import predict_inputs
        from mspectmol.predict.report import (
            figure_png,
            prediction_dict,
            render_html,
            report_body,
        )

        for m, prepared in inputs.prepared.items():
            prepared.source = form.uploads[m].filename
        inputs.ignored = {m: form.uploads[m].filename for m in inputs.ignored}
        with self._lock:
            pred = predict_inputs(self.model, self.meta, [inputs])[0]
        png = figure_png(pred, f"{self.info.name}: {pred.sample}")
        return Outcome(pred.sample, prediction_dict(pred, self.info),
                       report_body(pred, self.info, figure=png),
                       render_html(pred, self.info, figure=png))


def public_message(message: str, form: PredictForm) -> str:
    """An error message with the saved files' paths replaced by the uploaded files' names
    (and no other trace of the temporary folder)."""
    folders = set()
    for m, up in form.uploads.items():
        message = message.replace(str(up.path), upload_label(up.filename, m))
        folders.add(str(up.path.parent.parent))
    for tmp in folders:
        message = message.replace(tmp + os.sep, "").replace(tmp, "upload")
    return message
