"""The conformer-resolved subset of the drug-size dataset: plan and resumable chunked build.

:func:`plan_conformers` picks flexible molecules (at least :data:`MIN_ROTATABLE` rotatable
bonds) from the v2 plan so that the 37 functional groups are covered (the rarest group
first, as the dataset's own selection) and writes ``conformers/plan.csv`` and
``plan_report.json``. :func:`build_conformers` runs
:func:`~mspectmol.data.conformer_search.simulate_conformers` on the plan, chunk by chunk
(``conf-NNN.parquet``: one row per conformer, with the simulator's record columns, the
per-atom NMR columns and ``id``, ``conformer``, ``rel_energy_kcal``, ``boltzmann_weight``,
``n_distinct``, ``molecule_seconds``; failures in ``conf-NNN.failures.csv``). Each
molecule's rows are first written to the cache folder (one parquet file per molecule and
recipe), so an interrupted chunk resumes at the molecule where it stopped.
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mspectmol.data.build import read_plan
from mspectmol.data.conformer_search import ConformerSettings, settings_hash, simulate_conformers
from mspectmol.data.dataset import EMBEDDED_V2_DIR
from mspectmol.data.selection import Candidate, coverage_table, select_covering
from mspectmol.data.simulator.errors import SimulationError
from mspectmol.data.simulator.settings import SimulationSettings
from mspectmol.data.simulator.store import write_records
from mspectmol.data.simulator.workers import die_with_parent
from mspectmol.errors import MspectmolError
from mspectmol.fileio import atomic_write

log = logging.getLogger("mspectmol.build")

#: Folder of the conformer-resolved subset.
CONFORMER_DIR = EMBEDDED_V2_DIR / "conformers"
#: Fewest rotatable bonds (RDKit's strict definition) of a molecule of the subset.
MIN_ROTATABLE = 3
CONFORMER_PLAN_FIELDS = ("id", "source", "name", "smiles", "heavy_atoms", "rotatable_bonds")
FAILURE_FIELDS = ("name", "smiles", "stage", "reason")


@dataclass(frozen=True)
class ConformerEntry:
    """One planned molecule of the subset (``id`` is its id in the v2 plan)."""

    id: str
    source: str
    name: str
    smiles: str
    heavy_atoms: int
    rotatable_bonds: int


def rotatable_bonds(smiles: str) -> int:
    """RDKit's (strict) rotatable-bond count of a SMILES."""
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise MspectmolError(f"invalid SMILES {smiles!r}")
    return int(rdMolDescriptors.CalcNumRotatableBonds(mol))


def plan_conformers(v2_dir: Path = EMBEDDED_V2_DIR, out_dir: Path = CONFORMER_DIR, *,
                    n_molecules: int = 520, per_group: int = 15, max_heavy: int = 30,
                    min_rotatable: int = MIN_ROTATABLE, seed: int = 20261207
                    ) -> list[ConformerEntry]:
    """Choose the subset from ``v2_dir``'s plan and write ``out_dir/plan.csv``.

    Molecules with at least ``min_rotatable`` rotatable bonds and at most ``max_heavy``
    heavy atoms (the cost of a conformer grows steeply with size) are picked rarest group
    first until each group has ``per_group`` molecules or all the flexible ones, then at
    random (``seed``), ``n_molecules`` in all. The plan is in v2 id order.
    """
    from mspectmol.chem.functional_groups import label

    flexible: list[Candidate] = []
    rotors: dict[str, int] = {}
    for e in read_plan(v2_dir):
        n_rot = rotatable_bonds(e.smiles)
        if n_rot >= min_rotatable and e.heavy_atoms <= max_heavy:
            rotors[e.id] = n_rot
            flexible.append(Candidate(e.source, e.id, e.smiles, e.heavy_atoms, label(e.smiles)))
    chosen = sorted(select_covering(flexible, n_molecules, per_group, seed),
                    key=lambda c: c.name)
    names = {e.id: e.name for e in read_plan(v2_dir)}
    entries = [ConformerEntry(c.name, c.source, names[c.name], c.smiles, c.heavy_atoms,
                              rotors[c.name]) for c in chosen]
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "plan.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CONFORMER_PLAN_FIELDS)
        writer.writeheader()
        writer.writerows(asdict(e) for e in entries)
    available = coverage_table(flexible)
    coverage = coverage_table(chosen)
    heavy = np.array([e.heavy_atoms for e in entries])
    report = {
        "seed": seed, "n_molecules": len(entries), "per_group_target": per_group,
        "min_rotatable_bonds": min_rotatable, "max_heavy_atoms": max_heavy,
        "flexible_in_v2_plan": len(flexible),
        "heavy_atoms_median": float(np.median(heavy)) if heavy.size else 0.0,
        "rotatable_bonds": {str(k): int(v) for k, v in zip(
            *np.unique([e.rotatable_bonds for e in entries], return_counts=True),
            strict=True)},
        "group_coverage": coverage,
        "groups_below_target": {g: {"selected": n, "available": available[g]}
                                for g, n in coverage.items() if n < per_group},
    }
    (out_dir / "plan_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return entries


def read_conformer_plan(out_dir: Path = CONFORMER_DIR) -> list[ConformerEntry]:
    """Read ``plan.csv`` of the subset."""
    path = out_dir / "plan.csv"
    if not path.is_file():
        raise MspectmolError(f"{path}: no conformer plan; run the 'plan-conformers' step first")
    with path.open(newline="", encoding="utf-8") as fh:
        return [ConformerEntry(r["id"], r["source"], r["name"], r["smiles"],
                               int(r["heavy_atoms"]), int(r["rotatable_bonds"]))
                for r in csv.DictReader(fh)]


def conformer_chunks(plan: list[ConformerEntry], chunk_size: int
                     ) -> Iterator[tuple[str, list[ConformerEntry]]]:
    """(chunk name ``conf-NNN``, entries) in plan order."""
    for k in range(0, len(plan), chunk_size):
        yield f"conf-{k // chunk_size:03d}", plan[k:k + chunk_size]


def conformer_rows(entry: ConformerEntry, settings: SimulationSettings,
                   conformers: ConformerSettings) -> tuple[list[Any], list[dict[str, Any]]]:
    """Simulate one molecule's conformers: (records, extra columns), one per conformer."""
    started = time.perf_counter()
    results = simulate_conformers(entry.smiles, settings, conformers)
    seconds = round(time.perf_counter() - started, 2)
    extras = [{"id": entry.id, "source": entry.source, "name": entry.name,
               "heavy_atoms": entry.heavy_atoms, "rotatable_bonds": entry.rotatable_bonds,
               "conformer": r.rank, "rel_energy_kcal": r.rel_energy_kcal,
               "boltzmann_weight": r.boltzmann_weight, "n_distinct": r.n_distinct,
               "molecule_seconds": seconds, **r.atom_columns} for r in results]
    return [r.record for r in results], extras


def _molecule_job(entry: ConformerEntry, settings: dict[str, Any], conformers: dict[str, Any],
                  work_dir: str) -> str:
    """Simulate one molecule into ``work_dir/<id>.parquet`` (or ``<id>.failure.json``)."""
    sim, conf = SimulationSettings.from_dict(settings), ConformerSettings(**conformers)
    base = Path(work_dir) / entry.id
    try:
        records, extras = conformer_rows(entry, sim, conf)
    except Exception as exc:  # noqa: BLE001 - every molecule ends as rows or a failure
        stage, reason = ((exc.stage, exc.reason) if isinstance(exc, SimulationError)
                         else ("internal", f"{type(exc).__name__}: {exc}"))
        failure = {"name": entry.id, "smiles": entry.smiles, "stage": stage, "reason": reason}
        atomic_write(base.with_suffix(".failure.json"), json.dumps(failure))
        return "failed"
    write_records(base.with_suffix(".parquet"), records, extras,
                  metadata={"settings_hash": settings_hash(sim, conf)})
    return "done"


def _worker_init(parent: int) -> None:
    """One thread per worker; end when the parent ends."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    die_with_parent(parent)


def _run_molecules(todo: list[ConformerEntry], settings: SimulationSettings,
                   conformers: ConformerSettings, work_dir: Path, n_workers: int) -> None:
    """Simulate ``todo`` into ``work_dir``, in this process or ``n_workers`` processes."""
    args = (settings.to_dict(), asdict(conformers), str(work_dir))
    if n_workers <= 1:
        for e in todo:
            log.info("%s: %s", e.id, _molecule_job(e, *args))
        return
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn"),
                             initializer=_worker_init, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_molecule_job, e, *args): e for e in todo}
        for fut in as_completed(futures):
            log.info("%s: %s", futures[fut].id, fut.result())


def build_conformers(out_dir: Path = CONFORMER_DIR, cache_dir: Path = Path(".cache/conformers"),
                     *, chunk_size: int = 10, n_workers: int = 2, max_chunks: int | None = None,
                     max_molecules: int | None = None,
                     settings: SimulationSettings | None = None,
                     conformers: ConformerSettings | None = None) -> list[Path]:
    """Build the chunks of the subset that are not on disk yet; returns the files written.

    ``max_molecules`` limits the molecules simulated in this run (a chunk is written once all
    its molecules are done, so a limited run may write none).
    """
    settings = settings or SimulationSettings()
    conformers = conformers or ConformerSettings()
    work_dir = cache_dir / settings_hash(settings, conformers)
    work_dir.mkdir(parents=True, exist_ok=True)
    chunk_dir = out_dir / "chunks"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    todo = [(n, part) for n, part in conformer_chunks(read_conformer_plan(out_dir), chunk_size)
            if not (chunk_dir / f"{n}.parquet").is_file()][:max_chunks]
    written, budget = [], max_molecules
    for name, part in todo:
        left = [e for e in part if not (work_dir / f"{e.id}.parquet").is_file()
                and not (work_dir / f"{e.id}.failure.json").is_file()]
        run = left if budget is None else left[:budget]
        log.info("chunk %s: %d of %d molecules to simulate", name, len(run), len(part))
        _run_molecules(run, settings, conformers, work_dir, n_workers)
        if budget is not None:
            budget -= len(run)
        if len(run) < len(left):
            break
        written.append(_write_chunk(chunk_dir, name, part, work_dir,
                                    settings_hash(settings, conformers)))
    return written


def _write_chunk(chunk_dir: Path, name: str, part: list[ConformerEntry], work_dir: Path,
                 recipe: str) -> Path:
    """Gather the molecules of a chunk from the work folder into the chunk's files."""
    tables, failures = [], []
    for e in part:
        path = work_dir / f"{e.id}.parquet"
        if path.is_file():
            tables.append(pq.read_table(path))
        else:
            failures.append(json.loads((work_dir / f"{e.id}.failure.json").read_text("utf-8")))
    with (chunk_dir / f"{name}.failures.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FAILURE_FIELDS)
        writer.writeheader()
        writer.writerows(failures)
    table = (pa.concat_tables(tables, promote_options="permissive") if tables
             else pa.table({"id": pa.array([], pa.string())}))
    meta = dict(tables[0].schema.metadata or {}) if tables else {b"format": b""}
    meta.update({b"chunk": name.encode(), b"settings_hash": recipe.encode(),
                 b"molecules": str(len(part) - len(failures)).encode()})
    path = chunk_dir / f"{name}.parquet"
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd",
                   compression_level=9)
    tmp.replace(path)
    return path
