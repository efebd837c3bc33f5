"""Dataset splits: random 8:1:1 and Bemis-Murcko scaffold splits, deterministic by seed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold

from mspectmol.errors import InvalidSmilesError, MspectmolError

SPLIT_NAMES = ("train", "val", "test")


def _sizes(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1):
        raise MspectmolError(f"split fractions must be three non-negative numbers summing to 1, "
                             f"got {tuple(fractions)}")
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return n_train, n_val, n - n_train - n_val


def random_split(n: int, seed: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """Assign ``n`` items to train/val/test at random; returns an array of split names."""
    n_train, n_val, _ = _sizes(n, fractions)
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=object)
    out[order[:n_train]] = "train"
    out[order[n_train:n_train + n_val]] = "val"
    out[order[n_train + n_val:]] = "test"
    return out.astype(str)


def murcko_scaffold(smiles: str) -> str:
    """Canonical Bemis-Murcko scaffold SMILES ("" for acyclic molecules)."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InvalidSmilesError(f"invalid SMILES {smiles!r}")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_split(smiles: Sequence[str], seed: int,
                   fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """Bemis-Murcko scaffold split: molecules sharing a scaffold land in the same split.

    Scaffold groups larger than half the validation size (acyclic molecules form one
    such group) are placed first, into train; the remaining groups are shuffled with
    ``seed`` and fill train, then validation, then test (the "balanced" scaffold split of
    chemprop). Test molecules thus have scaffolds never seen in training.
    """
    n = len(smiles)
    n_train, n_val, _ = _sizes(n, fractions)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, smi in enumerate(smiles):
        groups[murcko_scaffold(smi)].append(i)
    big = [g for g in groups.values() if len(g) > n_val / 2]
    small = [g for g in groups.values() if len(g) <= n_val / 2]
    rng = np.random.default_rng(seed)
    big.sort(key=len, reverse=True)
    small = [small[i] for i in rng.permutation(len(small))]
    out = np.empty(n, dtype=object)
    counts = {"train": 0, "val": 0}
    for group in big + small:
        if counts["train"] + len(group) <= n_train:
            name = "train"
        elif counts["val"] + len(group) <= n_val:
            name = "val"
        else:
            name = "test"
        if name in counts:
            counts[name] += len(group)
        out[group] = name
    return out.astype(str)
