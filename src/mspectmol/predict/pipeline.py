"""Prediction from measured spectrum files: files -> arrays -> probabilities -> results.

:func:`~mspectmol.models.inputs.load_sample` reads a sample's files and prepares each spectrum
for the model (:func:`~mspectmol.spectra.pipeline.prepare`);
:func:`predict_inputs` runs the model on a batch of samples and returns one
:class:`Prediction` each: calibrated probabilities (the model's temperature), calls at the
model's tuned thresholds (0.5 without), and for neural models the spectral regions behind
each call (gate importance x |gradient x input| for PA-IB models, gradient x input alone for
models without gates; :mod:`mspectmol.explain.importance`). :func:`predict_samples` streams
any number of samples in batches and reports unreadable samples instead of stopping.

Mass spectra
------------
Given :class:`~mspectmol.predict.mass.MassOptions`, a sample's mass spectrum (``ms`` file)
also gives the formulas of its ion and, with a SMILES, the peaks the structure explains
(:func:`~mspectmol.predict.mass.mass_report`, in ``Prediction.mass``). A sample with a mass
spectrum but without the primary spectrum its model needs is not refused: it yields a
:class:`MassOnly` result (the formulas, and why the groups were not predicted).

Missing spectra
---------------
A modality the model uses but the sample lacks is passed as unavailable (zeros and a False
availability mask), the way PA-IB models handle a missing auxiliary spectrum. The primary
spectrum is required unless the model was trained to do without it: the training record of
the model file (``ModelMeta.training["missing_modalities"]``, a list of modality names
dropped during training) must name it. ``mspectmol train --modality-dropout`` writes that
entry for the auxiliary modalities only, so today every model needs its primary spectrum.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mspectmol.data.samples import SampleSpec
from mspectmol.errors import MspectmolError
from mspectmol.models.inference import model_grid, model_modalities, model_thresholds
from mspectmol.models.inputs import SampleInputs, load_sample, missing_allowed
from mspectmol.predict.common import plain_label
from mspectmol.spectra.modalities import get_modality
from mspectmol.spectra.pipeline import PrepareOptions

if TYPE_CHECKING:
    from mspectmol.predict.mass import MassOptions, MassReport

log = logging.getLogger("mspectmol.predict")

#: Spectral regions reported per modality and call.
N_REGIONS = 3


@dataclass(frozen=True)
class ModelInfo:
    """What a report says about the model: file, name, versions, calibration."""

    path: str
    name: str
    kind: str
    primary: str
    auxiliary: tuple[str, ...]
    mspectmol_version: str | None
    format_version: int
    created: str
    content_hash: str
    temperature: float | None
    tuned_thresholds: bool
    missing_allowed: tuple[str, ...]
    prior_correction: float | None = None
    primary_head_alone: bool = False

    @classmethod
    def from_meta(cls, path: str | Path, meta: Any) -> ModelInfo:
        """Describe a loaded model's :class:`~mspectmol.models.io.ModelMeta`."""
        from mspectmol.models.io import FORMAT_VERSION

        return cls(str(path), meta.model_name, meta.family, meta.primary, tuple(meta.auxiliary),
                   meta.versions.get("mspectmol"), FORMAT_VERSION, meta.created,
                   meta.content_hash, meta.temperature, meta.thresholds is not None,
                   tuple(sorted(missing_allowed(meta))),
                   (float(meta.training.get("prior_correction", 1.0))
                    if meta.logit_offsets is not None else None),
                   bool(meta.config.get("primary_head_alone", False)) and bool(meta.auxiliary))

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` object of the JSON reports."""
        return {"file": self.path, "name": self.name, "kind": self.kind,
                "primary": self.primary, "auxiliary": list(self.auxiliary),
                "mspectmol_version": self.mspectmol_version,
                "format_version": self.format_version, "created": self.created,
                "sha256": self.content_hash, "temperature": self.temperature,
                "prior_correction": self.prior_correction,
                "primary_head_alone": self.primary_head_alone,
                "thresholds": "tuned per group" if self.tuned_thresholds else "0.5",
                "may_be_missing": list(self.missing_allowed)}


@dataclass
class Prediction:
    """The model's answer for one sample.

    ``call_regions`` maps each called group to ``{modality: [(lo, hi, weight)]}``;
    ``gate_maps`` holds the gate importance of the used spectra (PA-IB models) and
    ``attribution`` names how the regions were found (None: a classical model, no regions).
    """

    sample: str
    label_names: tuple[str, ...]
    probabilities: np.ndarray
    thresholds: np.ndarray
    inputs: SampleInputs
    grids: dict[str, np.ndarray]
    gate_maps: dict[str, np.ndarray] | None = None
    gate_regions: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    call_regions: dict[str, dict[str, list[tuple[float, float, float]]]] = field(
        default_factory=dict)
    attribution: str | None = None
    ood: dict[str, Any] | None = None
    mass: MassReport | None = None

    @property
    def warnings(self) -> list[str]:
        """The input warnings and, when flagged, the out-of-distribution one."""
        out = list(self.inputs.warnings)
        if self.ood is not None and self.ood["flagged"]:
            out.append(f"the spectra are unlike the model's training data (out-of-distribution "
                       f"score {self.ood['score']:.2f} above {self.ood['threshold']:.2f}, "
                       "flagged for about 5% of in-domain spectra): treat the calls with "
                       "caution")
        return out

    @property
    def calls(self) -> list[int]:
        """Indices of the confident calls (probability >= threshold), most probable first."""
        order = np.argsort(-self.probabilities, kind="stable")
        return [int(i) for i in order if self.probabilities[i] >= self.thresholds[i]]

    @property
    def smiles(self) -> str | None:
        """The sample's SMILES, when given."""
        return self.inputs.smiles


@dataclass
class SampleFailure:
    """A sample that could not be predicted and why (the message names the file)."""

    sample: str
    error: str


@dataclass
class MassOnly:
    """A sample with a mass spectrum but without the primary spectrum the model needs: the
    formulas (and explained peaks) of its mass spectrum, and why no groups were predicted
    (``reason``, a sentence without the leading "functional groups not predicted")."""

    sample: str
    mass: MassReport
    reason: str

    @property
    def smiles(self) -> str | None:
        """The sample's SMILES, when given."""
        return self.mass.smiles


def lacks_primary(meta: Any, spec: SampleSpec) -> bool:
    """Whether the sample lacks the primary spectrum that the model needs."""
    return meta.primary not in spec.files and meta.primary not in missing_allowed(meta)


def load_for_prediction(meta: Any, spec: SampleSpec, options: PrepareOptions | None = None,
                        mass: MassOptions | None = None
                        ) -> tuple[SampleInputs | MassOnly, MassReport | None]:
    """A sample's model inputs and its mass report (None without ``mass`` or an ``ms`` file);
    a :class:`MassOnly` instead of the inputs when the sample has a mass spectrum but lacks
    the primary spectrum (see the module docstring).

    Raises
    ------
    MspectmolError
        As :func:`~mspectmol.models.inputs.load_sample`, and for an unreadable mass spectrum.
    """
    has_ms = mass is not None and "ms" in spec.files
    if has_ms:  # the formula code loads pyteomics (and pandas): only for a mass spectrum
        from mspectmol.predict.mass import mass_report
    if has_ms and lacks_primary(meta, spec):
        if spec.smiles is not None:
            from mspectmol.chem.molecules import mol_from_smiles  # RDKit: only for a SMILES

            mol_from_smiles(spec.smiles, source=f"sample {spec.name!r}")
        report = mass_report(spec.files["ms"], spec.smiles, mass)
        label = plain_label(get_modality(meta.primary).label)
        reason = (f"the model needs its primary {label} spectrum and was not trained without "
                  "it; the mass spectrum gives the molecular formula only")
        return MassOnly(spec.name, report, reason), report
    inputs = load_sample(meta, spec, options)
    if not has_ms:
        return inputs, None
    inputs.ignored.pop("ms", None)
    return inputs, mass_report(spec.files["ms"], spec.smiles, mass)


def _regions(maps: dict[str, np.ndarray], row: int, grids: dict[str, np.ndarray],
             used: Sequence[str], k: int) -> dict[str, list[tuple[float, float, float]]]:
    from mspectmol.explain.importance import top_regions

    return {m: [(float(a), float(b), float(w)) for a, b, w in
                top_regions(maps[m][row], grids[m], k)] for m in used}


def _call_regions(model: Any, batch: dict[str, np.ndarray], avail: dict[str, np.ndarray],
                  preds: list[Prediction], gate_maps: dict[str, np.ndarray] | None,
                  k: int, chunk: int = 256) -> None:
    """Fill ``call_regions``: every (sample, called group) pair explained in one backward
    pass per ``chunk`` pairs (each pair a copy of its sample's row)."""
    from mspectmol.explain.importance import group_attribution

    pairs = [(i, g) for i, p in enumerate(preds) for g in p.calls]
    for start in range(0, len(pairs), chunk):
        part = pairs[start:start + chunk]
        rows = np.array([i for i, _ in part])
        attr = group_attribution(model, {m: x[rows] for m, x in batch.items()},
                                 [g for _, g in part], {m: a[rows] for m, a in avail.items()},
                                 None if gate_maps is None
                                 else {m: v[rows] for m, v in gate_maps.items()})
        for j, (i, g) in enumerate(part):
            p = preds[i]
            p.call_regions[p.label_names[g]] = _regions(attr, j, p.grids, p.inputs.used, k)


def _ood(model: Any, meta: Any, batch: dict[str, np.ndarray], avail: dict[str, np.ndarray],
         batch_size: int, fused: np.ndarray | None) -> list[dict[str, Any]] | None:
    """The out-of-distribution report of each row, or None for a model file without one.
    ``fused``: the representation when the forward pass gave it (NumPy models), else it is
    captured from the torch model."""
    if not getattr(meta, "ood", None):
        return None
    from mspectmol.models.ood import ood_report, ood_scores, representations

    reps = fused if fused is not None else representations(model, batch, avail, batch_size)
    return ood_report(ood_scores(reps, meta.ood), meta.ood)


def predict_inputs(model: Any, meta: Any, inputs: Sequence[SampleInputs], *,
                   regions: int = N_REGIONS, batch_size: int = 256) -> list[Prediction]:
    """Predictions for prepared samples (one model batch; see the module docstring)."""
    from mspectmol.explain.importance import importance_from_gates, run_with_gates
    from mspectmol.models.inference import is_neural, predict_logits, probabilities

    if not inputs:
        return []
    modalities = model_modalities(meta)
    grids = {m: model_grid(meta, m) for m in modalities}
    batch = {m: np.stack([s.spectra[m] for s in inputs]) for m in modalities}
    avail = {m: np.array([s.available[m] for s in inputs]) for m in modalities}
    names = tuple(meta.label_names)
    thresholds = model_thresholds(meta)
    gate_maps = attribution = ood = None
    if is_neural(model):
        gated = run_with_gates(model, batch, avail, batch_size=batch_size)
        prob = probabilities(gated.logits, meta.temperature, meta.logit_offsets)
        ood = _ood(model, meta, batch, avail, batch_size, gated.fused)
        if gated.gate_probs is not None:
            gate_maps = importance_from_gates(gated, {m: g.size for m, g in grids.items()})
            attribution = "gate importance x |gradient x input|"
        else:
            attribution = "|gradient x input|"
    else:
        from mspectmol.data.batches import SplitData

        split = SplitData(np.array([s.name for s in inputs]),
                          np.zeros((len(inputs), len(names)), dtype=np.float32), batch, avail)
        prob = probabilities(predict_logits(model, split, batch_size), meta.temperature,
                             meta.logit_offsets)
    preds = []
    for i, s in enumerate(inputs):
        p = Prediction(s.name, names, prob[i], thresholds, s, grids, attribution=attribution,
                       ood=ood[i] if ood is not None else None)
        if gate_maps is not None:
            p.gate_maps = {m: gate_maps[m][i] for m in s.used}
            p.gate_regions = _regions(gate_maps, i, grids, s.used, regions)
        preds.append(p)
    if attribution is not None:
        _call_regions(model, batch, avail, preds, gate_maps, regions)
    return preds


def _chunks(items: Iterable[SampleSpec], size: int) -> Iterator[list[SampleSpec]]:
    chunk: list[SampleSpec] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def predict_samples(model: Any, meta: Any, samples: Iterable[SampleSpec], *,
                    options: PrepareOptions | None = None, batch_size: int = 256,
                    regions: int = N_REGIONS,
                    progress: Callable[[int], None] | None = None,
                    mass: MassOptions | None = None
                    ) -> Iterator[Prediction | MassOnly | SampleFailure]:
    """Predict any number of samples, ``batch_size`` at a time, in the given order.

    A sample whose files cannot be read or prepared yields a :class:`SampleFailure` with
    the error message; the others are predicted. With ``mass``, mass spectra give formulas
    (see the module docstring). ``progress(n)`` is called after each batch with the number
    of samples it held.
    """
    if batch_size < 1:
        raise MspectmolError(f"the batch size must be at least 1, got {batch_size}")
    for chunk in _chunks(samples, batch_size):
        loaded: list[SampleInputs] = []
        reports: list[MassReport | None] = []
        results: list[Prediction | MassOnly | SampleFailure | None] = []
        for spec in chunk:
            try:
                inputs, report = load_for_prediction(meta, spec, options, mass)
            except MspectmolError as exc:
                results.append(SampleFailure(spec.name, str(exc)))
                continue
            if isinstance(inputs, MassOnly):
                results.append(inputs)
                continue
            loaded.append(inputs)
            reports.append(report)
            results.append(None)
        preds = predict_inputs(model, meta, loaded, regions=regions, batch_size=batch_size)
        for pred, report in zip(preds, reports, strict=True):
            pred.mass = report
        done = iter(preds)
        yield from (r if r is not None else next(done) for r in results)
        if progress is not None:
            progress(len(chunk))
