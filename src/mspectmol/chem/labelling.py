"""Label many molecules at once: SMILES strings and files of them -> a 37-column table."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mspectmol.chem.functional_groups import GROUP_NAMES, label, load_functional_groups
from mspectmol.chem.molecules import read_smiles_file
from mspectmol.errors import InvalidSmilesError, MspectmolError


@dataclass
class LabelResult:
    """Functional-group labels of a set of molecules.

    Attributes
    ----------
    names, smiles
        Molecule names (from the file, or the SMILES itself) and SMILES as given.
    labels
        ``(n, 37)`` uint8 matrix in :data:`GROUP_NAMES` order.
    failures
        Messages for molecules that could not be labelled (only with ``skip_invalid``).
    """

    names: list[str] = field(default_factory=list)
    smiles: list[str] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0, len(GROUP_NAMES)), np.uint8))
    failures: list[str] = field(default_factory=list)

    def to_records(self) -> list[dict]:
        """One dict per molecule: name, smiles, groups (list of names) and the 0/1 columns."""
        keys = [g.key for g in load_functional_groups()]
        rows = []
        for name, smi, row in zip(self.names, self.smiles, self.labels, strict=True):
            rec = {"name": name, "smiles": smi,
                   "groups": [g for g, bit in zip(GROUP_NAMES, row, strict=True) if bit]}
            rec.update({k: int(b) for k, b in zip(keys, row, strict=True)})
            rows.append(rec)
        return rows

    def write(self, path: str | Path) -> None:
        """Write the table as CSV, TSV (one 0/1 column per group key) or JSON (by suffix)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".tsv", ".json"):
            raise MspectmolError(f"{path}: output must end in .csv, .tsv or .json")
        path.parent.mkdir(parents=True, exist_ok=True)
        records = self.to_records()
        if suffix == ".json":
            doc = {"functional_groups": list(GROUP_NAMES), "molecules": records}
            path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
            return
        keys = [g.key for g in load_functional_groups()]
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
            writer.writerow(["name", "smiles", *keys])
            for rec in records:
                writer.writerow([rec["name"], rec["smiles"], *(rec[k] for k in keys)])


def _iter_inputs(items: Iterable[str]) -> Iterable[tuple[str, str, str | None]]:
    """(name, smiles, source) for SMILES strings and files of SMILES."""
    for item in items:
        path = Path(item)
        looks_like_file = path.suffix.lower() in (".smi", ".txt", ".csv", ".tsv", ".gz")
        if looks_like_file or (len(item) < 4096 and path.is_file()):
            if not path.is_file():
                raise MspectmolError(f"{path}: no such file")
            for name, smi in read_smiles_file(path, validate=False):
                yield name, smi, str(path)
        else:
            yield item, item, None


def label_molecules(items: Iterable[str], *, skip_invalid: bool = False) -> LabelResult:
    """Label SMILES strings and files of SMILES with the 37 functional groups.

    Parameters
    ----------
    items
        SMILES strings or paths of ``.smi``/``.txt``/``.csv``/``.tsv`` files.
    skip_invalid
        Record invalid SMILES in :attr:`LabelResult.failures` instead of raising.

    Raises
    ------
    InvalidSmilesError
        For the first invalid SMILES when ``skip_invalid`` is false.
    """
    result = LabelResult()
    rows = []
    for name, smi, source in _iter_inputs(items):
        try:
            rows.append(label(smi))
        except InvalidSmilesError as exc:
            where = f"{source}: molecule {name!r}: {exc}" if source else str(exc)
            if not skip_invalid:
                raise InvalidSmilesError(where) from None
            result.failures.append(where)
            continue
        result.names.append(name)
        result.smiles.append(smi)
    if rows:
        result.labels = np.vstack(rows).astype(np.uint8)
    return result
