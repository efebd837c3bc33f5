"""Benchmark: MS/MS fragments as evidence against same-formula decoys (Alberts et al. example).

For each of the 100 molecules of ``../shared/data/alberts-example/example_data_1.parquet``,
the candidates are the true structure and up to 100 decoys of the same molecular formula
drawn from the MOSES training molecules and the PubChem compounds of the ``chemicals`` wheel
(the molecules whose formula occurs there). Every candidate is scored by
:func:`mspectmol.chem.fragments.explained_intensity` on the example's CFM-ID positive MS/MS
spectra (10, 20 and 40 eV merged) with the [M+H]+ precursor. Without the MS term the
candidates of one formula are indistinguishable by mass (expected rank: the middle); the
benchmark reports how often the term lifts the true structure above that, its rank, top-1
and the time per candidate. Target (issue "Mass spectra in the loop"): the true structure
moves up on at least 70% of the molecules.

    python benchmarks/bench_ms_fragments.py [--data PATH] [--decoys 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from rdkit import Chem, RDLogger
from rdkit.Chem.rdMolDescriptors import CalcMolFormula

from mspectmol.chem.formula import formula_mass, get_adduct, parse_formula
from mspectmol.chem.fragments import explained_intensity, fragment_table
from mspectmol.data.sources import moses_smiles, pubchem_chemicals_smiles
from mspectmol.models.precision import cpu_description

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "alberts-example" / "example_data_1.parquet"
CACHE = ROOT / ".cache"
COLUMNS = ["smiles", "molecular_formula", "msms_cfmid_positive_10ev",
           "msms_cfmid_positive_20ev", "msms_cfmid_positive_40ev"]


def same_formula_molecules(formulas: set[str]) -> dict[str, list[str]]:
    """Canonical SMILES of reference molecules with each formula (cached in .cache/)."""
    digest = hashlib.sha256("\n".join(sorted(formulas)).encode()).hexdigest()[:12]
    key = CACHE / f"ms_decoys_{digest}.json"
    if key.is_file():
        return json.loads(key.read_text())
    RDLogger.DisableLog("rdApp.*")
    out: dict[str, set[str]] = {f: set() for f in formulas}
    sources = [*moses_smiles(CACHE / "wheels"),
               *(s for _, s in pubchem_chemicals_smiles(CACHE / "wheels"))]
    for smiles in sources:
        mol = Chem.MolFromSmiles(smiles)
        if mol is not None and (f := CalcMolFormula(mol)) in out:
            out[f].add(Chem.MolToSmiles(mol))
    table = {f: sorted(v) for f, v in out.items()}
    CACHE.mkdir(exist_ok=True)
    key.write_text(json.dumps(table))
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--decoys", type=int, default=100, help="most decoys per molecule")
    args = ap.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found (the transfer validation set lives in "
                         "../shared/, beside the repository)")
    rows = pq.read_table(args.data, columns=COLUMNS).to_pylist()
    decoys = same_formula_molecules({r["molecular_formula"] for r in rows})
    rng = random.Random(0)
    ion = get_adduct("[M+H]+")
    lifted, rel_rank, top1, chance, n_cand = [], [], [], [], 0
    start = time.perf_counter()
    for r in rows:
        true = Chem.MolToSmiles(Chem.MolFromSmiles(r["smiles"]))
        cands = [c for c in decoys.get(r["molecular_formula"], []) if c != true]
        if not cands:
            continue
        rng.shuffle(cands)
        cands = cands[: args.decoys]
        peaks = np.array([p for e in (10, 20, 40) for p in r[f"msms_cfmid_positive_{e}ev"]])
        precursor = ion.ion_mz(formula_mass(parse_formula(r["molecular_formula"])))
        scores = [explained_intensity(fragment_table(s), peaks[:, 0], peaks[:, 1],
                                      precursor_mz=precursor) for s in [true, *cands]]
        s_true, s_dec = scores[0], np.array(scores[1:])
        rank = 1 + (s_dec > s_true).sum() + 0.5 * (s_dec == s_true).sum()
        lifted.append(rank < (len(cands) + 2) / 2)
        rel_rank.append((rank - 1) / len(cands))
        top1.append(rank == 1)
        chance.append(1 / (len(cands) + 1))
        n_cand += len(cands) + 1
    seconds = (time.perf_counter() - start) / max(n_cand, 1)
    cpu = cpu_description()
    print(f"CPU: {cpu}; {len(lifted)} of {len(rows)} molecules have same-formula decoys "
          f"({n_cand} candidates, at most {args.decoys} decoys each)")
    print("| measure | with the MS term | without (random order) |")
    print("|---|---|---|")
    print(f"| true structure above the middle | {np.mean(lifted):.2f} | 0.50 |")
    print(f"| mean relative rank (0 best, 1 worst) | {np.mean(rel_rank):.3f} | 0.500 |")
    print(f"| top-1 | {np.mean(top1):.2f} | {np.mean(chance):.2f} |")
    print(f"| seconds per candidate | {seconds:.4f} | - |")


if __name__ == "__main__":
    main()
