"""The data card's sections on the drug-size part (v2), sizes, the conformer subset and rebuilding.

Every number is computed from the files of ``data/embedded/v2`` (plan, plan report, chunks,
failure reports, index), of v1 and of the conformer subset, so the card follows the build
as chunks arrive (:func:`v2_sections`).
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.data.build import read_plan
from mspectmol.data.build_v2 import V2_CHUNK_SIZE, part_status
from mspectmol.data.conformer_search import ConformerSettings
from mspectmol.data.conformer_set import CONFORMER_DIR, read_conformer_plan

#: Heavy-atom bins of the v2 tables (inclusive bounds).
HEAVY_BINS = ((4, 11), (12, 15), (16, 19), (20, 23), (24, 27), (28, 31), (32, 35), (36, 40))
MB = 1e6
#: Most megabytes the drug-size part may add to the wheel.
WHEEL_BUDGET_MB = 60.0


def _bin(h: int) -> str:
    for low, high in HEAVY_BINS:
        if low <= h <= high:
            return f"{low}-{high}"
    return "other"


def _files_bytes(paths: list[Path]) -> tuple[int, int]:
    """Bytes on disk and deflate-compressed (as in a wheel) of ``paths``."""
    raw = packed = 0
    for p in paths:
        data = p.read_bytes()
        raw += len(data)
        packed += len(zlib.compress(data, 6))
    return raw, packed


def _v2_index(v2: Path) -> list[dict] | None:
    path = v2 / "index.parquet"
    return pq.read_table(path).to_pylist() if path.is_file() else None


def _heavy_section(v1_index: list[dict], plan_heavy: list[int], index: list[dict] | None
                   ) -> list[str]:
    built = Counter(_bin(r["heavy_atoms"]) for r in index or [] if r["part"] == "v2")
    planned = Counter(_bin(h) for h in plan_heavy)
    v1 = Counter(_bin(r["heavy_atoms"]) for r in v1_index)
    out = ["### Heavy atoms", "", "| heavy atoms | v1 | v2 planned | v2 built |",
           "|---|---|---|---|"]
    for low, high in HEAVY_BINS:
        key = f"{low}-{high}"
        out.append(f"| {key} | {v1[key]} | {planned[key]} | {built[key]} |")
    big_v1 = sum(r["heavy_atoms"] >= 16 for r in v1_index)
    big_plan = sum(h >= 16 for h in plan_heavy)
    big_built = sum(r["heavy_atoms"] >= 16 for r in index or [] if r["part"] == "v2")
    out += ["", f"Molecules with 16 or more heavy atoms: {big_v1} in v1, {big_plan} planned "
            f"in v2 ({big_built} built); median heavy atoms of the v2 plan "
            f"{np.median(plan_heavy):.0f}.", ""]
    return out


def _groups_section(report: dict, index: list[dict] | None) -> list[str]:
    rows = [r for r in index or [] if r["part"] == "v2"]
    built = (np.asarray([r["labels"] for r in rows], dtype=int).sum(axis=0) if rows
             else np.zeros(len(GROUP_NAMES), dtype=int))
    target = report["per_group_target"]
    out = ["### Functional groups", "", f"Planned: every group with at least {target} "
           "molecules where the sources hold them (picked rarest group first). Built: in the "
           "finished chunks.", "", "| group | planned | built |", "|---|---|---|"]
    for g, name in enumerate(GROUP_NAMES):
        out.append(f"| {name} | {report['group_coverage'][name]} | {int(built[g])} |")
    below = report.get("groups_below_target", {})
    text = "; ".join(f"{g} ({v['selected']} planned, {v['available']} in the sources)"
                     for g, v in below.items()) or "none"
    out += ["", f"Groups that cannot reach {target}: {text}.", ""]
    return out


def _splits_section(index: list[dict], v1_index: list[dict]) -> list[str]:
    v1_rows = {r["id"]: r for r in v1_index}
    changed = sum(1 for r in index if r["part"] == "v1" and any(
        r[f"split_{s}"] != v1_rows[r["id"]][f"split_{s}"] for s in ("random", "scaffold")))
    out = ["### Splits", "", "The v2 index holds the v1 molecules with their v1 rows copied "
           f"unchanged ({changed} v1 split assignments differ from v1's index) and the "
           "drug-size molecules of the finished chunks. The new molecules' splits are drawn "
           "over the whole v2 plan, so a molecule keeps its split as chunks arrive: `random` "
           "is a seeded 8:1:1 draw; `scaffold` continues v1's Bemis-Murcko split (a scaffold "
           "already in v1 keeps its split, so no scaffold straddles two splits; new scaffold "
           "groups fill the 8:1:1 split of v1 + plan, the large groups into train first); "
           "`size` is appendix K's stress split over v1 + plan: every molecule of at least "
           f"{min(r['heavy_atoms'] for r in index if r['split_size'] == 'test')} heavy atoms "
           "is in test, validation is a seeded random tenth of the others (v1 loaded alone "
           "keeps its own size split, derived from v1's heavy atoms).", "",
           "| split | part | train | val | test |", "|---|---|---|---|---|"]
    for s in ("random", "scaffold", "size"):
        for part in ("v1", "v2"):
            c = Counter(r[f"split_{s}"] for r in index if r["part"] == part)
            out.append(f"| {s} | {part} | {c['train']} | {c['val']} | {c['test']} |")
    return out + [""]


def _simulation_section(v2: Path) -> list[str]:
    files = sorted((v2 / "chunks").glob("*.parquet"))
    if not files:
        return []
    first = pq.read_table(files[0], columns=["provenance"]).column(0)[0].as_py()
    prov = json.loads(first)
    wall = simulated = 0.0
    workers = set()
    for f in files:
        meta = pq.read_schema(f).metadata or {}
        wall += float(meta.get(b"wall_seconds", b"0"))
        simulated += int(meta.get(b"simulated", b"0"))
        workers.add(meta.get(b"n_workers", b"?").decode())
    totals = np.asarray([json.loads(t)["total"] for f in files for t in
                         pq.read_table(f, columns=["timings"]).column(0).to_pylist()])
    return ["### Simulation", "", "The recipe of v1 with the simulator's current defaults "
            "(ETKDG embedding with the stereo checked on the embedded geometry, ASE's "
            "preconditioned L-BFGS); per-atom NMR columns are stored for the training rendering "
            "(`h_atom_shift`, `c_atom_shift`, `atom_class`, `hh_pairs` with `hh_dihedral`: H-H "
            "pairs 2-4 bonds apart and the H-X-Y-H dihedral of 3-bond pairs). The v1 chunks "
            "carry the same columns, computed afterwards from each record's SMILES and stored "
            "geometry (`python scripts/build_dataset.py atom-nmr`; CSP5 is deterministic, so "
            "they group back into the stored peak lists).", "",
            f"- settings: `{json.dumps(prov['settings'], sort_keys=True)}`",
            f"- package versions: `{json.dumps(prov['versions'], sort_keys=True)}`",
            f"- wall time per molecule (single thread, mean / median): {totals.mean():.1f} / "
            f"{np.median(totals):.1f} s",
            f"- build throughput: {int(simulated)} molecules in {wall / 3600:.2f} h, "
            f"{simulated / max(wall, 1e-9):.3f} molecules/s ({' or '.join(sorted(workers))} "
            "single-threaded workers on the 2-core build machine, which ran other work at the "
            "same time)",
            ""]


def _size_section(v1: Path, v2: Path, plan_heavy: list[int], built_heavy: list[int]
                  ) -> list[str]:
    """Sizes now and projected for the whole plan (chunk bytes scale with heavy atoms)."""
    n_planned, n_built = len(plan_heavy), len(built_heavy)
    v1_raw, v1_packed = _files_bytes(sorted((v1 / "chunks").glob("*")) +
                                     [v1 / n for n in ("index.parquet", "plan.csv",
                                                       "plan_report.json")])
    chunk_raw, chunk_packed = _files_bytes(sorted((v2 / "chunks").glob("*")))
    other = [v2 / n for n in ("index.parquet", "plan.csv", "plan_report.json")
             if (v2 / n).is_file()]
    conf = sorted(CONFORMER_DIR.rglob("*")) if CONFORMER_DIR.is_dir() else []
    other_raw, other_packed = _files_bytes(other + [p for p in conf if p.is_file()])
    scale = sum(plan_heavy) / max(sum(built_heavy), 1)
    proj_raw, proj_packed = chunk_raw * scale + other_raw, chunk_packed * scale + other_packed
    return ["## Size", "", "Bytes on disk and deflate-compressed as in a wheel (parquet "
            "chunks are zstd-compressed already):", "",
            "| files | on disk (MB) | in a wheel (MB) |", "|---|---|---|",
            f"| v1 (chunks, index, plan) | {v1_raw / MB:.1f} | {v1_packed / MB:.1f} |",
            f"| v2 chunks built ({n_built} molecules) | {chunk_raw / MB:.1f} | "
            f"{chunk_packed / MB:.1f} |",
            f"| v2 index, plan, conformer subset | {other_raw / MB:.1f} | "
            f"{other_packed / MB:.1f} |",
            f"| v2 projected for the {n_planned} planned molecules | {proj_raw / MB:.1f} | "
            f"{proj_packed / MB:.1f} |", "",
            f"The chunks built take {chunk_raw / max(n_built, 1) / 1e3:.1f} kB per molecule "
            f"({chunk_raw / max(sum(built_heavy), 1):.0f} bytes per heavy atom; the projection "
            "scales that to the plan's heavy atoms, as the first chunks hold the smaller "
            f"molecules of the rare groups). The complete v2 adds about "
            f"{proj_packed / MB:.0f} MB to the wheel. "
            + (f"That is under the {WHEEL_BUDGET_MB:.0f} MB the package allows itself for "
               "new data, so v2 ships in the package like v1 (`pyproject.toml` "
               "package-data): a clone or an installed wheel loads it offline with "
               "`load_dataset(version=\"v2\")`, and nothing is downloaded."
               if proj_packed / MB <= WHEEL_BUDGET_MB else
               f"That is over the {WHEEL_BUDGET_MB:.0f} MB the package allows itself for new "
               "data: v2 has to move out of the wheel."), ""]


def _conformer_section(root: Path) -> list[str]:
    if not (root / "plan.csv").is_file():
        return []
    plan = read_conformer_plan(root)
    report = json.loads((root / "plan_report.json").read_text(encoding="utf-8"))
    files = sorted((root / "chunks").glob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(
        f, columns=["id", "conformer", "molecule_seconds"]).to_pylist()] if files else []
    molecules = {r["id"] for r in rows}
    seconds = [r["molecule_seconds"] for r in rows if r["conformer"] == 0]
    below = ", ".join(f"{g} ({v['selected']})" for g, v in
                      report["groups_below_target"].items()) or "none"
    cs = ConformerSettings()
    out = ["## Conformer-resolved subset", "",
           f"{len(plan)} flexible molecules of the v2 plan (at least "
           f"{report['min_rotatable_bonds']} rotatable bonds, at most "
           f"{report['max_heavy_atoms']} heavy atoms; {report['flexible_in_v2_plan']} "
           "qualify) picked rarest group first up to "
           f"{report['per_group_target']} per group (groups below that: {below}). Each "
           "molecule gets its lowest few GFN2-xTB conformers "
           f"(`mspectmol.data.conformer_search`: {cs.n_embed} ETKDG/MMFF conformers, the "
           f"{cs.n_optimise} lowest by GFN2-xTB single point optimised, duplicates below "
           f"{cs.rmsd_threshold:g} A heavy-atom RMSD merged, at most {cs.n_keep} within "
           f"{cs.window_kcal:g} kcal/mol kept), each with its own geometry, energy, IR and "
           "Raman peak lists, NMR peak lists and per-atom shifts, relative energy and "
           "Boltzmann weight (298.15 K), in `v2/conformers/chunks/conf-NNN.parquet`.", "",
           f"Built: {len(molecules)} molecules, {len(rows)} conformers."]
    if seconds:
        out[-1] += (f" Wall time per molecule (one thread): mean {np.mean(seconds):.0f} s, "
                    f"median {np.median(seconds):.0f} s.")
    return out + [""]


def v2_sections(v1: Path, v2: Path, v1_index: list[dict]) -> list[str]:
    """The card's lines on v2, sizes, the conformer subset and rebuilding."""
    plan = read_plan(v2)
    report = json.loads((v2 / "plan_report.json").read_text(encoding="utf-8"))
    status = part_status(v2, V2_CHUNK_SIZE)
    index = _v2_index(v2)
    n_index = sum(r["part"] == "v2" for r in index) if index else 0
    build = ("complete" if status.chunks_done == status.chunks_planned else
             f"**build in progress: {status.chunks_done} of {status.chunks_planned} chunks**")
    src_plan = Counter(e.source for e in plan)
    src_built = Counter(r["source"] for r in index or [] if r["part"] == "v2")
    out = ["## Version v2: drug-size molecules", "",
           f"Status: {build}; {status.built} of {len(plan)} planned molecules simulated, "
           f"{status.failed} failed, {n_index} in the v2 index. `load_dataset(version=\"v2\")` "
           f"loads v1 and the indexed drug-size molecules together ({len(v1_index) + n_index} "
           "molecules); the default stays v1, so every recorded result stays reproducible.",
           "", f"Molecules of {report['heavy_atoms'][0]}-{report['heavy_atoms'][1]} heavy "
           "atoms, one neutral fragment, elements H C N O F P S Cl Br I, none already in v1, "
           f"drawn with seed {report['seed']} from NCI, the PubChem table and "
           f"{report['n_moses_drawn']} random MOSES training SMILES (licences as above).", "",
           "| source | candidates | planned | built |", "|---|---|---|---|"]
    for s in ("nci", "pubchem", "moses"):
        out.append(f"| {s} | {report['candidates'].get(s, 0)} | {src_plan[s]} | "
                   f"{src_built[s]} |")
    out += [""] + _heavy_section(v1_index, [e.heavy_atoms for e in plan], index)
    out += _groups_section(report, index)
    out += _simulation_section(v2)
    stages = Counter(f["stage"] for f in status.failures)
    rate = 100 * status.failed / max(status.failed + status.built, 1)
    out += ["### Failures", "", f"{status.failed} of {status.failed + status.built} molecules "
            f"of the finished chunks failed ({rate:.1f}%; each with its stage and reason in "
            "`v2/chunks/drug-NNN.failures.csv`)" + (": " + ", ".join(
                f"{k} {v}" for k, v in stages.most_common()) if stages else "") + ".", ""]
    if index:
        out += _splits_section(index, v1_index)
    built_heavy = [r["heavy_atoms"] for r in index or [] if r["part"] == "v2"]
    out += _size_section(v1, v2, [e.heavy_atoms for e in plan], built_heavy)
    out += _conformer_section(CONFORMER_DIR)
    out += ["## Rebuilding", "", "```",
            "python scripts/build_dataset.py plan            # v1 plan (QM9 + 10-16 heavy atoms)",
            "python scripts/build_dataset.py plan-v2         # v2 plan (drug-size)",
            "bash scripts/build_loop.sh 1000 v2 2            # simulate and commit chunk by chunk",
            "python scripts/build_dataset.py finalize        # v1 index",
            "python scripts/build_dataset.py finalize-v2     # v2 index from the chunks built",
            "python scripts/build_dataset.py plan-conformers # the conformer subset's plan",
            "python scripts/build_dataset.py build-conformers --max-chunks 1",
            "bash scripts/build_loop.sh 1000 v2,conformers 2 # both parts, a chunk of each in turn",
            "python scripts/build_dataset.py card            # this card",
            "```", "", "Every step is deterministic (fixed seeds) and resumable: chunks on "
            "disk are skipped, and the simulation cache (`.cache/simulate`, "
            "`.cache/conformers`) keeps the molecules of an interrupted chunk.", ""]
    return out
