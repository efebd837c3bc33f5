"""Dataset splits: random 8:1:1, Bemis-Murcko scaffold and heavy-atom size splits.

All are deterministic by seed. The size split (:func:`size_split`) is the stress test of the
paper's appendix K: train on the smaller molecules, test on the largest tenth. A scaffold
split is extended to new molecules without changing it by :func:`extend_scaffold_split`
(how the drug-size part of the embedded dataset joins the splits of the first part).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold

from mspectmol.errors import InvalidSmilesError, MspectmolError

#: Seed of the validation draw of :func:`size_split` in datasets (``splits["size"]``).
SIZE_SPLIT_SEED = 0

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


def size_split(heavy_atoms: Sequence[int] | np.ndarray, seed: int = 0, *,
               test_fraction: float = 0.1, val_fraction: float = 0.1) -> np.ndarray:
    """Appendix K's stress split: the largest molecules (heavy atoms) are the test set.

    The test set is every molecule with at least ``h`` heavy atoms, for the threshold ``h``
    whose test size is closest to ``test_fraction`` of the molecules (ties at the boundary
    are never split, so every test molecule is larger than every training molecule; on the
    embedded dataset ``h = 15`` gives 625 of 6,397 molecules, 9.8%). Validation is a
    seeded random ``val_fraction`` of the remaining molecules; the rest is training.

    Raises
    ------
    MspectmolError
        When the counts are not non-negative whole numbers or all molecules have one size.
    """
    counts = np.asarray(heavy_atoms)
    if counts.ndim != 1 or counts.size == 0 or not np.issubdtype(counts.dtype, np.number) \
            or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise MspectmolError("heavy-atom counts must be a non-empty list of whole numbers >= 0")
    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1):
        raise MspectmolError(f"size split fractions must be in (0, 1), got test "
                             f"{test_fraction}, validation {val_fraction}")
    sizes = np.unique(counts)
    if sizes.size < 2:
        raise MspectmolError(f"a size split needs molecules of different sizes; all "
                             f"{counts.size} have {int(sizes[0])} heavy atoms")
    target = test_fraction * counts.size
    above = np.array([(counts >= h).sum() for h in sizes[1:]])
    threshold = sizes[1:][int(np.argmin(np.abs(above - target)))]
    out = np.full(counts.size, "train", dtype=object)
    out[counts >= threshold] = "test"
    rest = np.flatnonzero(counts < threshold)
    n_val = int(round(val_fraction * rest.size))
    out[np.random.default_rng(seed).permutation(rest)[:n_val]] = "val"
    return out.astype(str)


def extend_scaffold_split(known_smiles: Sequence[str], known_splits: Sequence[str],
                          new_smiles: Sequence[str], seed: int,
                          fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """Assign new molecules to an existing scaffold split without changing it.

    The rule of :func:`scaffold_split`, continued over the union of both sets: a new
    molecule whose Bemis-Murcko scaffold is already in a split joins that split (so no
    scaffold straddles two splits); the other new molecules are grouped by scaffold, groups
    larger than half the validation size of the union come first, the rest are shuffled with
    ``seed``, and the groups fill train, then validation, then test up to the ``fractions``
    of the union, counting the molecules already assigned.

    Parameters
    ----------
    known_smiles, known_splits
        The molecules of the existing split and their parts (``train``/``val``/``test``);
        they are left as they are.
    new_smiles
        The molecules to assign.
    seed
        Seed of the shuffle of the new scaffold groups.
    fractions
        Train, validation and test fractions of the union.

    Returns
    -------
    numpy.ndarray
        The part of each new molecule.

    Raises
    ------
    MspectmolError
        When the known split puts one scaffold into two parts or has unknown part names.
    """
    if len(known_smiles) != len(known_splits):
        raise MspectmolError(f"{len(known_smiles)} known molecules but {len(known_splits)} "
                             "split labels")
    n_train, n_val, _ = _sizes(len(known_smiles) + len(new_smiles), fractions)
    part_of: dict[str, str] = {}
    for smi, part in zip(known_smiles, known_splits, strict=True):
        if part not in SPLIT_NAMES:
            raise MspectmolError(f"unknown split part {part!r}; expected one of {SPLIT_NAMES}")
        scaffold = murcko_scaffold(smi)
        if part_of.setdefault(scaffold, part) != part:
            raise MspectmolError(f"the known split puts scaffold {scaffold!r} into both "
                                 f"{part_of[scaffold]!r} and {part!r}")
    counts = dict(zip(*np.unique(np.asarray(known_splits, dtype=str), return_counts=True),
                      strict=True))
    out = np.empty(len(new_smiles), dtype=object)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, smi in enumerate(new_smiles):
        scaffold = murcko_scaffold(smi)
        if scaffold in part_of:
            out[i] = part_of[scaffold]
            counts[part_of[scaffold]] = counts.get(part_of[scaffold], 0) + 1
        else:
            groups[scaffold].append(i)
    big = sorted((g for g in groups.values() if len(g) > n_val / 2), key=len, reverse=True)
    small = [g for g in groups.values() if len(g) <= n_val / 2]
    small = [small[i] for i in np.random.default_rng(seed).permutation(len(small))]
    for group in big + small:
        if counts.get("train", 0) + len(group) <= n_train:
            name = "train"
        elif counts.get("val", 0) + len(group) <= n_val:
            name = "val"
        else:
            name = "test"
        counts[name] = counts.get(name, 0) + len(group)
        out[group] = name
    return out.astype(str)
