"""Render the embedded dataset's data card (markdown) from the files that ship with it.

Every number in the card is computed here from the chunks, the index, the plan report and
the failure reports, so the card can be regenerated after each build step
(``python scripts/build_dataset.py card``).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.data.build import chunk_plan, read_plan
from mspectmol.data.card_v2 import v2_sections
from mspectmol.data.dataset import BROADENING, EMBEDDED_DIR, EMBEDDED_V2_DIR, read_chunks
from mspectmol.data.validation import compare_frequencies

SOURCES = {
    "qm9": "QM9 (Ramakrishnan et al. 2014, CC0) through the `qm9pack` wheel (MIT): SMILES, "
           "B3LYP/6-31G(2df,p) geometries and harmonic frequencies",
    "pubchem": "PubChem identifier table shipped in the `chemicals` wheel (MIT; PubChem data "
               "are public domain)",
    "nci": "NCI open database sample shipped with RDKit (`Data/NCI/first_5K.smi`)",
    "moses": "MOSES benchmark set (Polykovskiy et al. 2020, MIT; a ZINC subset) read from the "
             "`molsets` wheel",
}


def _failures(root: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted((root / "chunks").glob("*.failures.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows.extend(csv.DictReader(fh))
    return rows


def _throughput(root: Path) -> list[str]:
    """Build throughput from the chunks' metadata (wall time, workers, molecules simulated)."""
    rows = {"qm9": [0.0, 0], "ext": [0.0, 0]}
    for path in sorted((root / "chunks").glob("*.parquet")):
        meta = pq.read_schema(path).metadata or {}
        if b"wall_seconds" not in meta:
            continue
        kind = "qm9" if path.name.startswith("qm9") else "ext"
        rows[kind][0] += float(meta[b"wall_seconds"])
        rows[kind][1] += int(meta[b"simulated"])
    lines = []
    for kind, (wall, n) in rows.items():
        if n:
            lines.append(f"- {'QM9' if kind == 'qm9' else 'others'}: {n} molecules in "
                         f"{wall / 60:.1f} min, {n / wall:.2f} molecules/s")
    if not lines:
        return []
    return ["Build throughput (2 single-threaded workers on the 2-core build machine, which "
            "also ran other jobs part of the time; chunks built before timing was recorded are "
            "not counted):", "", *lines, ""]


def render_data_card(root: Path = EMBEDDED_DIR, extra: Path | None = None,
                     v2: Path | None = EMBEDDED_V2_DIR) -> str:
    """The data card of the dataset folder ``root`` (v1) and of the drug-size part ``v2``.

    Parameters
    ----------
    root
        The v1 dataset folder.
    extra
        A markdown file (e.g. the saved output of ``benchmarks/bench_simulator.py``) included
        verbatim as the section "Simulator throughput benchmark".
    v2
        The drug-size part's folder; its sections (:func:`~mspectmol.data.card_v2.v2_sections`)
        follow v1's when it holds a plan.
    """
    index = pq.read_table(root / "index.parquet").to_pylist()
    chunks = read_chunks(root, ["id", "source", "frequencies", "ref_frequencies", "timings",
                                "provenance", "n_imaginary", "warnings", "h_ok", "c_ok"])
    recs = chunks.to_pylist()
    plan = read_plan(root)
    report = json.loads((root / "plan_report.json").read_text(encoding="utf-8"))
    n_chunks = len(list(chunk_plan(plan, 200)))
    done_chunks = len(list((root / "chunks").glob("*.parquet")))
    failures = _failures(root)
    src = Counter(r["source"] for r in index)
    labels = np.asarray([r["labels"] for r in index], dtype=int)
    heavy = np.asarray([r["heavy_atoms"] for r in index])
    prov = json.loads(recs[0]["provenance"]) if recs else {"settings": {}, "versions": {}}
    out = ["# Data card: the mspectmol embedded dataset", ""]
    status = ("complete" if done_chunks == n_chunks else
              f"**build in progress: {done_chunks} of {n_chunks} chunks**")
    out += [f"Status: {status}. {len(index)} molecules with simulated IR, Raman, 1H-NMR and "
            f"13C-NMR peak lists and GFN2-xTB geometries ({len(plan)} planned).", ""]
    with_v2 = v2 is not None and (v2 / "plan.csv").is_file()
    if with_v2:
        out += ["Two versions ship: **v1** (described first; the default of `load_dataset`, "
                "used by every recorded result) and **v2** (v1 plus drug-size molecules of "
                "12-40 heavy atoms; section \"Version v2\" below).", ""]
    out += ["## Sources and licences", "", "| source | molecules | description |",
            "|---|---|---|"]
    for key, text in SOURCES.items():
        out.append(f"| {key} | {src.get(key, 0)} | {text} |")
    out += ["", f"QM9 molecules were drawn uniformly at random with seed {report['seed']}; "
            f"{len(report['qm9_skipped'])} drawn QM9 entries were skipped because the "
            "connectivity perceived from their DFT geometry does not match their SMILES "
            "(strained cages). Non-QM9 molecules have 10-16 heavy atoms, one neutral fragment, "
            "elements H C N O F P S Cl Br I, and were picked group by group, rarest group "
            f"first, up to {report['per_group_target']} molecules per group, then at random. "
            "For QM9 molecules the stereochemistry is taken from the DFT geometry and the "
            "GFN2-xTB optimisation starts from it, so spectra and the reference conformation "
            "(`ref_coordinates`) describe the same conformer; other molecules start from "
            "ETKDG + MMFF conformers re-ranked by GFN2-xTB.", ""]
    out += ["## Functional groups (37, paper Table 5)", "",
            "| group | molecules | QM9 | other |", "|---|---|---|---|"]
    is_qm9 = np.asarray([r["source"] == "qm9" for r in index])
    for g, name in enumerate(GROUP_NAMES):
        col = labels[:, g] if len(labels) else np.zeros(0)
        out.append(f"| {name} | {int(col.sum())} | {int(col[is_qm9].sum())} | "
                   f"{int(col[~is_qm9].sum())} |")
    rare = [n for g, n in enumerate(GROUP_NAMES) if len(labels) and labels[:, g].sum() < 20]
    out += ["", "Groups with fewer than 20 molecules: " + (", ".join(rare) or "none") +
            ". Thials (thioaldehydes) are unstable and almost absent from every source "
            "available here.", ""]
    out += ["## Heavy atoms", "", "| heavy atoms | molecules |", "|---|---|"]
    for k, v in sorted(Counter(heavy.tolist()).items()):
        out.append(f"| {k} | {v} |")
    out += ["", "## Simulation", ""]
    out += [f"- settings (hash `{chunks.schema.metadata.get(b'settings_hash', b'').decode()}`"
            f"): `{json.dumps(prov['settings'], sort_keys=True)}`",
            f"- package versions: `{json.dumps(prov['versions'], sort_keys=True)}`",
            "- geometry: GFN2-xTB (tblite) optimisation with ASE BFGS; if a mode is below "
            "-20 cm-1, displace along it and re-optimise (at most 3 rounds)",
            "- IR: harmonic frequencies from the finite-difference Hessian of analytic "
            "gradients, intensities (km/mol) from dipole derivatives",
            "- Raman: activities (A^4/amu) from polarisability derivatives under static fields",
            "- NMR: CSP5 1H and 13C shifts on the GFN2-xTB geometry, equivalent atoms merged",
            "- broadening on load (`mspectmol.data.dataset.BROADENING`): " +
            ", ".join(f"{m} {s} FWHM {w:g}" for m, (s, w) in BROADENING.items()), ""]
    if recs:
        total = np.asarray([json.loads(r["timings"]).get("total", np.nan) for r in recs])
        q = np.asarray([r["source"] == "qm9" for r in recs])
        n_imag = sum(r["n_imaginary"] > 0 for r in recs)
        out += ["Single-thread wall time per molecule during the build (mean / median, s; two "
                "workers shared the 2-core build machine with other work, so these are upper "
                "bounds; see `benchmarks/bench_simulator.py` for throughput):", "",
                f"- QM9: {np.nanmean(total[q]):.2f} / {np.nanmedian(total[q]):.2f}",
                "- others (10-16 heavy atoms): "
                + (f"{np.nanmean(total[~q]):.2f} / {np.nanmedian(total[~q]):.2f}"
                   if (~q).any() else "not built yet"),
                f"- molecules with a mode below -20 cm-1 left after 3 rounds: {n_imag}",
                f"- failed NMR predictions: 1H {sum(not r['h_ok'] for r in recs)}, "
                f"13C {sum(not r['c_ok'] for r in recs)}", ""]
    out += _throughput(root)
    if extra is not None and Path(extra).is_file():
        out += ["### Simulator throughput benchmark", "",
                Path(extra).read_text(encoding="utf-8").strip(), ""]
    out += ["## Failures", "", f"{len(failures)} planned molecules could not be simulated "
            "(each listed with its stage and reason in `chunks/*.failures.csv`):", ""]
    for stage, k in Counter(f["stage"] for f in failures).most_common():
        out.append(f"- {stage}: {k}")
    qm9 = [r for r in recs if r["source"] == "qm9" and r["ref_frequencies"]]
    if qm9:
        val = compare_frequencies([r["frequencies"] for r in qm9],
                                  [r["ref_frequencies"] for r in qm9])
        out += ["", "## Frequency validation against QM9 (B3LYP harmonic)", "",
                "GFN2-xTB harmonic frequencies against QM9's DFT harmonic frequencies of the "
                "same molecules, sorted and compared mode by mode:", "", val.to_markdown()]
    split_rows = Counter((s, r[f"split_{s}"]) for r in index for s in ("random", "scaffold"))
    out += ["", "## Splits", "", "Fixed random 8:1:1 and Bemis-Murcko scaffold splits (seed "
            "20261126; scaffold groups larger than half the validation set go to train first).",
            "", "| split | train | val | test |", "|---|---|---|---|"]
    for s in ("random", "scaffold"):
        out.append(f"| {s} | {split_rows[(s, 'train')]} | {split_rows[(s, 'val')]} | "
                   f"{split_rows[(s, 'test')]} |")
    if with_v2:
        out += ["", *v2_sections(root, v2, index)]
        while out[-1] == "":
            out.pop()
    return "\n".join(out) + "\n"
