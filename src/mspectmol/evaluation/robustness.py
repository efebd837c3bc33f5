"""Test-time conditions of the robustness suites: noisy and missing spectra (Tables 13, 14).

A :class:`Condition` perturbs a test :class:`~mspectmol.data.batches.SplitData`:

- ``noise``: Gaussian noise with ``sigma = noise * max|y|`` of each spectrum added to every
  spectrum of every modality (:func:`mspectmol.spectra.augmentation.gaussian_noise`; the
  paper's appendix R). Rows without the modality stay zero.
- ``mask``: the listed modalities hidden, i.e. zeroed and marked unavailable, as for a
  sample without those spectra (the paper's appendix J).
- ``shift``: every spectrum of every modality shifted by a whole number of points drawn
  uniformly from ``[-shift, shift]`` per spectrum
  (:func:`mspectmol.spectra.augmentation.horizontal_shift`, edges continued flat): the
  calibration drift that appendix Q's shift augmentation is meant to absorb.

A benchmark suite names its conditions in JSON as ``"conditions": {name: spec}`` with a spec
``{}`` (unchanged), ``{"noise": 0.05}``, ``{"mask": ["c_nmr"]}``, ``{"shift": 5}`` or
several keys (applied as masks, then shift, then noise).
:func:`evaluate_conditions` evaluates a trained model under each condition with the run's
stored calibration; the noise of a condition is drawn from a generator seeded by the run's
seed and the condition's name (:func:`condition_rng`), so a rerun gives the same numbers.

Perturbations never modify their input in place.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.spectra.augmentation import gaussian_noise, horizontal_shift
from mspectmol.spectra.modalities import get_modality

if TYPE_CHECKING:
    from mspectmol.data.batches import SplitData

#: Metrics stored per condition (row field name: report key), at 0.5 and tuned thresholds.
CONDITION_METRICS = {"micro_f1": "micro_f1", "macro_f1": "macro_f1",
                     "exact_match": "subset_accuracy", "fgsim": "fgsim_mean"}
_SPEC_KEYS = ("noise", "mask", "shift")


@dataclass(frozen=True)
class Condition:
    """A named test-time condition: noise level (fraction of each row's max), masks and
    the largest random shift in points."""

    name: str
    noise: float = 0.0
    mask: tuple[str, ...] = ()
    shift: int = 0

    @property
    def is_clean(self) -> bool:
        """True when the condition leaves the data unchanged."""
        return self.noise == 0.0 and not self.mask and not self.shift

    def title(self) -> str:
        """Table text: ``unperturbed``, ``σ = 0.05 × max``, ``without 13C-NMR`` or both."""
        from mspectmol.evaluation.suites import MODALITY_TEXT

        parts = []
        if self.noise:
            level = f"{self.noise:.2f}" if round(self.noise, 2) == self.noise else f"{self.noise:g}"
            parts.append(f"σ = {level} × max")
        if self.mask:
            parts.append("without " + ", ".join(MODALITY_TEXT.get(m, m) for m in self.mask))
        if self.shift:
            parts.append(f"shift ≤ {self.shift} points")
        return "; ".join(parts) if parts else "unperturbed"

    def to_dict(self) -> dict[str, Any]:
        """The JSON spec (what :meth:`from_spec` reads)."""
        out: dict[str, Any] = {}
        if self.noise:
            out["noise"] = self.noise
        if self.mask:
            out["mask"] = list(self.mask)
        if self.shift:
            out["shift"] = self.shift
        return out

    def applies_to(self, modalities: Sequence[str]) -> bool:
        """True when every masked modality is among ``modalities``."""
        return set(self.mask) <= set(modalities)

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any], source: str = "suite"
                  ) -> Condition:
        """A condition from its JSON spec; errors name ``source`` and the condition."""
        where = f"{source}: condition {name!r}"
        if not isinstance(spec, Mapping) or set(spec) - set(_SPEC_KEYS):
            raise ConfigError(f"{where}: expected an object with keys among "
                              f"{', '.join(_SPEC_KEYS)}, got {spec!r}")
        noise = spec.get("noise", 0.0)
        if (isinstance(noise, bool) or not isinstance(noise, (int, float))
                or not math.isfinite(noise) or noise < 0):
            raise ConfigError(f"{where}: noise must be a number >= 0, got {noise!r}")
        mask = spec.get("mask", ())
        mask = [mask] if isinstance(mask, str) else mask
        try:
            names = tuple(get_modality(m).name for m in mask)
        except (TypeError, MspectmolError) as exc:
            raise ConfigError(f"{where}: bad mask ({exc})") from None
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: mask lists a modality twice")
        shift = spec.get("shift", 0)
        if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
            raise ConfigError(f"{where}: shift must be a whole number of points >= 0, got "
                              f"{shift!r}")
        return cls(str(name), float(noise), names, int(shift))


def parse_conditions(data: Mapping[str, Any] | None, source: str = "suite"
                     ) -> tuple[Condition, ...]:
    """The conditions of a suite's ``"conditions"`` object, in its order."""
    if not data:
        return ()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: conditions must be an object name -> spec")
    return tuple(Condition.from_spec(str(k), v, source) for k, v in data.items())


def condition_value(row: Mapping[str, Any], condition: str, metric: str) -> Any:
    """``metric`` of a result row under ``condition`` (its own metric when ``condition`` is
    empty); None when the row has no such value."""
    if not condition:
        return row.get(metric)
    conditions = row.get("conditions")
    found = conditions.get(condition) if isinstance(conditions, Mapping) else None
    return found.get(metric) if isinstance(found, Mapping) else None


def flat_conditions(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's condition metrics as ``{"<condition>:<metric>": value}`` (CSV columns)."""
    conditions = row.get("conditions")
    if not isinstance(conditions, Mapping):
        return {}
    return {f"{name}:{metric}": value for name, metrics in conditions.items()
            if isinstance(metrics, Mapping) for metric, value in metrics.items()}


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
    from mspectmol.data.batches import SplitData

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
    from mspectmol.data.batches import SplitData

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
                        batch_size: int = 256, clean: Mapping[str, Any] | None = None
                        ) -> dict[str, dict[str, float | None]]:
    """Metrics of ``model`` on ``test`` under each applicable condition, by name.

    ``clean`` (the run's own test report, when given) is reused for unchanged conditions.
    Conditions masking a modality the data lacks are left out.
    """
    from mspectmol.training.evaluate import evaluate_model

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
                                temperature=temperature, names=names, batch_size=batch_size)
        out[c.name] = report_metrics(report)
    return out


def evaluate_run(result: Any, dataset: Any, config: Any, conditions: Sequence[Condition]
                 ) -> dict[str, dict[str, float | None]]:
    """:func:`evaluate_conditions` for a finished ``run_training`` result (model in memory).

    The test split is rebuilt from ``dataset`` as the run made it.
    """
    from mspectmol.data.batches import split_data

    test = split_data(dataset, config.modalities, config.split, "test", seed=config.seed)
    meta = result.meta
    return evaluate_conditions(result.train.model, test, conditions, seed=config.seed,
                               thresholds=meta.thresholds, temperature=meta.temperature,
                               names=meta.label_names, batch_size=config.eval_batch_size,
                               clean=result.metrics.get("test"))
