"""Test spectra under the conditions of a robustness suite, and the metrics there.

:func:`apply_condition` perturbs a test :class:`~mspectmol.data.batches.SplitData` under a
:class:`~mspectmol.suites.conditions.Condition` (masks first, then shift, then noise):

- noise: :func:`mspectmol.spectra.augmentation.gaussian_noise` on every spectrum of every
  modality (:func:`add_noise`); rows without the modality stay zero;
- mask: the listed modalities zeroed and marked unavailable (:func:`mask_modalities`);
- shift: :func:`mspectmol.spectra.augmentation.horizontal_shift` per spectrum, edges
  continued flat (:func:`shift_spectra`).

:func:`evaluate_conditions` evaluates a trained model under each condition with the run's
stored calibration; the noise and shifts of a condition are drawn from a generator seeded by
the run's seed and the condition's name (:func:`condition_rng`), so a rerun gives the same
numbers. Perturbations never modify their input in place.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mspectmol.data.batches import SplitData, split_data
from mspectmol.errors import MspectmolError
from mspectmol.spectra.augmentation import gaussian_noise, horizontal_shift
from mspectmol.suites.conditions import Condition
from mspectmol.training.evaluate import evaluate_model

#: Metrics stored per condition (row field name: report key), at 0.5 and tuned thresholds.
CONDITION_METRICS = {"micro_f1": "micro_f1", "macro_f1": "macro_f1",
                     "exact_match": "subset_accuracy", "fgsim": "fgsim_mean"}


def condition_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of condition ``name`` for a run of ``seed`` (stable across processes)."""
    tag = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([int(seed), tag])


def add_noise(data: SplitData, sigma_fraction: float, rng: np.random.Generator
              ) -> SplitData:
    """A copy of ``data`` with Gaussian noise of ``sigma_fraction * max|y|`` on every row.

    Modalities are drawn in input order; unavailable rows stay zero.
    """
    return _perturbed(data, lambda x: gaussian_noise(x, rng, sigma_fraction))


def shift_spectra(data: SplitData, max_shift: int, rng: np.random.Generator) -> SplitData:
    """A copy of ``data`` with every spectrum shifted by up to ``max_shift`` points.

    Shifts are drawn per row, modality by modality in input order; unavailable rows stay
    zero.
    """
    return _perturbed(data, lambda x: horizontal_shift(x, rng, max_shift))


def _perturbed(data: SplitData, transform: Callable[[np.ndarray], np.ndarray]) -> SplitData:
    """A copy of ``data`` with ``transform`` applied to each modality's array in input order;
    unavailable rows stay zero."""
    spectra = {}
    for m, x in data.spectra.items():
        out = transform(x) if x.size else x.copy()
        out[~data.available[m]] = 0.0
        spectra[m] = out
    return SplitData(data.ids.copy(), data.labels.copy(), spectra,
                     {m: a.copy() for m, a in data.available.items()})


def mask_modalities(data: SplitData, modalities: Sequence[str]) -> SplitData:
    """A copy of ``data`` with ``modalities`` zeroed and marked unavailable in every row.

    Raises
    ------
    MspectmolError
        When a modality is not among the data's.
    """
    missing = [m for m in modalities if m not in data.spectra]
    if missing:
        raise MspectmolError(f"cannot mask {', '.join(missing)}: the data has "
                             f"{', '.join(data.modalities)}")
    spectra = {m: (np.zeros_like(x) if m in modalities else x.copy())
               for m, x in data.spectra.items()}
    available = {m: (np.zeros_like(a) if m in modalities else a.copy())
                 for m, a in data.available.items()}
    return SplitData(data.ids.copy(), data.labels.copy(), spectra, available)


def apply_condition(data: SplitData, condition: Condition, seed: int) -> SplitData:
    """``data`` under ``condition`` (masks first, then shift, then noise), a new object."""
    out = mask_modalities(data, condition.mask)
    if condition.shift:
        out = shift_spectra(out, condition.shift, condition_rng(seed, condition.name + ":shift"))
    if condition.noise:
        out = add_noise(out, condition.noise, condition_rng(seed, condition.name))
    return out


def report_metrics(test: Mapping[str, Any]) -> dict[str, float | None]:
    """Flat metrics (``micro_f1``, ..., ``micro_f1_tuned``, ...) of an evaluate_model dict."""
    out: dict[str, float | None] = {}
    for suffix, part in (("", "at_0.5"), ("_tuned", "tuned")):
        if part not in test:
            continue
        for name, key in CONDITION_METRICS.items():
            value = test[part][key]
            out[name + suffix] = (None if value is None or not math.isfinite(value)
                                  else float(value))
    return out


def evaluate_conditions(model: Any, test: SplitData, conditions: Sequence[Condition], *,
                        seed: int, thresholds: Sequence[float] | None,
                        temperature: float | None, names: Sequence[str],
                        batch_size: int = 256, clean: Mapping[str, Any] | None = None,
                        offsets: Sequence[float] | None = None
                        ) -> dict[str, dict[str, float | None]]:
    """Metrics of ``model`` on ``test`` under each applicable condition, by name.

    ``clean`` (the run's own test report, when given) is reused for unchanged conditions.
    Conditions masking a modality the data lacks are left out.
    """
    out = {}
    for c in conditions:
        if not c.applies_to(test.modalities):
            continue
        if c.is_clean and clean is not None:
            out[c.name] = report_metrics(clean)
            continue
        report = evaluate_model(model, apply_condition(test, c, seed),
                                thresholds=None if thresholds is None else
                                np.asarray(thresholds, dtype=float),
                                temperature=temperature,
                                offsets=None if offsets is None else np.asarray(offsets),
                                names=names, batch_size=batch_size)
        out[c.name] = report_metrics(report)
    return out


def evaluate_run(result: Any, dataset: Any, config: Any, conditions: Sequence[Condition]
                 ) -> dict[str, dict[str, float | None]]:
    """:func:`evaluate_conditions` for a finished ``run_training`` result (model in memory).

    The test split is rebuilt from ``dataset`` as the run made it.
    """
    test = split_data(dataset, config.modalities, config.split, "test", seed=config.seed)
    meta = result.meta
    return evaluate_conditions(result.train.model, test, conditions, seed=config.seed,
                               thresholds=meta.thresholds, temperature=meta.temperature,
                               offsets=meta.logit_offsets,
                               names=meta.label_names, batch_size=config.eval_batch_size,
                               clean=result.metrics.get("test"))
