"""Training harness: configs, data batches, the training loop, evaluation and run folders."""

from mspectmol.data.batches import (
    SplitData,
    TorchBatch,
    dataset_hash,
    epoch_order,
    iterate_batches,
    make_split,
    split_data,
)
from mspectmol.models.inference import predict_logits, predict_proba
from mspectmol.training.config import TrainConfig, resolve_config
from mspectmol.training.evaluate import evaluate_model
from mspectmol.training.pipeline import RunResult, evaluate_saved, run_training
from mspectmol.training.run_folder import make_run_dir
from mspectmol.training.trainer import TrainResult, fit_classical, fit_model, fit_neural

__all__ = [
    "RunResult",
    "SplitData",
    "TorchBatch",
    "TrainConfig",
    "TrainResult",
    "dataset_hash",
    "epoch_order",
    "evaluate_model",
    "evaluate_saved",
    "fit_classical",
    "fit_model",
    "fit_neural",
    "iterate_batches",
    "make_run_dir",
    "make_split",
    "predict_logits",
    "predict_proba",
    "resolve_config",
    "run_training",
    "split_data",
]
