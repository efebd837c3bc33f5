"""The embedded dataset on a model's grids, and the check that data match them.

Kept apart from :mod:`mspectmol.models.inference` so that predicting from files does not
import the dataset machinery (pyarrow).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mspectmol.data.dataset import DATASET_MODALITIES, EmbeddedDataset, load_dataset
from mspectmol.errors import MspectmolError
from mspectmol.models.io import ModelMeta, grid_info


def dataset_for(meta: ModelMeta, data: str | os.PathLike[str] | None = None
                ) -> EmbeddedDataset:
    """Load the dataset with the model's modalities and check its grids match the model's."""
    ds = load_dataset([m for m in meta.modalities if m in DATASET_MODALITIES], meta.n_points,
                      path=Path(data) if data else None)
    check_grids(meta, ds.grids, "dataset")
    return ds


def check_grids(meta: ModelMeta, grids: Mapping[str, np.ndarray], what: str = "data") -> None:
    """Refuse data whose grid of any of the model's modalities differs from the model's.

    Raises
    ------
    MspectmolError
        Naming the modality and both grids.
    """
    for m, info in meta.modalities.items():
        if m not in grids:
            continue
        have = grid_info(m, grids[m])
        if have["n_points"] != info["n_points"] or not np.allclose(
                [have["x_min"], have["x_max"]], [info["x_min"], info["x_max"]]):
            raise MspectmolError(f"the {what}'s {m} grid ({have['x_min']}..{have['x_max']}, "
                                 f"{have['n_points']} points) differs from the model's "
                                 f"({info['x_min']}..{info['x_max']}, {info['n_points']})")
