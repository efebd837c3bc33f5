"""A transfer validation set as model inputs: another group's spectra, read as files are.

:func:`transfer_arrays` reads an Alberts et al. (2024) parquet file (or folder) and brings
its IR, 1H and 13C spectra onto model grids through the one preprocessing path
(:func:`mspectmol.spectra.pipeline.prepare`), with labels from the 37 SMARTS, so that a
training run can report how its model does on spectra its own simulator did not make
(``mspectmol train --set transfer=PATH``). Such a set is for validation only: never train on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mspectmol.chem.functional_groups import label
from mspectmol.errors import MspectmolError
from mspectmol.spectra.pipeline import prepare
from mspectmol.spectra.readers.alberts import ALBERTS_COLUMNS, AlbertsParquet


def transfer_arrays(path: str | Path, modalities: Sequence[str],
                    grids: Mapping[str, np.ndarray], normalisation: str = "max",
                    n_max: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray],
                               dict[str, np.ndarray]]:
    """``(ids, labels, spectra, available)`` of the file's molecules on ``grids``.

    Raises
    ------
    MspectmolError
        A modality the file does not hold, or any reading error (naming the file).
    """
    smiles, spectra = transfer_molecules(path, modalities, grids, normalisation, n_max)
    n = len(smiles)
    ids = np.asarray([f"transfer-{i:05d}" for i in range(n)])
    labels = np.stack([label(s) for s in smiles]).astype(np.uint8)
    available = {m: np.ones(n, dtype=bool) for m in modalities}
    return ids, labels, spectra, available


def transfer_molecules(path: str | Path, modalities: Sequence[str],
                       grids: Mapping[str, np.ndarray], normalisation: str = "max",
                       n_max: int | None = None
                       ) -> tuple[list[str], dict[str, np.ndarray]]:
    """The SMILES of the file's (first ``n_max``) molecules as stored and their spectra on
    ``grids``, ``(n, points)`` float32 per modality; raises as :func:`transfer_arrays`."""
    data = AlbertsParquet(path)
    missing = [m for m in modalities if m not in ALBERTS_COLUMNS]
    if missing:
        raise MspectmolError(f"{path}: a transfer set has {', '.join(ALBERTS_COLUMNS)} "
                             f"spectra, not {', '.join(missing)}")
    spectra: dict[str, np.ndarray] = {}
    smiles: list[str] = []
    for m in modalities:
        rows = []
        for i, spectrum in enumerate(data.iter_spectra(m)):
            if n_max is not None and i >= n_max:
                break
            rows.append(prepare(spectrum, grids[m], normalisation).y)
            if m == modalities[0]:
                smiles.append(str(spectrum.metadata.get("smiles")))
        spectra[m] = np.stack(rows).astype(np.float32)
    return smiles, spectra
