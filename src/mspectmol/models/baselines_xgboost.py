"""The XGBoost baseline: multi-target gradient-boosted trees on the concatenated spectra.

The protocol of the Alberts et al. multimodal benchmark (raw vectors in, one prediction per
group out); shares features, labels, prevalence handling and (de)serialisation with the other
classical baselines of :mod:`mspectmol.models.baselines_classical`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mspectmol.errors import ModelFileError, MspectmolError
from mspectmol.models.baselines_classical import (
    PrevalenceBaseline,
    PrevalenceConfig,
    check_labels,
    stack_features,
)
from mspectmol.models.fusion import check_positive
from mspectmol.models.registry import register_model


@dataclass
class XGBoostConfig(PrevalenceConfig):
    """Settings of :class:`XGBoostBaseline` (XGBoost parameter names where they exist).

    ``early_stopping_rounds`` applies only when a validation split is passed to ``fit``.
    ``max_bin`` is 64 rather than XGBoost's 256: on 2,000 x 1,800 features and 37 labels one
    round took 0.99 s instead of 3.0 s on one thread (a busy 2-core machine). Cost grows
    linearly with samples and rounds: budget ``n_estimators`` and ``n_jobs`` accordingly.
    """

    n_estimators: int = 300
    max_depth: int = 6
    learning_rate: float = 0.1
    subsample: float = 0.8
    colsample_bytree: float = 0.5
    min_child_weight: float = 1.0
    max_bin: int = 64
    early_stopping_rounds: int | None = 20
    n_jobs: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("XGBoostConfig", n_estimators=self.n_estimators,
                       max_depth=self.max_depth, learning_rate=self.learning_rate,
                       subsample=self.subsample, colsample_bytree=self.colsample_bytree,
                       n_jobs=self.n_jobs, max_bin=self.max_bin)
        if self.early_stopping_rounds is not None:
            check_positive("XGBoostConfig", early_stopping_rounds=self.early_stopping_rounds)
        if self.subsample > 1 or self.colsample_bytree > 1:
            raise MspectmolError("XGBoostConfig.subsample and colsample_bytree must be <= 1")
        if not self.min_child_weight >= 0:
            raise MspectmolError(f"XGBoostConfig.min_child_weight must be >= 0, "
                                 f"got {self.min_child_weight!r}")


class XGBoostBaseline(PrevalenceBaseline):
    """Multi-target XGBoost on the concatenated spectra; see the module docstring."""

    name: ClassVar[str] = "xgboost"
    config_cls: ClassVar[type[PrevalenceConfig]] = XGBoostConfig

    def __init__(self, config: XGBoostConfig | None = None) -> None:
        super().__init__(config)
        self.booster: Any = None
        self.best_iteration: int | None = None

    def _params(self) -> dict[str, Any]:
        cfg: XGBoostConfig = self.config  # type: ignore[assignment]
        return {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
                "multi_strategy": "one_output_per_tree", "max_depth": cfg.max_depth,
                "eta": cfg.learning_rate, "subsample": cfg.subsample,
                "colsample_bytree": cfg.colsample_bytree,
                "min_child_weight": cfg.min_child_weight, "max_bin": cfg.max_bin,
                "nthread": cfg.n_jobs,
                "seed": cfg.seed}

    def fit(self, X: Mapping[str, Any], y: Any, X_val: Mapping[str, Any] | None = None,
            y_val: Any = None) -> XGBoostBaseline:
        """Fit; with ``X_val``/``y_val`` the rounds stop early on the validation log-loss."""
        import xgboost as xgb

        cfg: XGBoostConfig = self.config  # type: ignore[assignment]
        features, labels = self._fit_arrays(X, y)
        trained = ~self.constant
        self.booster, self.best_iteration = None, None
        if not trained.any():
            return self
        dtrain = xgb.QuantileDMatrix(features, label=labels[:, trained].astype(np.float32),
                                     nthread=cfg.n_jobs, max_bin=cfg.max_bin)
        evals, stop = [], None
        if (X_val is None) != (y_val is None):
            raise MspectmolError("pass both X_val and y_val, or neither")
        if X_val is not None:
            val = stack_features(X_val, self.config, "X_val")
            val_labels = check_labels(y_val, val.shape[0], cfg.n_labels, "y_val")
            evals = [(xgb.QuantileDMatrix(val, label=val_labels[:, trained].astype(np.float32),
                                          ref=dtrain, nthread=cfg.n_jobs, max_bin=cfg.max_bin),
                      "val")]
            stop = cfg.early_stopping_rounds
        booster = xgb.train(self._params(), dtrain, num_boost_round=cfg.n_estimators,
                            evals=evals, early_stopping_rounds=stop, verbose_eval=False)
        if stop is not None:
            self.best_iteration = int(booster.best_iteration)
        self.booster = booster
        return self

    def predict_proba(self, X: Mapping[str, Any]) -> np.ndarray:
        import xgboost as xgb

        p = self._fitted_prevalence()
        features = stack_features(X, self.config)
        out = np.tile(p, (features.shape[0], 1))
        if self.booster is not None:
            cfg: XGBoostConfig = self.config  # type: ignore[assignment]
            self.booster.set_param({"nthread": cfg.n_jobs})
            rounds = (0, self.best_iteration + 1) if self.best_iteration is not None else (0, 0)
            pred = self.booster.predict(xgb.DMatrix(features, nthread=cfg.n_jobs),
                                        iteration_range=rounds)
            out[:, ~self.constant] = np.asarray(pred, dtype=np.float64).reshape(len(out), -1)
        return out

    def _meta(self) -> dict[str, Any]:
        return {**super()._meta(), "best_iteration": self.best_iteration}

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._arrays()
        if self.booster is not None:
            raw = self.booster.save_raw(raw_format="json")
            arrays["booster"] = np.frombuffer(bytes(raw), dtype=np.uint8).copy()
        return arrays

    def _load(self, meta: Mapping[str, Any], arrays: Mapping[str, Any]) -> None:
        import xgboost as xgb

        best = meta.get("best_iteration")
        if best is not None and (not isinstance(best, int) or best < 0):
            raise ModelFileError(f"the saved xgboost model has an invalid best_iteration "
                                 f"{best!r}")
        self.best_iteration = best
        if not (~self.constant).any():
            return
        if "booster" not in arrays:
            raise ModelFileError("the saved xgboost model has no array 'booster'")
        raw = np.asarray(arrays["booster"])
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ModelFileError("the saved xgboost booster must be a 1-D uint8 array")
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(raw.tobytes()))
        except xgb.core.XGBoostError as exc:
            raise ModelFileError(f"the saved xgboost booster cannot be read: {exc}") from None
        self.booster = booster


def _register() -> None:
    register_model("xgboost", "classical", XGBoostBaseline, XGBoostConfig, title="XGBoost",
                   description="multi-target XGBoost on the concatenated spectra")


_register()
