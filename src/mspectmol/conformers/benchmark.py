"""``mspectmol benchmark --suite conformers``: conformer generation on held-out QM9 molecules.

Protocol
--------
* Molecules: the QM9 molecules of the scaffold split's test part, a seeded subset of
  ``n_test`` (default 150; ``--set n_test=...``). Every generator gets the record's isomeric
  SMILES, whose stereo was taken from the DFT geometry.
* N = 5 conformers per molecule and method (``--set n_samples=...``); molecule ``k`` uses
  seed ``seed + k`` everywhere, so the refinement mode starts from exactly the ETKDG + MMFF
  conformers of that baseline.
* Metric: heavy-atom RMSD after symmetry-aware alignment (GeoDiff's ``GetBestRMS``) to the DFT
  reference and to the GFN2-xTB geometry: mean and median of best-of-1 (the first sample) and
  best-of-N, coverage (fraction of molecules with best-of-N < 0.5 A), best-of-1 by rotatable
  bonds (0, 1, 2+), and for the diffusion models also the lowest-score sample ("ranked").
* Methods: RDKit ETKDG, ETKDG + MMFF, Open Babel, the spectrum-matching selector (on a
  ``n_match`` subset, default 40, since each member needs a GFN2 Hessian), and the diffusion
  model with the PA-IB spectrum encoder (the shipped default), without spectra and with a plain
  attention encoder, each from noise, as refinement of ETKDG + MMFF, and as a ranker of the
  ETKDG + MMFF ensemble (``rank``: best-of-1 is the member with the lowest model score).

The two variants are trained with the shipped model's recorded settings into
``<out>/models/<variant>`` (skipped when present). Per-method results are appended per
molecule to ``<out>/runs/<method>.jsonl``; a rerun skips finished molecules.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError

log = logging.getLogger("mspectmol.benchmark")

BASELINES = ("etkdg", "etkdg_mmff", "openbabel", "spectrum_match")
VARIANTS = ("pa_ib", "none", "attention")
MODEL_LABELS = {"pa_ib": "Diffusion + PA-IB spectra (IR+(Raman))",
                "none": "Diffusion, no spectra", "attention": "Diffusion + attention spectra"}
DEFAULTS = {"n_test": 100, "n_samples": 5, "n_match": 40, "seed": 0}
QUICK = {"n_test": 3, "n_samples": 2, "n_match": 1, "seed": 0}


def _settings(args: Any) -> dict[str, int]:
    out = dict(QUICK if args.quick else DEFAULTS)
    for item in args.overrides or []:
        key, _, value = item.partition("=")
        if key not in out:
            raise MspectmolError(f"--set {item}: unknown conformers setting {key!r}; known: "
                                 f"{', '.join(out)}")
        try:
            out[key] = int(value)
        except ValueError:
            raise MspectmolError(f"--set {item}: {key} must be an integer") from None
    if args.seeds:
        out["seed"] = int(args.seeds[0])
    return out


def _methods(args: Any) -> list[str]:
    every = [*BASELINES, *(f"{v}_{m}" for v in VARIANTS for m in ("noise", "refine", "rank"))]
    chosen = args.models or every
    unknown = [m for m in chosen if m not in every]
    if unknown:
        raise MspectmolError(f"unknown conformer methods {unknown}; known: {', '.join(every)}")
    return chosen


def _models(args: Any, records: list, out: Path, variants: set[str]) -> dict[str, Any]:
    """The diffusion variants: the shipped model and identically trained siblings."""
    from mspectmol.conformers.io import load_conformer_model
    from mspectmol.conformers.model import ConformerConfig
    from mspectmol.conformers.train import TrainSettings, train_variant

    models: dict[str, Any] = {}
    if args.quick:
        base = ConformerConfig(hidden=16, spec_hidden=16, channels=(4, 8), n_global_layers=1,
                               n_local_layers=1, n_gaussians=8, n_steps=10)
        settings = TrainSettings(epochs=1, batch_size=16, max_train=32, val_molecules=8)
        refine_val = 2
    else:
        shipped, meta = load_conformer_model()
        base = replace(shipped.config, refine_t_start=0)
        train_info = meta.get("training", {})
        settings = TrainSettings(**train_info.get("settings", {}))
        refine_val = int(train_info.get("refine_selection", {}).get("n_val", 48))
        models["pa_ib"] = shipped
    for v in sorted(variants):
        if v in models:
            continue
        cfg = replace(base, spectrum_encoder=v)
        log.info("conformers: training the %s variant (or loading it from %s)", v,
                 out / "models" / v)
        models[v] = train_variant(cfg, records, settings, out / "models" / v,
                                  refine_val=refine_val)[0]
    return models


def _rotatable(mol: Any) -> int:
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    return int(rdMolDescriptors.CalcNumRotatableBonds(Chem.RemoveHs(mol)))


def _evaluate(rec: Any, method: str, models: dict[str, Any], cfg: dict[str, int], k: int,
              grid: np.ndarray) -> dict[str, Any]:
    """One molecule, one method: RMSDs of every sample to DFT and GFN2, stereo, timing."""
    from mspectmol.conformers.baselines import (
        embed_etkdg,
        openbabel_conformers,
        spectrum_matching_select,
    )
    from mspectmol.conformers.data import mol_with_hs
    from mspectmol.conformers.rmsd import heavy_atom_rmsd, stereo_matches, with_coordinates
    from mspectmol.conformers.sample import generate_conformers

    mol = mol_with_hs(rec.smiles)
    n, seed = cfg["n_samples"], cfg["seed"] + k
    ref_dft, ref_gfn2 = with_coordinates(mol, rec.ref_coords), with_coordinates(mol,
                                                                             rec.gfn2_coords)
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    probes = None
    if method in ("etkdg", "etkdg_mmff"):
        coords = embed_etkdg(mol, n, seed, mmff=method == "etkdg_mmff")
    elif method == "spectrum_match":
        ensemble = embed_etkdg(mol, n, seed, mmff=True)
        best, sims, _ = spectrum_matching_select(mol, ensemble, rec.spectra["ir"], grid)
        coords = ensemble[[best, *[i for i in range(n) if i != best]]]
        extra["similarities"] = sims.round(4).tolist()
    elif method == "openbabel":
        probes = openbabel_conformers(rec.smiles, n)
    else:
        variant, mode = method.rsplit("_", 1)
        init = embed_etkdg(mol, n, seed, mmff=True) if mode in ("refine", "rank") else None
        gen = generate_conformers(models[variant], rec.smiles, n, spectra=rec.spectra,
                                  mode=mode, seed=seed, init_coords=init, mol=mol)
        coords = gen.coords
        extra.update(scores=gen.scores.round(5).tolist(), mirrored=gen.mirrored.tolist(),
                     t_start=gen.info["t_start"])
    seconds = time.perf_counter() - started
    if probes is None:
        probes = [with_coordinates(mol, c) for c in coords]
        stereo = [stereo_matches(mol, c, rec.smiles) for c in coords]
    else:
        from rdkit import Chem

        target = Chem.MolToSmiles(Chem.MolFromSmiles(rec.smiles))
        stereo = []
        for p in probes:
            q = Chem.Mol(p)
            Chem.AssignStereochemistryFrom3D(q)
            stereo.append(Chem.MolToSmiles(Chem.RemoveHs(q)) == target)
    return {"id": rec.id, "smiles": rec.smiles, "rotatable": _rotatable(mol),
            "rmsd_dft": [heavy_atom_rmsd(p, ref_dft) for p in probes],
            "rmsd_gfn2": [heavy_atom_rmsd(p, ref_gfn2) for p in probes],
            "stereo_ok": stereo, "seconds": seconds, **extra}


def _load_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_suite(args: Any) -> int:
    """Run (or resume) the conformer benchmark and write table.md, results.csv, results.json."""
    import torch

    from mspectmol.conformers.data import load_conformer_records
    from mspectmol.conformers.report import summarise, write_outputs
    from mspectmol.spectra.preprocessing import canonical_grid

    if args.threads:
        torch.set_num_threads(int(args.threads))
    cfg = _settings(args)
    methods = _methods(args)
    default_out = "conformers-quick" if args.quick else "conformers"
    out = Path(args.out) if args.out else Path("benchmarks") / "results" / default_out
    records = load_conformer_records(("ir", "raman"), split_scheme="scaffold", data=args.data)
    test = [r for r in records if r.split == "test"]
    order = np.random.default_rng(cfg["seed"]).permutation(len(test))
    test = [test[i] for i in order[:cfg["n_test"]]]
    if getattr(args, "dry_run", False):
        print(f"conformers: {len(test)} test molecules, methods {', '.join(methods)} -> {out}")
        return 0
    (out / "runs").mkdir(parents=True, exist_ok=True)
    grid = canonical_grid("ir", 600)
    if not getattr(args, "tables_only", False):
        variants = {m.rsplit("_", 1)[0] for m in methods if m not in BASELINES}
        models = _models(args, records, out, variants) if variants else {}
        for method in methods:
            path = out / "runs" / f"{method}.jsonl"
            done = {row["id"] for row in _load_rows(path)}
            subset = test[:cfg["n_match"]] if method == "spectrum_match" else test
            todo = [(k, r) for k, r in enumerate(subset) if r.id not in done]
            log.info("conformers: %s, %d of %d molecules to do", method, len(todo), len(subset))
            for k, rec in todo:
                try:
                    row = _evaluate(rec, method, models, cfg, k, grid)
                except MspectmolError as exc:  # e.g. ETKDG cannot embed a strained cage
                    log.warning("conformers: %s failed on %s: %s", method, rec.id, exc)
                    row = {"id": rec.id, "smiles": rec.smiles, "failed": str(exc)}
                with path.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
    rows = {m: _load_rows(out / "runs" / f"{m}.jsonl") for m in methods}
    summary = summarise(rows, cfg, match_ids=[r.id for r in test[:cfg["n_match"]]])
    info = {"settings": cfg, "n_test_available": int(sum(r.split == "test" for r in records)),
            "machine": platform.platform(), "torch_threads": torch.get_num_threads(),
            "quick": bool(args.quick)}
    write_outputs(out, summary, info)
    print((out / "table.md").read_text())
    return 0
