"""The dataset of a training or evaluation run, chosen by ``TrainConfig.data`` (``--data``).

Unset or a folder of the embedded format: :func:`~mspectmol.data.dataset.load_dataset` (IR,
Raman, 1H, 13C). A parquet chunk or a folder of chunks in the format of Alberts et al. (2024):
:func:`~mspectmol.data.alberts_data.load_alberts` (IR, 1H, 13C and the MS/MS modalities
``msms_pos`` and ``msms_neg``, converted once into cached memmap stores, with fixed random,
scaffold and size splits). Either way the run gets an
:class:`~mspectmol.data.dataset.EmbeddedDataset`, so models, splits, metrics and run folders
are the same.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mspectmol.data.alberts_data import is_alberts_data, load_alberts
from mspectmol.data.dataset import EmbeddedDataset, load_dataset
from mspectmol.errors import ConfigError
from mspectmol.models.datasets import check_grids, dataset_for
from mspectmol.models.io import ModelMeta

DataArg = str | os.PathLike[str] | None


def load_run_dataset(modalities: Sequence[str], n_points: int, data: DataArg = None, *,
                     progress: bool = False) -> EmbeddedDataset:
    """The dataset at ``data`` (default: the embedded one) with ``modalities`` on
    ``n_points``-point grids; ``progress`` shows the bars of a first conversion."""
    if is_alberts_data(data):
        return load_alberts(data, modalities, n_points, progress=progress)
    return load_dataset(modalities, n_points, path=Path(data) if data else None)


def check_rendering(render: str, data: DataArg) -> None:
    """Refuse randomised rendering of Alberts et al. data (it needs the embedded peak lists).

    Raises
    ------
    ConfigError
        For ``render="randomised"`` with Alberts et al. data.
    """
    if render == "randomised" and is_alberts_data(data):
        raise ConfigError("render=randomised renders the embedded dataset's peak lists anew; "
                          f"{data} holds Alberts et al. spectra already rendered: use "
                          "--render none")


def model_dataset(meta: ModelMeta, data: DataArg = None) -> EmbeddedDataset:
    """The dataset at ``data`` with a saved model's modalities, checked against its grids.

    Raises
    ------
    MspectmolError
        When a grid of the data differs from the model's.
    """
    if not is_alberts_data(data):
        return dataset_for(meta, data)
    ds = load_alberts(data, list(meta.modalities), meta.n_points)
    check_grids(meta, ds.grids)
    return ds
