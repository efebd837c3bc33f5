"""Classical baselines: logistic regression and the label-prevalence predictor.

The XGBoost baseline, built on the same pieces, lives in :mod:`mspectmol.models.baselines_xgboost`.

All classical baselines take the spectra of the configured modalities concatenated end to end (``K x
n_points`` raw features per molecule, as in the XGBoost baseline of the Alberts et al.
multimodal benchmark) and predict the ``n_labels`` functional groups independently:

``"xgboost"`` (:class:`XGBoostBaseline`)
    One multi-target XGBoost booster (``binary:logistic``, ``hist`` trees, one tree per label
    per round) over the labels that have both classes in training; ``n_estimators`` rounds,
    with early stopping on the validation split when one is given; ``n_jobs`` threads.
``"logistic"`` (:class:`LogisticBaseline`)
    L2-regularised logistic regression on standardised features, one weight vector per label,
    fitted full-batch with L-BFGS (strong-Wolfe line search) in torch: scikit-learn is not a
    run-time dependency. The objective of label ``l`` is ``mean_i BCE + l2/2 * ||w_l||^2``
    (bias not penalised).
``"prevalence"`` (:class:`PrevalenceBaseline`)
    Predicts every label's training prevalence for every molecule: the floor any model must
    beat (its micro-F1 at threshold 0.5 is that of predicting the majority class).

A label with a single class in training is predicted at its constant prevalence (0 or 1) by
every model. Missing spectra must be given as zeros (as the neural models see them); input
arrays must be finite. Fitted models serialise with ``to_state() -> (meta, arrays)``, a
JSON-ready dict and ``{name: ndarray}`` (the XGBoost booster as its JSON bytes in a uint8
array), and load with ``from_state(meta, arrays)``: no pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mspectmol.errors import ModelFileError, MspectmolError, SpectrumError
from mspectmol.models.fusion import ConfigDictMixin, canonical_modalities, check_positive
from mspectmol.models.registry import register_model
from mspectmol.spectra.modalities import get_modality

#: Floor of a feature's standard deviation when standardising.
MIN_SCALE = 1e-6


@dataclass
class PrevalenceConfig(ConfigDictMixin):
    """Settings of :class:`PrevalenceBaseline`: the inputs it expects."""

    modalities: tuple[str, ...] = ("ir", "h_nmr", "c_nmr")
    n_points: int = 600
    n_labels: int = 37

    def __post_init__(self) -> None:
        owner = type(self).__name__
        self.modalities = canonical_modalities(self.modalities, owner)
        check_positive(owner, n_points=self.n_points, n_labels=self.n_labels)


@dataclass
class LogisticConfig(PrevalenceConfig):
    """Settings of :class:`LogisticBaseline`.

    Attributes
    ----------
    l2
        L2 penalty on the weights (per label, against the mean cross-entropy).
    max_iter
        L-BFGS iterations.
    tolerance
        Stop when the largest gradient element falls below it.
    n_jobs
        torch threads during the fit (None: leave torch's setting).
    """

    l2: float = 1e-3
    max_iter: int = 200
    tolerance: float = 1e-6
    n_jobs: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("LogisticConfig", max_iter=self.max_iter, tolerance=self.tolerance,
                       n_jobs=1 if self.n_jobs is None else self.n_jobs)
        if not self.l2 >= 0:
            raise MspectmolError(f"LogisticConfig.l2 must be >= 0, got {self.l2!r}")


def stack_features(X: Mapping[str, Any], config: PrevalenceConfig, what: str = "X"
                   ) -> np.ndarray:
    """The configured modalities' spectra concatenated: ``(n, K * n_points)`` float32.

    Raises
    ------
    SpectrumError
        When a modality is missing, an array has the wrong shape, is not numeric or holds
        NaN/inf, or the modalities have different numbers of rows.
    """
    if not isinstance(X, Mapping):
        raise SpectrumError(f"{what} must be a mapping {{modality: (n, n_points) array}}, "
                            f"got {type(X).__name__}")
    given = {get_modality(k).name: v for k, v in X.items()}
    parts, rows = [], set()
    for name in config.modalities:
        if name not in given:
            raise SpectrumError(f"{what} has no {name!r} spectra (needed: "
                                f"{', '.join(config.modalities)}); pass missing spectra as zeros")
        try:
            a = np.asarray(given[name], dtype=np.float32)
        except (TypeError, ValueError):
            raise SpectrumError(f"{what}[{name!r}] is not a numeric array") from None
        if a.ndim != 2 or a.shape[1] != config.n_points:
            raise SpectrumError(f"{what}[{name!r}] must have shape (n, {config.n_points}), "
                                f"got {a.shape}")
        if not np.isfinite(a).all():
            raise SpectrumError(f"{what}[{name!r}] contains NaN or infinite values "
                                "(give missing spectra as zeros)")
        parts.append(a)
        rows.add(a.shape[0])
    if len(rows) != 1:
        raise SpectrumError(f"the modalities of {what} have different numbers of rows: "
                            f"{sorted(rows)}")
    if rows == {0}:
        raise SpectrumError(f"{what} has no rows")
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def check_labels(y: Any, n: int, n_labels: int, what: str = "y") -> np.ndarray:
    """Multi-hot labels as uint8 ``(n, n_labels)``; raises :class:`MspectmolError` otherwise."""
    a = np.asarray(y)
    if a.shape != (n, n_labels):
        raise MspectmolError(f"{what} must have shape ({n}, {n_labels}), got {a.shape}")
    if not np.isin(a, (0, 1)).all():
        raise MspectmolError(f"{what} must hold only 0 and 1 (multi-hot labels)")
    return a.astype(np.uint8)


def lbfgs_logistic(x: torch.Tensor, t: torch.Tensor, prevalence: np.ndarray,
                   config: LogisticConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise ``sum_l [mean_i BCE(x_i w_l + b_l, t_il) + l2/2 ||w_l||^2]`` with L-BFGS.

    Parameters
    ----------
    x
        Standardised features ``(n, d)``.
    t
        Targets ``(n, n_labels)`` in {0, 1}.
    prevalence
        Training prevalences, the starting biases (as logits, clipped to [1e-4, 1 - 1e-4]).
    config
        ``l2``, ``max_iter`` and ``tolerance``.

    Returns
    -------
    tuple of Tensor
        Weights ``(d, n_labels)`` and biases ``(n_labels,)``, detached.
    """
    prior = np.clip(prevalence, 1e-4, 1 - 1e-4)
    w = torch.zeros(x.shape[1], t.shape[1], dtype=x.dtype, requires_grad=True)
    b = torch.tensor(np.log(prior / (1 - prior)), dtype=x.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=config.max_iter, history_size=20,
                            tolerance_grad=config.tolerance, tolerance_change=1e-10,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        bce = F.binary_cross_entropy_with_logits(torch.addmm(b, x, w), t, reduction="none")
        loss = bce.mean(dim=0).sum() + 0.5 * config.l2 * w.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def _require(arrays: Mapping[str, Any], name: str, shape: tuple[int, ...], model: str
             ) -> np.ndarray:
    if name not in arrays:
        raise ModelFileError(f"the saved {model} model has no array {name!r}")
    a = np.asarray(arrays[name])
    if a.shape != shape:
        raise ModelFileError(f"the saved {model} model's array {name!r} has shape {a.shape}, "
                             f"expected {shape}")
    return a


class PrevalenceBaseline:
    """Predicts each label's training prevalence; see the module docstring."""

    name: ClassVar[str] = "prevalence"
    config_cls: ClassVar[type[PrevalenceConfig]] = PrevalenceConfig

    def __init__(self, config: PrevalenceConfig | None = None) -> None:
        self.config = config or self.config_cls()
        if not isinstance(self.config, self.config_cls):
            raise MspectmolError(f"{type(self).__name__} needs a {self.config_cls.__name__}, "
                                 f"got {type(self.config).__name__}")
        self.prevalence: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Length of the concatenated input vector."""
        return len(self.config.modalities) * self.config.n_points

    @property
    def constant(self) -> np.ndarray:
        """Labels with a single class in training (bool ``(n_labels,)``)."""
        p = self._fitted_prevalence()
        return (p == 0) | (p == 1)

    def _fitted_prevalence(self) -> np.ndarray:
        if self.prevalence is None:
            raise MspectmolError(f"the {self.name} model is not fitted: call fit() first")
        return self.prevalence

    def _fit_arrays(self, X: Mapping[str, Any], y: Any) -> tuple[np.ndarray, np.ndarray]:
        features = stack_features(X, self.config)
        labels = check_labels(y, features.shape[0], self.config.n_labels)
        self.prevalence = labels.mean(axis=0, dtype=np.float64)
        return features, labels

    def fit(self, X: Mapping[str, Any], y: Any, X_val: Mapping[str, Any] | None = None,
            y_val: Any = None) -> PrevalenceBaseline:
        """Record the label prevalences of ``y`` (``X`` is validated; the validation split is
        not needed)."""
        self._fit_arrays(X, y)
        return self

    def predict_proba(self, X: Mapping[str, Any]) -> np.ndarray:
        """``(n, n_labels)`` float64 probabilities."""
        p = self._fitted_prevalence()
        n = stack_features(X, self.config).shape[0]
        return np.tile(p, (n, 1))

    def _meta(self) -> dict[str, Any]:
        return {"model": self.name, "config": self.config.to_dict()}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"prevalence": self._fitted_prevalence().copy()}

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(json-ready meta, {name: ndarray})`` of the fitted model."""
        return self._meta(), self._arrays()

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], arrays: Mapping[str, Any]
                   ) -> PrevalenceBaseline:
        """Rebuild a fitted model from :meth:`to_state` output.

        Raises
        ------
        ModelFileError
            When the state is of another model or lacks or mangles an array.
        """
        if not isinstance(meta, Mapping) or meta.get("model") != cls.name:
            found = meta.get("model") if isinstance(meta, Mapping) else type(meta).__name__
            raise ModelFileError(f"the saved state is not a {cls.name!r} model "
                                 f"(model: {found!r})")
        try:
            config = cls.config_cls.from_dict(meta.get("config", {}))
        except (MspectmolError, TypeError, ValueError) as exc:
            raise ModelFileError(f"the saved {cls.name} model has an invalid config: {exc}"
                                 ) from None
        model = cls(config)
        p = _require(arrays, "prevalence", (config.n_labels,), cls.name).astype(np.float64)
        if not ((p >= 0) & (p <= 1)).all():
            raise ModelFileError(f"the saved {cls.name} model's prevalences are not in [0, 1]")
        model.prevalence = p
        model._load(meta, arrays)
        return model

    def _load(self, meta: Mapping[str, Any], arrays: Mapping[str, Any]) -> None:
        """Restore the fitted parameters beyond the prevalences (none here)."""


class LogisticBaseline(PrevalenceBaseline):
    """L2 logistic regression per label, fitted with L-BFGS; see the module docstring."""

    name: ClassVar[str] = "logistic"
    config_cls: ClassVar[type[PrevalenceConfig]] = LogisticConfig

    def __init__(self, config: LogisticConfig | None = None) -> None:
        super().__init__(config)
        self.params: dict[str, np.ndarray] | None = None

    def fit(self, X: Mapping[str, Any], y: Any, X_val: Mapping[str, Any] | None = None,
            y_val: Any = None) -> LogisticBaseline:
        """Fit on ``X``/``y``; the validation split is not used (no early stopping)."""
        cfg: LogisticConfig = self.config  # type: ignore[assignment]
        features, labels = self._fit_arrays(X, y)
        threads = torch.get_num_threads()
        if cfg.n_jobs is not None:
            torch.set_num_threads(cfg.n_jobs)
        try:
            x = torch.from_numpy(features)
            std, mean = torch.std_mean(x, dim=0, correction=0)
            scale = std.clamp_min(MIN_SCALE)
            w, b = lbfgs_logistic((x - mean) / scale, torch.from_numpy(labels).float(),
                                  self._fitted_prevalence(), cfg)
        finally:
            torch.set_num_threads(threads)
        self.params = {k: v.double().numpy() for k, v in
                       (("mean", mean), ("scale", scale), ("weight", w), ("bias", b))}
        return self

    def predict_proba(self, X: Mapping[str, Any]) -> np.ndarray:
        p = self._fitted_prevalence()
        if self.params is None:
            raise MspectmolError("the logistic model is not fitted: call fit() first")
        x = (stack_features(X, self.config).astype(np.float64) - self.params["mean"]
             ) / self.params["scale"]
        z = x @ self.params["weight"] + self.params["bias"]
        prob = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow
        return np.where(self.constant, p, prob)

    def _arrays(self) -> dict[str, np.ndarray]:
        if self.params is None:
            raise MspectmolError("the logistic model is not fitted: call fit() first")
        return {**super()._arrays(), **{k: v.copy() for k, v in self.params.items()}}

    def _load(self, meta: Mapping[str, Any], arrays: Mapping[str, Any]) -> None:
        d, n_labels = self.n_features, self.config.n_labels
        shapes = {"mean": (d,), "scale": (d,), "weight": (d, n_labels), "bias": (n_labels,)}
        params = {k: _require(arrays, k, s, self.name).astype(np.float64)
                  for k, s in shapes.items()}
        if not all(np.isfinite(v).all() for v in params.values()):
            raise ModelFileError("the saved logistic model holds non-finite parameters")
        self.params = params


def _register() -> None:
    register_model("prevalence", "classical", PrevalenceBaseline, PrevalenceConfig,
                   title="Prevalence",
                   description="predicts each group's training prevalence (the floor)")
    register_model("logistic", "classical", LogisticBaseline, LogisticConfig, title="Logistic",
                   description="L2 logistic regression on the concatenated spectra (L-BFGS)")


_register()
