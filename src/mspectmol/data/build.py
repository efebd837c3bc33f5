"""Build the embedded dataset: plan the molecules, simulate them chunk by chunk.

The build is resumable and can span several runs on different machines:

1. :func:`make_plan` draws the molecules once (fixed seeds) and writes ``plan.csv``: QM9
   molecules with their isomeric SMILES (stereo from the DFT geometry) and molecules of 10-16
   heavy atoms from NCI, the PubChem table of the ``chemicals`` package and MOSES, chosen to
   cover the 37 functional groups.
2. :func:`build_chunks` simulates the plan in chunks of ``chunk_size`` molecules; each
   finished chunk is one parquet file (records + id, source, reference DFT geometry and
   frequencies for QM9) plus a CSV of its failures, ready to be committed. Chunks already on
   disk are skipped; molecules already in the simulation cache are not simulated again.
3. :func:`finalize_index` writes the first part's index with its labels and splits; the
   drug-size part (:func:`make_plan_v2`, folder :data:`V2_DIR`) gets its index, which also
   holds the first part's molecules, from :mod:`mspectmol.data.build_v2`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.data.qm9_geometry import qm9_smiles_and_coords
from mspectmol.data.selection import candidates_from, coverage_table, select_covering
from mspectmol.data.simulator.nmr_atoms import atom_nmr_columns
from mspectmol.data.simulator.runner import MoleculeTask, run_simulations
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.data.simulator.store import write_records
from mspectmol.data.sources import (
    iter_qm9,
    moses_smiles,
    nci_smiles,
    pubchem_chemicals_smiles,
    sample_qm9,
)
from mspectmol.errors import MspectmolError

log = logging.getLogger("mspectmol.build")

EMBEDDED_DIR = Path(__file__).parent / "embedded"
PLAN_FIELDS = ("id", "source", "name", "smiles", "qm9_index", "heavy_atoms")


@dataclass(frozen=True)
class PlanEntry:
    """One planned molecule."""

    id: str
    source: str
    name: str
    smiles: str
    qm9_index: int
    heavy_atoms: int


def make_plan(out_dir: Path, *, n_qm9: int = 4200, n_ext: int = 2200, per_group: int = 30,
              seed: int = 20261126, wheel_cache: Path, n_moses: int = 300_000) -> list[PlanEntry]:
    """Draw the dataset's molecules and write ``plan.csv`` and ``plan_report.json``."""
    from rdkit import Chem

    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[PlanEntry] = []
    skipped: list[str] = []
    # QM9: draw extra molecules so that those whose geometry does not match their SMILES
    # (strained cages with extra close contacts, ~7%) can be skipped and reported
    for entry in sample_qm9(int(n_qm9 * 1.15), seed):
        if len(entries) >= n_qm9:
            break
        try:
            smiles, _ = qm9_smiles_and_coords(entry)
        except MspectmolError as exc:
            skipped.append(str(exc))
            continue
        heavy = sum(e != "H" for e in entry.elements)
        entries.append(PlanEntry(f"qm9-{entry.index:06d}", "qm9", f"QM9:{entry.index}",
                                 smiles, entry.index, heavy))
    if len(entries) < n_qm9:
        raise MspectmolError(f"only {len(entries)} usable QM9 molecules of {n_qm9} drawn")
    qm9_keys = {Chem.MolToSmiles(Chem.MolFromSmiles(e.smiles), isomericSmiles=False)
                for e in entries}
    rng = np.random.default_rng(seed)
    moses = moses_smiles(wheel_cache)
    pick = rng.choice(len(moses), size=min(n_moses, len(moses)), replace=False)
    pools = [
        candidates_from("nci", nci_smiles(), 10, 16),
        candidates_from("pubchem", pubchem_chemicals_smiles(wheel_cache), 10, 16),
        candidates_from("moses", ((f"MOSES:{i}", moses[i]) for i in sorted(pick)), 10, 16),
    ]
    candidates = _unique(pools)
    chosen = select_covering(candidates, n_ext, per_group, seed, exclude=qm9_keys)
    for k, cand in enumerate(chosen):
        entries.append(PlanEntry(f"ext-{k:05d}", cand.source, cand.name, cand.smiles, -1,
                                 cand.heavy_atoms))
    _write_plan(out_dir, entries)
    report = {
        "seed": seed, "n_qm9": n_qm9, "n_ext": len(chosen), "per_group_target": per_group,
        "qm9_skipped": skipped,
        "candidates": {p[0].source if p else "?": len(p) for p in pools},
        "ext_sources": {s: sum(c.source == s for c in chosen) for s in ("nci", "pubchem",
                                                                        "moses")},
        "ext_group_coverage": coverage_table(chosen),
    }
    (out_dir / "plan_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return entries


#: Folder of the dataset's second part: drug-size molecules (12-40 heavy atoms), planned and
#: built apart so that the first part's chunks, index and splits stay as they are.
V2_DIR = EMBEDDED_DIR / "v2"


def make_plan_v2(out_dir: Path, *, n_molecules: int = 8000, per_group: int = 100,
                 min_heavy: int = 12, max_heavy: int = 40, seed: int = 20261206,
                 wheel_cache: Path, n_moses: int = 400_000,
                 exclude_plan: Path | None = EMBEDDED_DIR) -> list[PlanEntry]:
    """Draw the drug-size molecules of the dataset's second part; write ``plan.csv``.

    Candidates of ``min_heavy``-``max_heavy`` heavy atoms from NCI, the PubChem table of the
    ``chemicals`` package and a random ``n_moses`` of the MOSES training SMILES are picked
    rarest group first until each of the 37 groups has ``per_group`` molecules (or all the
    sources hold), then at random; molecules of ``exclude_plan``'s plan are left out. The
    plan is ordered as picked, so the first chunks hold the rare groups. Ids are
    ``drug-NNNNN``; ``plan_report.json`` says which groups could not reach ``per_group``.
    """
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    out_dir.mkdir(parents=True, exist_ok=True)
    exclude: set[str] = set()
    if exclude_plan is not None and (exclude_plan / "plan.csv").is_file():
        for e in read_plan(exclude_plan):
            mol = Chem.MolFromSmiles(e.smiles)
            if mol is not None:
                exclude.add(Chem.MolToSmiles(mol))
    rng = np.random.default_rng(seed)
    moses = moses_smiles(wheel_cache)
    pick = rng.choice(len(moses), size=min(n_moses, len(moses)), replace=False)
    pools = [
        candidates_from("nci", nci_smiles(), min_heavy, max_heavy),
        candidates_from("pubchem", pubchem_chemicals_smiles(wheel_cache), min_heavy,
                        max_heavy),
        candidates_from("moses", ((f"MOSES:{i}", moses[i]) for i in sorted(pick)),
                        min_heavy, max_heavy),
    ]
    candidates = _unique(pools)
    chosen = select_covering(candidates, n_molecules, per_group, seed, exclude=exclude)
    entries = [PlanEntry(f"drug-{k:05d}", c.source, c.name, c.smiles, -1, c.heavy_atoms)
               for k, c in enumerate(chosen)]
    _write_plan(out_dir, entries)
    available = coverage_table(candidates)
    coverage = coverage_table(chosen)
    heavy = np.array([c.heavy_atoms for c in chosen])
    report = {
        "seed": seed, "n_molecules": len(chosen), "per_group_target": per_group,
        "heavy_atoms": [min_heavy, max_heavy], "n_moses_drawn": int(pick.size),
        "excluded_v1": len(exclude),
        "candidates": {p[0].source if p else "?": len(p) for p in pools},
        "sources": {s: sum(c.source == s for c in chosen) for s in ("nci", "pubchem", "moses")},
        "heavy_atoms_16_or_more": int((heavy >= 16).sum()),
        "heavy_atoms_median": float(np.median(heavy)) if heavy.size else 0.0,
        "group_coverage": coverage,
        "groups_below_target": {g: {"selected": n, "available": available[g]}
                                for g, n in coverage.items() if n < per_group},
    }
    (out_dir / "plan_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return entries


def _write_plan(out_dir: Path, entries: list[PlanEntry]) -> None:
    with (out_dir / "plan.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=PLAN_FIELDS)
        writer.writeheader()
        for e in entries:
            writer.writerow(asdict(e))


def _unique(pools: list[list[Any]]) -> list[Any]:
    """The candidates of all pools, the first of each SMILES only, in pool order."""
    seen: set[str] = set()
    out = []
    for pool in pools:
        for cand in pool:
            if cand.smiles not in seen:
                seen.add(cand.smiles)
                out.append(cand)
    return out


def read_plan(out_dir: Path) -> list[PlanEntry]:
    """Read ``plan.csv``."""
    path = out_dir / "plan.csv"
    if not path.is_file():
        raise MspectmolError(f"{path}: no plan; run the 'plan' step first")
    with path.open(newline="", encoding="utf-8") as fh:
        return [PlanEntry(r["id"], r["source"], r["name"], r["smiles"], int(r["qm9_index"]),
                          int(r["heavy_atoms"])) for r in csv.DictReader(fh)]


def chunk_plan(plan: list[PlanEntry], chunk_size: int) -> Iterator[tuple[str, list[PlanEntry]]]:
    """(chunk name, entries): QM9 chunks first, then the others, in plan order.

    Chunks are named by part: ``qm9-NNN`` (QM9 molecules), ``ext-NNN`` (the first part's
    other molecules) and ``drug-NNN`` (the second part's, ids ``drug-*``).
    """
    parts: dict[str, list[PlanEntry]] = {"qm9": [], "ext": [], "drug": []}
    for e in plan:
        key = "qm9" if e.source == "qm9" else ("drug" if e.id.startswith("drug-") else "ext")
        parts[key].append(e)
    for prefix, part in parts.items():
        for k in range(0, len(part), chunk_size):
            yield f"{prefix}-{k // chunk_size:03d}", part[k:k + chunk_size]


def build_chunks(out_dir: Path, cache_dir: Path, *, chunk_size: int = 200, n_workers: int = 2,
                 max_chunks: int | None = None, settings: SimulationSettings | None = None,
                 progress: bool = True, atom_nmr: bool = False) -> list[Path]:
    """Simulate the chunks of the plan that are not on disk yet; returns the files written.

    With ``atom_nmr`` each row also gets the per-atom NMR columns of
    :func:`~mspectmol.data.simulator.nmr_atoms.atom_nmr_columns` (for multiplet rendering).
    """
    settings = settings or SimulationSettings()
    plan = read_plan(out_dir)
    chunk_dir = out_dir / "chunks"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    todo = [(name, part) for name, part in chunk_plan(plan, chunk_size)
            if not (chunk_dir / f"{name}.parquet").is_file()]
    if max_chunks is not None:
        todo = todo[:max_chunks]
    if not todo:
        return []
    needed = {e.qm9_index for _, part in todo for e in part if e.qm9_index >= 0}
    qm9 = {m.index: m for m in iter_qm9() if m.index in needed} if needed else {}
    written = []
    for name, part in todo:
        tasks, extras = [], {}
        for e in part:
            coords = None
            extra = {"id": e.id, "source": e.source, "name": e.name,
                     "heavy_atoms": e.heavy_atoms, "ref_coordinates": None,
                     "ref_frequencies": None}
            if e.qm9_index >= 0:
                ref = qm9[e.qm9_index]
                smiles, coords = qm9_smiles_and_coords(ref)
                if smiles != e.smiles:
                    raise MspectmolError(f"{e.id}: QM9 SMILES changed since planning")
                extra["ref_coordinates"] = coords.ravel().tolist()
                extra["ref_frequencies"] = ref.harmonic_freqs.tolist()
            tasks.append(MoleculeTask(e.id, e.smiles, coords))
            extras[e.id] = extra
        log.info("chunk %s: %d molecules", name, len(tasks))
        started = time.perf_counter()
        report = run_simulations(tasks, settings, cache_dir=cache_dir, n_workers=n_workers,
                                 progress=progress)
        wall = time.perf_counter() - started
        ids = [t.name for t in tasks if t.name in report.records]
        if atom_nmr:
            for i in ids:
                rec = report.records[i]
                extras[i].update(atom_nmr_columns(rec.smiles, rec.coordinates))
        path = chunk_dir / f"{name}.parquet"
        report.write_failures(chunk_dir / f"{name}.failures.csv")
        write_records(path, (report.records[i] for i in ids), (extras[i] for i in ids),
                      metadata={"chunk": name, "settings_hash": settings.stable_hash(),
                                "wall_seconds": f"{wall:.1f}", "n_workers": str(n_workers),
                                "simulated": str(len(tasks) - report.from_cache),
                                "cpu_count": str(os.cpu_count())})
        log.info("chunk %s: %d records, %d failures -> %s", name, len(ids),
                 len(report.failures), path)
        written.append(path)
    return written


SPLIT_SEED = 20261126


def finalize_index(out_dir: Path, seed: int = SPLIT_SEED) -> Path:
    """Write ``index.parquet``: ids, canonical SMILES, labels and the fixed splits.

    Labels are computed from the canonical SMILES with the 37 SMARTS; the random (8:1:1) and
    Bemis-Murcko scaffold splits are drawn with ``seed`` over all molecules in the chunks.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mspectmol.chem.functional_groups import label
    from mspectmol.data.dataset import read_chunks
    from mspectmol.data.splits import random_split, scaffold_split

    table = read_chunks(out_dir, ["id", "source", "canonical_smiles", "heavy_atoms"])
    order = np.argsort(np.asarray(table.column("id").to_pylist()), kind="stable")
    table = table.take(pa.array(order))
    smiles = table.column("canonical_smiles").to_pylist()
    labels = [label(s).tolist() for s in smiles]
    index = pa.table({
        "id": table.column("id"),
        "smiles": pa.array(smiles),
        "source": table.column("source"),
        "heavy_atoms": table.column("heavy_atoms"),
        "labels": pa.array(labels, type=pa.list_(pa.uint8())),
        "split_random": pa.array(random_split(len(smiles), seed)),
        "split_scaffold": pa.array(scaffold_split(smiles, seed)),
    })
    index = index.replace_schema_metadata({"split_seed": str(seed),
                                           "label_version": "functional_groups_v1"})
    path = out_dir / "index.parquet"
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(index, tmp, compression="zstd")
    tmp.replace(path)
    return path
