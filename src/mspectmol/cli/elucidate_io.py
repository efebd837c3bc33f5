"""File and drawing helpers of ``mspectmol elucidate``: candidate files, the embedded
library's spectra of a formula, the drawing of the top structures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

FILE_MODALITIES = {"ir": "--ir", "h_nmr": "--h-nmr", "c_nmr": "--c-nmr"}


def read_candidates(path: Path) -> list[tuple[str, str]]:
    """``(smiles, name)`` pairs of a candidate file.

    Raises
    ------
    MspectmolError
        A missing or empty file, or an invalid SMILES (naming the file and line).
    """
    from mspectmol.errors import MspectmolError
    from mspectmol.structure.tokens import canonical

    if not path.is_file():
        raise MspectmolError(f"{path}: candidate file not found")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        smiles, _, name = text.partition(" ")
        if canonical(smiles) is None:
            raise MspectmolError(f"{path}, line {n}: invalid SMILES {smiles!r}")
        out.append((smiles, name.strip() or f"line {n}"))
    if not out:
        raise MspectmolError(f"{path}: no candidate SMILES")
    return out


def observed_spectra(args: argparse.Namespace, meta: Any, modalities: tuple[str, ...]) -> Any:
    """The spectra given on the command line, read with the PA-IB model's grids, and
    their availability."""
    from mspectmol.data.samples import SampleSpec
    from mspectmol.errors import MspectmolError
    from mspectmol.models.inputs import load_sample

    files = {m: getattr(args, f"file_{m}") for m in FILE_MODALITIES
             if getattr(args, f"file_{m}") is not None}
    if "ir" not in files:
        raise MspectmolError("elucidate needs an IR spectrum (--ir FILE): it is the PA-IB "
                             "model's primary spectrum")
    sample = load_sample(meta, SampleSpec("sample", files, None))
    return ({m: sample.spectra[m] for m in modalities},
            [sample.available[m] for m in modalities])


def library_spectra(formula: str | None, extra: list[str], grids: dict[str, Any]
                     ) -> tuple[dict[str, Any], list[str]]:
    """Embedded-dataset molecules of ``formula`` and the dataset's simulated spectra of those
    and of any ``extra`` candidate found in the dataset (only those rows are broadened)."""
    import pyarrow.parquet as pq

    from mspectmol.data.dataset import EMBEDDED_DIR
    from mspectmol.structure.library import embedded_spectra
    from mspectmol.structure.tokens import canonical, same_formula, smiles_formula

    index = pq.read_table(EMBEDDED_DIR / "index.parquet", columns=["id", "smiles"])
    wanted = {c for c in (canonical(s) for s in extra) if c is not None}
    of_formula, rows = [], {}
    for mol_id, smi in zip(index.column("id").to_pylist(), index.column("smiles").to_pylist(),
                           strict=True):
        c = canonical(smi)
        if c is None:
            continue
        f = smiles_formula(c) if formula is not None else None
        if f is not None and same_formula(f, formula):
            of_formula.append(c)
            rows.setdefault(mol_id, c)
        elif c in wanted:
            rows.setdefault(mol_id, c)
    spectra = embedded_spectra(list(rows), grids)
    library = {rows[i]: spectra[i] for i in spectra}
    return library, list(dict.fromkeys(of_formula))


def draw_structures(path: Path, rows: list[dict[str, Any]], n: int) -> None:
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols = [Chem.MolFromSmiles(r["smiles"]) for r in rows[:n]]
    legends = [f"{r['rank']}. score {r['score']:.2f}" for r in rows[:n]]
    if mols:
        svg = Draw.MolsToGridImage(mols, molsPerRow=3, subImgSize=(260, 220),
                                   legends=legends, useSVG=True)
        path.write_text(svg, encoding="utf-8")
