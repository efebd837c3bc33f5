"""Summaries and tables of the conformer benchmark (see :mod:`mspectmol.conformers.benchmark`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

COVERAGE_THRESHOLD = 0.5
LABELS = {
    "etkdg": "RDKit ETKDG", "etkdg_mmff": "RDKit ETKDG + MMFF", "openbabel": "Open Babel",
    "spectrum_match": "ETKDG + MMFF, IR-matched pick",
    "pa_ib_noise": "Diffusion + PA-IB, from noise", "pa_ib_refine": "Diffusion + PA-IB, refine",
    "none_noise": "Diffusion, no spectra, from noise",
    "none_refine": "Diffusion, no spectra, refine",
    "attention_noise": "Diffusion + attention, from noise",
    "attention_refine": "Diffusion + attention, refine",
    "pa_ib_rank": "ETKDG + MMFF, pick by PA-IB diffusion score",
    "none_rank": "ETKDG + MMFF, pick by no-spectra diffusion score",
    "attention_rank": "ETKDG + MMFF, pick by attention diffusion score",
}
#: Paired comparisons reported with bootstrap intervals: (method, against).
COMPARISONS = (("pa_ib_rank", "etkdg_mmff"), ("pa_ib_rank", "none_rank"),
               ("pa_ib_rank", "attention_rank"), ("pa_ib_refine", "etkdg_mmff"),
               ("pa_ib_refine", "none_refine"),
               ("pa_ib_refine", "attention_refine"), ("pa_ib_noise", "none_noise"),
               ("pa_ib_noise", "etkdg_mmff"), ("spectrum_match", "etkdg_mmff"))


def _stats(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    first = np.array([r[key][0] for r in rows])
    best = np.array([min(r[key]) for r in rows])
    return {"mean_best1": float(first.mean()), "median_best1": float(np.median(first)),
            "mean_bestN": float(best.mean()), "median_bestN": float(np.median(best)),
            "coverage": float((best < COVERAGE_THRESHOLD).mean())}


def _bootstrap(diff: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, (n, diff.size))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(rows: dict[str, list[dict[str, Any]]], cfg: dict[str, int],
              match_ids: list[str]) -> dict[str, Any]:
    """Per-method statistics, flexibility breakdown and paired comparisons.

    A molecule on which any method failed (rows with ``failed``) is left out of every method's
    statistics, so that all rows of the table describe the same molecules (the IR-matched pick
    covers a subset); the failures are counted per method.
    """
    failed = {m: [r["id"] for r in rs if "failed" in r] for m, rs in rows.items()}
    bad = {i for ids in failed.values() for i in ids}
    rows = {m: [r for r in rs if r["id"] not in bad] for m, rs in rows.items()}
    methods: dict[str, Any] = {}
    for method, rs in rows.items():
        if not rs:
            continue
        entry: dict[str, Any] = {"label": LABELS.get(method, method), "n_molecules": len(rs),
                                 "n_failed": len(failed[method]),
                                 "dft": _stats(rs, "rmsd_dft"), "gfn2": _stats(rs, "rmsd_gfn2"),
                                 "stereo_ok": float(np.mean([np.mean(r["stereo_ok"])
                                                             for r in rs])),
                                 "seconds_per_molecule": float(np.mean([r["seconds"]
                                                                        for r in rs]))}
        if "scores" in rs[0]:
            ranked = [r["rmsd_dft"][int(np.argmin(r["scores"]))] for r in rs]
            entry["dft"]["mean_ranked"] = float(np.mean(ranked))
            entry["mirrored"] = float(np.mean([np.mean(r["mirrored"]) for r in rs]))
            entry["t_start"] = rs[0]["t_start"]
        flex = {}
        for name, lo, hi in (("0", 0, 0), ("1", 1, 1), ("2+", 2, 10**6)):
            sel = [r["rmsd_dft"][0] for r in rs if lo <= r["rotatable"] <= hi]
            flex[name] = {"n": len(sel), "mean_best1": float(np.mean(sel)) if sel else None}
        entry["by_rotatable_bonds"] = flex
        methods[method] = entry
    by_id = {m: {r["id"]: r for r in rs} for m, rs in rows.items()}
    comparisons = []
    for a, b in COMPARISONS:
        if a not in by_id or b not in by_id:
            continue
        ids = [i for i in by_id[a] if i in by_id[b]]
        if not ids:
            continue
        diff = np.array([by_id[a][i]["rmsd_dft"][0] - by_id[b][i]["rmsd_dft"][0] for i in ids])
        lo, hi = _bootstrap(diff)
        comparisons.append({"method": a, "against": b, "n": len(ids),
                            "mean_diff_best1": float(diff.mean()), "ci95": [lo, hi],
                            "better_fraction": float((diff < -1e-3).mean()),
                            "worse_fraction": float((diff > 1e-3).mean())})
    subset = {}
    if "etkdg_mmff" in by_id and match_ids:
        ids = [i for i in match_ids if i in by_id["etkdg_mmff"]]
        if ids:
            subset = {"n": len(ids), "etkdg_mmff_mean_best1":
                      float(np.mean([by_id["etkdg_mmff"][i]["rmsd_dft"][0] for i in ids]))}
    return {"methods": methods, "comparisons": comparisons, "match_subset": subset,
            "n_samples": cfg["n_samples"], "excluded_molecules": sorted(bad)}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def write_outputs(out: Path, summary: dict[str, Any], info: dict[str, Any]) -> None:
    """``table.md``, ``results.csv`` and ``results.json`` in ``out``."""
    n = summary["n_samples"]
    lines = [f"# Conformer generation on held-out QM9 molecules (scaffold split, N = {n})", "",
             "Heavy-atom RMSD (A) after symmetry-aware alignment (RDKit GetBestRMS); best-of-1 "
             "is the first sample, ranked is the sample with the lowest model score; coverage "
             f"is the fraction of molecules with best-of-{n} < {COVERAGE_THRESHOLD} A. Stereo "
             "from the DFT geometry is given to every method.", "",
             *([f"Left out of every row: {len(summary['excluded_molecules'])} molecule(s) on "
                "which some method failed (see results.json).", ""]
               if summary.get("excluded_molecules") else []),
             f"| Method | n | DFT mean best-of-1 | median best-of-1 | mean best-of-{n} | "
             f"median best-of-{n} | coverage | ranked | GFN2 mean best-of-1 | GFN2 mean "
             f"best-of-{n} | rot 0 | rot 1 | rot 2+ | stereo ok | s/mol |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    csv_rows = []
    for method, e in summary["methods"].items():
        d, g, f = e["dft"], e["gfn2"], e["by_rotatable_bonds"]
        lines.append(f"| {e['label']} | {e['n_molecules']} | {_fmt(d['mean_best1'])} | "
                     f"{_fmt(d['median_best1'])} | {_fmt(d['mean_bestN'])} | "
                     f"{_fmt(d['median_bestN'])} | {d['coverage']:.2f} | "
                     f"{_fmt(d.get('mean_ranked'))} | {_fmt(g['mean_best1'])} | "
                     f"{_fmt(g['mean_bestN'])} | {_fmt(f['0']['mean_best1'])} | "
                     f"{_fmt(f['1']['mean_best1'])} | {_fmt(f['2+']['mean_best1'])} | "
                     f"{e['stereo_ok']:.2f} | {e['seconds_per_molecule']:.2f} |")
        csv_rows.append({"method": method, "n": e["n_molecules"], "n_failed": e["n_failed"],
                         **{f"dft_{k}": v for k, v in d.items()},
                         **{f"gfn2_{k}": v for k, v in g.items()},
                         **{f"rot{k}_mean_best1": v["mean_best1"] for k, v in f.items()},
                         **{f"rot{k}_n": v["n"] for k, v in f.items()},
                         "stereo_ok": e["stereo_ok"], "mirrored": e.get("mirrored"),
                         "t_start": e.get("t_start"),
                         "seconds_per_molecule": e["seconds_per_molecule"]})
    if summary["match_subset"]:
        s = summary["match_subset"]
        lines += ["", f"The IR-matched pick runs on the first {s['n']} molecules only; ETKDG + "
                      f"MMFF's mean best-of-1 on that subset: {s['etkdg_mmff_mean_best1']:.3f} A."]
    if summary["comparisons"]:
        lines += ["", "Paired differences of best-of-1 RMSD to DFT (negative: the first method "
                      "is better), with 95% bootstrap intervals:", "",
                  "| Method | against | n | mean difference | 95% CI | better | worse |",
                  "|---|---|---|---|---|---|---|"]
        for c in summary["comparisons"]:
            lines.append(f"| {LABELS.get(c['method'], c['method'])} | "
                         f"{LABELS.get(c['against'], c['against'])} | {c['n']} | "
                         f"{c['mean_diff_best1']:+.3f} | [{c['ci95'][0]:+.3f}, "
                         f"{c['ci95'][1]:+.3f}] | {c['better_fraction']:.2f} | "
                         f"{c['worse_fraction']:.2f} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    if csv_rows:
        keys = list(dict.fromkeys(k for r in csv_rows for k in r))
        with (out / "results.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(csv_rows)
    (out / "results.json").write_text(json.dumps({"info": info, **summary}, indent=1) + "\n")
