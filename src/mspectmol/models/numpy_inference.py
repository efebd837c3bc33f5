"""Running a classifier without torch: the engine choice and PA-IB model files for NumPy.

``import torch`` alone takes 1.1-1.7 s on a 2-core machine, more than a one-sample prediction
needs in all. A PA-IB classifier (model name ``pa_ib``) can run on the ``"numpy"`` engine:
:func:`load_classifier` reads its ``model.json`` and ``model.safetensors`` with NumPy
(``safetensors.numpy``), with the checks of :func:`mspectmol.models.io.load_model` (format
and kind, required fields, the weights' size against ``model.json`` and the safetensors
header before reading, their SHA-256, every tensor present with its shape), and returns a
:class:`~mspectmol.models.numpy_pa_ib.NumpyPAIB`. Other models, or the ``"torch"`` engine,
go through :func:`~mspectmol.models.io.load_model`. ``"auto"`` (the default of
``mspectmol predict``) is NumPy where it can run the model, torch elsewhere.

:func:`blas_threads` limits NumPy's BLAS threads while the NumPy model runs: its matrix
products are small, and on a busy 2-core machine a second BLAS thread that spins while
waiting for a core made a one-sample prediction several times slower (as torch's
``--threads 1`` advice says for the torch engine).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.models.io import KIND, ModelMeta, load_model
from mspectmol.models.modelfile import ModelDocument, read_document, read_weights
from mspectmol.models.numpy_pa_ib import NumpyPAIB, architecture

#: Engines of :func:`load_classifier`.
ENGINES = ("auto", "numpy", "torch")
#: Model names the NumPy engine runs.
NUMPY_MODELS = ("pa_ib",)


def numpy_runs(meta: ModelMeta) -> bool:
    """Whether the NumPy engine can run the model ``meta`` describes."""
    return meta.model_name in NUMPY_MODELS and meta.family == "neural"


def check_engine(engine: str) -> str:
    """``engine`` if it is one of :data:`ENGINES`, else a :class:`MspectmolError`."""
    if engine not in ENGINES:
        raise MspectmolError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return engine


def load_numpy_pa_ib(path: str | os.PathLike[str]) -> tuple[NumpyPAIB, ModelMeta]:
    """Load a PA-IB classifier file for the NumPy engine (see the module docstring).

    Raises
    ------
    ModelFileError
        Naming the file, as :func:`~mspectmol.models.io.load_model` does, and for a model
        that is not PA-IB.
    """
    doc = read_document(path, KIND)
    return _numpy_model(doc, ModelMeta.from_document(doc))


def _numpy_model(doc: ModelDocument, meta: ModelMeta) -> tuple[NumpyPAIB, ModelMeta]:
    import safetensors.numpy

    if not numpy_runs(meta):
        raise ModelFileError(f"{doc.meta_path}: the NumPy engine runs {', '.join(NUMPY_MODELS)}"
                             f" models; this is {meta.model_name!r} ({meta.family}): use the "
                             "torch engine")
    try:
        architecture(meta.config)
    except MspectmolError as exc:
        raise ModelFileError(f"{doc.meta_path}: model {meta.model_name!r}: {exc}") from None
    data = read_weights(doc)
    try:
        arrays = safetensors.numpy.load(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelFileError(f"{doc.weights_path}: unreadable safetensors data ({exc})") \
            from None
    try:
        model = NumpyPAIB(meta.config, arrays)
    except MspectmolError as exc:
        raise ModelFileError(f"{doc.weights_path}: weights do not match the model config "
                             f"({exc})") from None
    return model, meta


def load_classifier(path: str | os.PathLike[str], engine: str = "auto"
                    ) -> tuple[Any, ModelMeta]:
    """A classifier for prediction: a :class:`NumpyPAIB` on the NumPy engine, else the torch
    (or classical) model of :func:`~mspectmol.models.io.load_model`.

    Parameters
    ----------
    path
        A model folder or file pair.
    engine
        ``"auto"``: NumPy for PA-IB models, torch for the others; ``"numpy"``: NumPy or an
        error; ``"torch"``: :func:`~mspectmol.models.io.load_model`.

    Raises
    ------
    ModelFileError
        As :func:`~mspectmol.models.io.load_model`; for ``"numpy"``, also for a model that
        is not PA-IB.
    """
    if check_engine(engine) != "torch":
        doc = read_document(path, KIND)
        meta = ModelMeta.from_document(doc)
        if engine == "numpy" or numpy_runs(meta):
            return _numpy_model(doc, meta)
    return load_model(path)


@contextlib.contextmanager
def blas_threads(n: int | None = 1) -> Iterator[None]:
    """Run with NumPy's BLAS limited to ``n`` threads (None: unchanged), restored afterwards
    (:mod:`threadpoolctl`)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n), user_api="blas"):
        yield
