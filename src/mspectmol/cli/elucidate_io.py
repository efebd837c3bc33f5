"""File and output helpers of ``mspectmol elucidate``: candidate files, and the report of an
elucidation (the printed table, ``structures.csv``, ``structures.json`` and the drawing of the
top structures in ``structures.svg``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspectmol.errors import MspectmolError

if TYPE_CHECKING:  # the structure package loads torch and RDKit: imported when used
    from mspectmol.structure.elucidation import ElucidationResult

FILE_MODALITIES = {"ir": "--ir", "h_nmr": "--h-nmr", "c_nmr": "--c-nmr"}
#: The numeric columns of the printed table: name, width, decimals.
_CELLS = (("score", 8, 2), ("ll", 8, 2), ("fg", 7, 2), ("spec", 6, 3), ("gen", 5, 2),
          ("lines", 6, 2), ("full", 6, 3), ("full_lines", 10, 2))


def read_candidates(path: Path) -> list[tuple[str, str]]:
    """``(smiles, name)`` pairs of a candidate file.

    Raises
    ------
    MspectmolError
        A missing or empty file, or an invalid SMILES (naming the file and line).
    """
    # imported here: RDKit loads only when the command runs
    from mspectmol.structure.model.tokens import canonical

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


def result_rows(result: ElucidationResult) -> list[dict[str, Any]]:
    """One row per ranked structure: rank, SMILES, score, its terms and source (and the MS/MS
    term when a mass spectrum was given)."""
    with_ms = any(c.ms is not None for c in result.candidates)
    return [{"rank": i + 1, "smiles": c.smiles, "score": c.score, "ll": c.ll, "fg": c.fg,
             "spec": c.spec, "gen": c.gen, "lines": c.lines, "full": c.full,
             "full_lines": c.full_lines,
             **({"ms": c.ms} if with_ms else {}), "source": c.source}
            for i, c in enumerate(result.candidates)]


def result_document(result: ElucidationResult, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``structures.json``: the mode, inputs, model, training-domain warning, ranking
    settings, candidate pool and the ranked structures."""
    return {"mode": result.label, "formula": result.formula, "spectra": result.spectra,
            "model": None if result.model is None else str(result.model),
            "out_of_domain": result.out_of_domain,
            **({"weights": result.weights.to_dict(), "spec_smooth": result.spec_smooth}
               if result.weights is not None else {}),
            **({"library": result.library} if result.library else {}), "structures": rows}


def write_outputs(result: ElucidationResult, output: Path, draw: int) -> None:
    """Print the report and write ``structures.csv``, ``.json`` and ``.svg`` (the first
    ``draw`` structures) to ``output``."""
    rows = result_rows(result)
    of_formula = f" of formula {result.formula}" if result.formula else ""
    for line in result.out_of_domain or []:
        print(f"WARNING: {line}")
    for note in result.notes:
        print(note)
    print(f"{result.label}: {len(rows)} structure(s){of_formula}")
    cells_shown = _CELLS + ((("ms", 5, 2),) if rows and "ms" in rows[0] else ())
    print(f"  {'rank':>4}  " + "  ".join(f"{k:>{w}}" for k, w, _ in cells_shown)
          + "  smiles (source)")
    for r in rows:
        cells = [f"{r[k]:>{w}.{d}f}" if r[k] is not None else f"{'-':>{w}}"
                 for k, w, d in cells_shown]
        print(f"  {r['rank']:>4}  {'  '.join(cells)}  {r['smiles']} ({r['source']})")
    output.mkdir(parents=True, exist_ok=True)
    with (output / "structures.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (output / "structures.json").write_text(
        json.dumps(result_document(result, rows), indent=1) + "\n", encoding="utf-8")
    draw_structures(output / "structures.svg", rows, draw)
    print(f"wrote structures.csv, structures.json and structures.svg to {output}")


def draw_structures(path: Path, rows: list[dict[str, Any]], n: int) -> None:
    """The first ``n`` structures drawn in a grid, with their rank and score (SVG)."""
    # imported here: RDKit's drawing code loads only when a report is written
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols = [Chem.MolFromSmiles(r["smiles"]) for r in rows[:n]]
    legends = [f"{r['rank']}. score {r['score']:.2f}" for r in rows[:n]]
    if mols:
        svg = Draw.MolsToGridImage(mols, molsPerRow=3, subImgSize=(260, 220),
                                   legends=legends, useSVG=True)
        path.write_text(svg, encoding="utf-8")
