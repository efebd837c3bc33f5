"""The 37 functional groups of the paper's Table 5, multi-hot labels and FGSim.

The groups' SMARTS are versioned data (``chem/data/functional_groups_v1.json``), the set
Alberts et al. (2024) labelled their dataset with; a group is present when its SMARTS matches
at least once. RDKit's ``H``/``X`` primitives count implicit hydrogens, so molecules are
matched as parsed from SMILES (explicit hydrogens give the same labels). Quirks of the
published SMARTS are kept so labels stay comparable (see tests/chem/test_functional_groups.py):
e.g. a carboxylic acid is also an alcohol, methane is no alkane, formic acid is an aldehyde.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
from rdkit import Chem

from mspectmol.chem.molecules import MolLike, as_mol
from mspectmol.errors import InvalidSmilesError, MspectmolError

__all__ = [
    "FunctionalGroupError", "FunctionalGroup", "AVAILABLE_VERSIONS", "read_functional_groups",
    "load_functional_groups", "GROUPS", "GROUP_NAMES", "GROUP_KEYS", "get_group", "label",
    "label_many", "groups_present", "match_atoms", "fgsim", "fgsim_batch",
]  # fmt: skip

FILE_NAME = "mspectmol-functional-groups"
AVAILABLE_VERSIONS: tuple[int, ...] = (1,)


class FunctionalGroupError(MspectmolError, ValueError):
    """A functional-group definition is invalid, or a group name is unknown."""


@dataclass(frozen=True)
class FunctionalGroup:
    """One functional group: display name, identifier key and SMARTS.

    The compiled SMARTS is built once, at construction, and kept in ``pattern``.

    Raises
    ------
    FunctionalGroupError
        When RDKit cannot compile the SMARTS.
    """

    name: str
    key: str
    smarts: str
    pattern: Chem.Mol = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = Chem.MolFromSmarts(self.smarts)
        if pattern is None:
            raise FunctionalGroupError(
                f"functional group {self.name!r}: RDKit cannot compile SMARTS {self.smarts!r}"
            )
        object.__setattr__(self, "pattern", pattern)

    def matches(self, mol: Chem.Mol) -> bool:
        """Return whether the SMARTS matches the (sanitised) molecule at least once."""
        return bool(mol.HasSubstructMatch(self.pattern))


# ---------------------------------------------------------------- definitions (JSON data)


def _require(cond: bool, problem: str, source: str) -> None:
    """Raise a FunctionalGroupError naming ``source`` unless ``cond``."""
    if not cond:
        raise FunctionalGroupError(f"{source}: {problem}")


def _parse_group(entry: Any, index: int, source: str) -> FunctionalGroup:
    """Validate one ``{"name", "key", "smarts"}`` entry and build the group."""
    _require(isinstance(entry, dict), f"group {index} is not an object", source)
    for fld in ("name", "key", "smarts"):
        value = entry.get(fld)
        ok = isinstance(value, str) and bool(value.strip())
        _require(ok, f"group {index} has no non-empty string {fld!r}", source)
    try:
        return FunctionalGroup(entry["name"], entry["key"], entry["smarts"])
    except FunctionalGroupError as exc:
        raise FunctionalGroupError(f"{source}: group {index}: {exc}") from exc


def _parse_groups(doc: Any, source: str) -> tuple[FunctionalGroup, ...]:
    """Validate a parsed definitions document and return its groups in order."""
    _require(isinstance(doc, dict), "top level is not a JSON object", source)
    _require(doc.get("name") == FILE_NAME, f"'name' is not {FILE_NAME!r}", source)
    version = doc.get("version")
    _require(type(version) is int, "no integer 'version'", source)
    entries = doc.get("groups")
    _require(isinstance(entries, list) and len(entries) > 0, "no non-empty 'groups' list", source)
    groups = tuple(_parse_group(e, i, source) for i, e in enumerate(entries))
    for attr in ("name", "key"):
        values = [getattr(g, attr) for g in groups]
        dupes = sorted({v for v in values if values.count(v) > 1})
        _require(not dupes, f"duplicate group {attr}s: {', '.join(dupes)}", source)
    return groups


def read_functional_groups(path: str | PathLike[str]) -> tuple[FunctionalGroup, ...]:
    """Read a functional-group definitions file (the package's JSON format).

    Parameters
    ----------
    path
        A JSON file ``{"name": "mspectmol-functional-groups", "version": int,
        "groups": [{"name", "key", "smarts"}, ...]}``.

    Raises
    ------
    FunctionalGroupError
        Naming the file when it is missing, not JSON, malformed, has duplicate names or
        keys, or holds a SMARTS RDKit cannot compile.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FunctionalGroupError(f"{source}: cannot read the file: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FunctionalGroupError(f"{source}: not valid JSON: {exc}") from exc
    return _parse_groups(doc, source)


@cache
def load_functional_groups(version: int = 1) -> tuple[FunctionalGroup, ...]:
    """Return the packaged functional-group set of the given version (cached).

    Version 1 is the paper's Table 5: 37 groups in the table's (alphabetical) order, which
    is the order of every label vector in mspectmol.

    Raises
    ------
    FunctionalGroupError
        For a version that is not packaged.
    """
    if version not in AVAILABLE_VERSIONS:
        raise FunctionalGroupError(
            f"no functional-group set version {version!r}; available: "
            f"{', '.join(map(str, AVAILABLE_VERSIONS))}"
        )
    resource = resources.files("mspectmol.chem") / "data" / f"functional_groups_v{version}.json"
    with resources.as_file(resource) as path:
        return read_functional_groups(path)


GROUPS: tuple[FunctionalGroup, ...] = load_functional_groups(1)
GROUP_NAMES: tuple[str, ...] = tuple(g.name for g in GROUPS)
"""The 37 group names in label order (the paper's Table 5)."""
GROUP_KEYS: tuple[str, ...] = tuple(g.key for g in GROUPS)
"""The 37 group keys (snake_case) in label order."""


def _resolve(groups: Sequence[FunctionalGroup] | None) -> Sequence[FunctionalGroup]:
    """Return ``groups`` or the default (version 1) set."""
    return GROUPS if groups is None else groups


def get_group(
    group: str | FunctionalGroup, groups: Sequence[FunctionalGroup] | None = None
) -> FunctionalGroup:
    """Look a group up by name or key (case-insensitive), or pass a FunctionalGroup through.

    Raises
    ------
    FunctionalGroupError
        For an unknown name, listing the known keys.
    """
    if isinstance(group, FunctionalGroup):
        return group
    wanted = str(group).strip().lower()
    for g in _resolve(groups):
        if wanted in (g.name.lower(), g.key.lower()):
            return g
    known = ", ".join(g.key for g in _resolve(groups))
    raise FunctionalGroupError(f"unknown functional group {group!r}; known keys: {known}")


# ---------------------------------------------------------------------------- labelling


def _prepared(smiles_or_mol: MolLike) -> Chem.Mol:
    """Return a molecule ready for matching (property cache up to date)."""
    mol = as_mol(smiles_or_mol)
    if mol.NeedsUpdatePropertyCache():
        mol = Chem.Mol(mol)
        mol.UpdatePropertyCache(strict=False)
    return mol


def label(smiles_or_mol: MolLike, *, groups: Sequence[FunctionalGroup] | None = None) -> np.ndarray:
    """Return the multi-hot functional-group vector of one molecule.

    Parameters
    ----------
    smiles_or_mol
        A SMILES string or a sanitised RDKit molecule (explicit hydrogens allowed).
    groups
        The group set; the 37 groups of version 1 by default.

    Returns
    -------
    numpy.ndarray
        ``uint8`` vector, one entry per group in ``GROUP_NAMES`` order, 1 when present.

    Raises
    ------
    InvalidSmilesError
        For an invalid SMILES.
    """
    mol = _prepared(smiles_or_mol)
    return np.fromiter((g.matches(mol) for g in _resolve(groups)), dtype=np.uint8)


def label_many(
    smiles: Iterable[MolLike],
    *,
    errors: Literal["raise", "skip"] = "raise",
    return_valid: bool = False,
    groups: Sequence[FunctionalGroup] | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Label many molecules.

    Parameters
    ----------
    smiles
        SMILES strings (or RDKit molecules).
    errors
        ``"raise"``: an invalid SMILES raises, naming its position; ``"skip"``: it is left
        out of the result.
    return_valid
        Also return a boolean mask over the inputs, True where a row was produced.
    groups
        The group set; the 37 groups of version 1 by default.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        ``uint8`` array ``(n_valid, n_groups)``; with ``return_valid`` also the mask.

    Raises
    ------
    InvalidSmilesError
        With ``errors="raise"``, for the first invalid entry ("entry i of the input: ...").
    ValueError
        For an unknown ``errors`` value.
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    chosen = _resolve(groups)
    rows: list[np.ndarray] = []
    valid: list[bool] = []
    for i, item in enumerate(smiles):
        try:
            rows.append(label(item, groups=chosen))
        except InvalidSmilesError as exc:
            if errors == "raise":
                raise InvalidSmilesError(f"entry {i} of the input: {exc}") from exc
            valid.append(False)
            continue
        valid.append(True)
    out = np.stack(rows) if rows else np.zeros((0, len(chosen)), dtype=np.uint8)
    return (out, np.asarray(valid, dtype=bool)) if return_valid else out


def groups_present(
    smiles_or_mol: MolLike, *, groups: Sequence[FunctionalGroup] | None = None
) -> list[str]:
    """Return the names of the groups present, in label order."""
    chosen = _resolve(groups)
    vec = label(smiles_or_mol, groups=chosen)
    return [g.name for g, hit in zip(chosen, vec, strict=True) if hit]


def match_atoms(
    smiles_or_mol: MolLike, group: str | FunctionalGroup, *, max_matches: int = 1000
) -> list[tuple[int, ...]]:
    """Return the atom indices of every (unique) match of a group, for highlighting.

    Parameters
    ----------
    smiles_or_mol
        A SMILES string or RDKit molecule; indices refer to its atoms (for a SMILES, to
        the molecule :func:`~mspectmol.chem.molecules.mol_from_smiles` returns).
    group
        A group name or key (e.g. ``"Carboxylic acid"`` / ``"carboxylic_acid"``) or a
        :class:`FunctionalGroup`.
    max_matches
        Upper bound on the number of matches returned.

    Returns
    -------
    list of tuple of int
        One tuple per match, atoms in SMARTS order; empty when the group is absent.
    """
    mol = _prepared(smiles_or_mol)
    pattern = get_group(group).pattern
    return [tuple(m) for m in mol.GetSubstructMatches(pattern, maxMatches=max_matches)]


# --------------------------------------------------------------------------------- FGSim


def _binary_vector(values: Any, what: str) -> np.ndarray:
    """Return ``values`` as a 1-D bool array, requiring entries 0/1 (or bools)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D 0/1 vector, got shape {arr.shape}")
    if arr.dtype != bool and (arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all()):
        raise ValueError(
            f"{what}: entries must be 0 or 1 (threshold probabilities first, e.g. p >= 0.5)"
        )
    return arr.astype(bool)


def _index_set(values: Any, what: str) -> tuple[frozenset[int], int | None]:
    """Turn a 0/1 vector or a collection of group names into a set of group indices.

    Returns the set and the vector length (None for names or an empty list/set).
    """
    if isinstance(values, str):
        raise ValueError(f"{what}: pass a set of group names, not a single string")
    is_collection = isinstance(values, (set, frozenset, list, tuple))
    if is_collection and not values:
        return frozenset(), None
    if isinstance(values, (set, frozenset)) or (
        is_collection and all(isinstance(v, str) for v in values)
    ):
        if not all(isinstance(v, str) for v in values):
            raise ValueError(f"{what}: a set must hold group names or keys")
        position = {g.key: i for i, g in enumerate(GROUPS)}
        return frozenset(position[get_group(v).key] for v in values), None
    vec = _binary_vector(values, what)
    return frozenset(np.flatnonzero(vec).tolist()), vec.size


def fgsim(pred: Any, true: Any) -> float:
    """FGSim: the Jaccard index of predicted and true functional-group sets.

    ``|P ∩ T| / |P ∪ T|``, and 1.0 when both sets are empty (as in DiffSpectra).

    Parameters
    ----------
    pred, true
        Each either a 0/1 (or bool) vector, or a set/list of group names or keys. Two
        vectors must have the same length; a vector compared with names must have one
        entry per group of the default set (37).

    Raises
    ------
    ValueError
        For non-binary vectors, mismatched lengths or a single string.
    FunctionalGroupError
        For an unknown group name.
    """
    p, n_p = _index_set(pred, "pred")
    t, n_t = _index_set(true, "true")
    lengths = {n for n in (n_p, n_t) if n is not None}
    if len(lengths) > 1:
        raise ValueError(f"pred and true have different lengths ({n_p} and {n_t})")
    mixed = (n_p is None) != (n_t is None)
    if mixed and lengths and lengths != {len(GROUPS)}:
        raise ValueError(f"a vector compared with group names must have {len(GROUPS)} entries")
    union = p | t
    return 1.0 if not union else len(p & t) / len(union)


def fgsim_batch(pred: Any, true: Any) -> np.ndarray:
    """FGSim of each row of two ``(n, n_groups)`` 0/1 arrays.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of length ``n``; 1.0 for rows where both are all zero.

    Raises
    ------
    ValueError
        For arrays that are not 2-D, differ in shape or hold values other than 0/1.
    """
    p, t = np.asarray(pred), np.asarray(true)
    if p.ndim != 2 or p.shape != t.shape:
        raise ValueError(f"expected two 2-D arrays of one shape, got {p.shape} and {t.shape}")
    pb = _binary_vector(p.ravel(), "pred").reshape(p.shape)
    tb = _binary_vector(t.ravel(), "true").reshape(t.shape)
    inter = np.count_nonzero(pb & tb, axis=1)
    union = np.count_nonzero(pb | tb, axis=1)
    out = np.ones(p.shape[0], dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0)
    return out
