"""The model behind the web app: check a request, read its files safely, predict.

The model is loaded once, when the app is built, by
:func:`~mspectmol.models.numpy_inference.load_classifier`: a PA-IB model runs on NumPy (as in
``mspectmol predict``; the server never imports torch for it), other models on torch. The
uploaded files are read and prepared in a limited child process
(:func:`mspectmol.web.sandbox.read_for_prediction`); only the prepared spectra (small arrays
on the model's grids) and the mass spectrum's formulas come back, and the model runs here,
one prediction at a time. A mass spectrum (the ``ms`` upload)
gives the molecular formulas of its ion and, with a SMILES, the explained MS/MS peaks
(:mod:`mspectmol.predict.mass`); with a mass spectrum but without the primary spectrum the
answer holds the formulas only. The answer is rendered only as the route needs it
(:mod:`mspectmol.web.render`).
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
from mspectmol.web.sandbox import ReadLimits, ReadRefused, plain_meta, read_for_prediction
from mspectmol.web.timing import Timer

#: How the notes of the formulas name the setting of the ion type.
ADDUCT_FIELD = "the MS ion type field"
#: Added to a refusal over the memory or time limit of a request with a mass spectrum.
MASS_HINT = ("; the formula search of a large ion costs the most: the MS elements field "
             "narrows it (e.g. CHNO)")


@dataclass
class Outcome:
    """A finished request: the sample's name, its ``Prediction`` (or ``MassOnly`` result:
    the formulas of a mass spectrum alone) and the model's ``ModelInfo``."""

    sample: str
    result: Any
    info: Any


class Predictor:
    """The loaded model and what the app does with it.

    Parameters
    ----------
    model_path
        A model folder or file, a run folder or a packaged model's name; None is the
        packaged default model.
    read_limits
        Memory and time that reading one request's files may take.
    threads
        Threads of the model's operations, for the whole process (a server process runs only
        the app): NumPy's BLAS threads on the NumPy engine, ``torch.set_num_threads``
        otherwise; None leaves the setting as it is.
    engine
        What runs the model (:data:`~mspectmol.models.numpy_inference.ENGINES`): ``"auto"``
        is NumPy for PA-IB models and torch for the others.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None,
                 read_limits: ReadLimits | None = None, threads: int | None = None,
                 engine: str = "auto") -> None:
        from mspectmol.models.inference import find_model
        from mspectmol.models.inputs import missing_allowed
        from mspectmol.models.numpy_inference import load_classifier
        from mspectmol.predict.pipeline import ModelInfo

        path = find_model(model_path)
        self.model, self.meta = load_classifier(path, engine)
        self.plain_meta = plain_meta(self.meta)
        self.info = ModelInfo.from_meta(path, self.meta)
        self.modalities = model_modalities(self.meta)
        self.optional = missing_allowed(self.meta)
        self.read_limits = read_limits or ReadLimits()
        self._lock = threading.Lock()
        if threads is not None:
            set_model_threads(self.model, max(1, int(threads)))

    def page_model(self, max_upload_bytes: int) -> PageModel:
        """What the page shows about this model."""
        return PageModel(self.info.name, self.info.path, self.meta.primary, self.modalities,
                         sorted(self.optional), max_upload_bytes)

    def check(self, form: PredictForm) -> None:
        """Refuse a request without files, or without the primary spectrum the model needs
        and without a mass spectrum (which alone gives the formulas)."""
        primary = self.meta.primary
        if not form.uploads:
            raise WebError(400, f"no spectrum file uploaded: choose at least "
                                f"{modality_name(primary)}")
        if primary not in form.uploads and primary not in self.optional \
                and "ms" not in form.uploads:
            given = ", ".join(plain_label(get_modality(m).label) for m in form.uploads)
            raise WebError(400, f"the model needs {modality_name(primary)} (its primary "
                                f"input) and was not trained without it; uploaded: {given}")

    def predict(self, form: PredictForm, timer: Timer | None = None) -> Outcome:
        """Read, prepare and predict the uploaded sample (files already on disk); ``timer``
        gets the phases (:mod:`mspectmol.web.timing`).

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
        try:
            if state.solvent:
                canonical_solvent(state.solvent)
            mass = mass_options(form)
        except MspectmolError as exc:
            raise WebError(400, str(exc)) from None
        options = PrepareOptions(solvent=state.solvent or None,
                                 baseline=not state.no_baseline, denoise=state.denoise)
        first = form.uploads.get(self.meta.primary) or next(iter(form.uploads.values()))
        parsed = split_file_name(Path(first.filename))
        sample = (parsed[0] if parsed else Path(first.filename).stem)[:100] or "sample"
        files = {m: up.path for m, up in form.uploads.items()}
        spec = SampleSpec(sample, files, state.smiles or None)
        timer = timer or Timer()
        try:
            inputs, report = read_for_prediction(self.plain_meta, spec, options, mass,
                                                 self.read_limits, timer.phases)
            return self._run(inputs, report, form, timer)
        except ReadRefused as exc:
            hint = MASS_HINT if "ms" in form.uploads else ""
            raise WebError(exc.status, public_message(str(exc), form) + hint) from None
        except MspectmolError as exc:
            raise WebError(400, public_message(str(exc), form)) from None

    def _run(self, inputs: Any, report: Any, form: PredictForm, timer: Timer) -> Outcome:
        from mspectmol.predict.pipeline import MassOnly, predict_inputs

        if report is not None:
            report.rename(form.uploads["ms"].filename)
        if isinstance(inputs, MassOnly):
            return Outcome(inputs.sample, inputs, self.info)
        for m, prepared in inputs.prepared.items():
            prepared.source = form.uploads[m].filename
        inputs.ignored = {m: form.uploads[m].filename for m in inputs.ignored}
        with self._lock, timer.phase("predict"):
            pred = predict_inputs(self.model, self.meta, [inputs])[0]
        pred.mass = report
        return Outcome(pred.sample, pred, self.info)


def set_model_threads(model: Any, threads: int) -> None:
    """Set the threads of ``model``'s engine for the rest of the process: BLAS threads for a
    :class:`~mspectmol.models.numpy_pa_ib.NumpyPAIB` (:mod:`threadpoolctl`, not restored),
    torch's otherwise."""
    from mspectmol.models.numpy_pa_ib import NumpyPAIB

    if isinstance(model, NumpyPAIB):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        return
    import torch

    torch.set_num_threads(threads)


def mass_options(form: PredictForm) -> Any:
    """The :class:`~mspectmol.predict.mass.MassOptions` of the form's MS fields (None
    without a mass spectrum).

    Raises
    ------
    MspectmolError
        An unknown ion type or elements, a tolerance that is not a positive number.
    """
    if "ms" not in form.uploads:
        return None
    from mspectmol.predict.mass import MassOptions, parse_ms_elements

    state = form.state
    try:
        ppm = float(state.ms_ppm) if state.ms_ppm else 5.0
    except ValueError:
        raise MspectmolError(f"MS tolerance {state.ms_ppm!r}: not a number of ppm") from None
    if not 0 < ppm <= 1000:
        raise MspectmolError(f"MS tolerance {state.ms_ppm!r}: give 0 to 1000 ppm")
    options = MassOptions(adduct=state.ms_adduct or None, ppm=ppm,
                          elements=parse_ms_elements(state.ms_elements, "MS elements"),
                          adduct_option=ADDUCT_FIELD)
    options.check()
    return options


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
