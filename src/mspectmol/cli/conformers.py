"""``mspectmol conformers``: 3D conformers of a molecule conditioned on its spectra.

Writes an SDF with explicit hydrogens, one record per conformer, sorted by the model's score
(``score``: the model's denoising error of the conformer given the graph and the spectra,
lower is better; see :mod:`mspectmol.conformers.sample`). Every conformer is checked
(:mod:`mspectmol.conformers.geometry`: bond lengths, clashes, MMFF94 energy against ETKDG +
MMFF); by default only those that pass are written, and each problem kind is warned about in
one line. A molecule outside the model's training domain (:mod:`mspectmol.conformers.domain`)
is warned about and marked ``out_of_domain``. Heavy imports stay inside functions so that
``mspectmol --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mspectmol.cli.flags import add_deprecated_alias

log = logging.getLogger("mspectmol.conformers")

#: Modalities a conformer model can be conditioned on (the option is ``--`` + the name, as in
#: ``predict``, ``explain`` and ``convert``) and their labels.
SPECTRUM_MODALITIES = {"ir": "IR", "raman": "Raman", "uv": "UV-Vis"}


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "conformers", parents=parents,
        help="generate 3D conformers of a molecule conditioned on its IR/Raman spectra",
        description="Sample conformers of --smiles with the spectrum-conditioned diffusion "
                    "model (default: the packaged model, IR primary with Raman auxiliary) and "
                    "write them, with hydrogens and the model's score, to an SDF file. "
                    "Stereo tags in the SMILES are respected (mirror images are corrected). "
                    "Every conformer is checked: bond lengths within 0.70-1.30 x the sum of "
                    "the covalent radii; no clashes (1-3 pairs at least 1.0 x the covalent "
                    "radii, pairs further apart at least 0.6 x the van der Waals radii, 0.4 x "
                    "for a hydrogen bond); an MMFF94 energy at most 6 kcal/mol per atom (at "
                    "least 50) above the best of five ETKDG + MMFF conformers. The result is "
                    "in the SDF properties geometry_ok, geometry_problems, bond_length_range "
                    "and mmff_energy. Conformers that fail are not written (one warning line "
                    "per kind of problem; if none passes, nothing is written and the exit "
                    "status is 2) unless --keep-invalid is given. A molecule outside the "
                    "model's training domain (more heavy atoms or other elements than it was "
                    "trained on; the packaged model: at most 9 heavy atoms of C, N, O, F) is "
                    "warned about and marked out_of_domain.",
    )
    p.add_argument("--smiles", required=True, help="the molecule (isomeric SMILES)")
    options = {}
    for name, label in SPECTRUM_MODALITIES.items():
        options[name] = p.add_argument(
            "--" + name, dest=f"file_{name}", type=Path, default=None, metavar="FILE",
            help=f"{label} spectrum file (any format mspectmol reads); needed when the model "
                 "uses this modality as its primary, optional as an auxiliary")
    add_deprecated_alias(p, "--uv-vis", options["uv"])
    count = p.add_argument("-n", "--n-conformers", dest="num_conformers", type=int, default=5,
                           metavar="N", help="conformers to generate (default 5)")
    add_deprecated_alias(p, "--num-conformers", count)
    p.add_argument("-o", "--output", type=Path, required=True, metavar="SDF",
                   help="output SDF file")
    p.add_argument("--model", type=Path, default=None, metavar="DIR",
                   help="conformer model folder (default: the packaged one)")
    p.add_argument("--mode", choices=("noise", "refine", "rank"), default="refine",
                   help="refine (default): start the reverse diffusion at the model's chosen "
                        "step from ETKDG + MMFF conformers; noise: from Gaussian noise (its raw "
                        "samples have noisy bond lengths and fail the geometry check: add "
                        "--relax); rank: the ETKDG + MMFF conformers themselves, ordered by the "
                        "model's score")
    p.add_argument("--t-start", type=int, default=None,
                   help="refinement start step (default: the model's, chosen on validation)")
    p.add_argument("--keep-invalid", action="store_true",
                   help="also write the conformers that fail the geometry check, marked "
                        "geometry_ok=False with the reasons in geometry_problems")
    p.add_argument("--relax", action="store_true",
                   help="MMFF94-minimise every generated conformer before the check (repairs "
                        "distorted bonds and clashes; the result is the force-field minimum "
                        "nearest to the model's geometry, not the model's geometry itself; "
                        "scores and stereo are recomputed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.set_defaults(run=run)


def read_model_spectra(args: argparse.Namespace, config: object) -> dict:
    """Read the spectrum files of the model's modalities onto its grids (max-normalised)."""
    from mspectmol.errors import MspectmolError
    from mspectmol.spectra.pipeline import prepare
    from mspectmol.spectra.preprocessing import canonical_grid
    from mspectmol.spectra.readers import read_spectrum

    spectra = {}
    for m in config.modalities:
        path = getattr(args, f"file_{m}", None)
        if path is None:
            continue
        if not Path(path).is_file():
            raise MspectmolError(f"{path}: no such spectrum file")
        grid = canonical_grid(m, config.n_points)
        spectra[m] = prepare(read_spectrum(path, m), grid, "max").y
    given = [m for m in SPECTRUM_MODALITIES if getattr(args, f"file_{m}", None)]
    ignored = [m for m in given if m not in config.modalities]
    if ignored:
        log.warning("the model does not use %s; ignoring those files", ", ".join(ignored))
    if config.modalities and config.primary not in spectra:
        raise MspectmolError(f"this conformer model needs a {config.primary} spectrum "
                             f"(--{config.primary.replace('_', '-')} FILE)")
    return spectra


def domain_status(mol: object, meta: dict, name: str) -> tuple[str, str]:
    """``(out_of_domain, reasons)`` for the SDF ("True"/"False"/"unknown"); warns when outside."""
    from mspectmol.conformers.domain import model_domain, outside_domain

    domain = model_domain(meta)
    if domain is None:
        log.info("the conformer model states no training domain; %s not checked against it",
                 name)
        return "unknown", "the model states no training domain"
    reasons = outside_domain(mol, domain)
    if reasons:
        log.warning("%s is outside the conformer model's training domain (%s; trained on %s): "
                    "expect poor conformers", name, "; ".join(reasons), domain.source)
        return "True", "; ".join(reasons)
    return "False", "none"


def run(args: argparse.Namespace) -> int:
    import io

    import numpy as np
    import torch
    from rdkit import Chem

    from mspectmol.conformers.data import mol_with_hs
    from mspectmol.conformers.geometry import GeometryChecker, problem_lines
    from mspectmol.conformers.io import load_conformer_model
    from mspectmol.conformers.rmsd import with_coordinates
    from mspectmol.conformers.sample import generate_conformers, relax_generated
    from mspectmol.errors import MspectmolError
    from mspectmol.fileio import atomic_write

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.num_conformers < 1:
        raise MspectmolError(f"-n must be at least 1, got {args.num_conformers}")
    mol = mol_with_hs(args.smiles, source="--smiles")
    name = Chem.MolToSmiles(Chem.RemoveHs(mol))
    model, meta = load_conformer_model(args.model)
    spectra = read_model_spectra(args, model.config)
    out_of_domain, domain_reasons = domain_status(mol, meta, name)
    gen = generate_conformers(model, args.smiles, args.num_conformers, spectra=spectra,
                              mode=args.mode, t_start=args.t_start, seed=args.seed, mol=mol)
    if args.relax:
        gen = relax_generated(model, gen, args.smiles, spectra)
    checker = GeometryChecker(mol)
    if checker.energy_note:
        log.info("%s: MMFF94 energy not checked (%s)", name, checker.energy_note)
    checks = [checker.check(c) for c in gen.coords]
    for line in problem_lines(name, checks):
        log.warning(line)
    order = [int(k) for k in np.argsort(gen.scores, kind="stable")]
    keep = order if args.keep_invalid else [k for k in order if checks[k].ok]
    n_bad = sum(not c.ok for c in checks)
    if not keep:
        raise MspectmolError(f"{name}: none of the {len(order)} conformers passed the geometry "
                             f"check; nothing written to {args.output} (--relax repairs them "
                             "with MMFF94, --keep-invalid writes them marked as failed)")
    sdf = io.StringIO()  # RDKit ignores a file's write errors: write it here, then whole
    with Chem.SDWriter(sdf) as writer:
        for rank, k in enumerate(keep, start=1):
            m = with_coordinates(gen.mol, gen.coords[k])
            m.SetProp("_Name", f"{args.smiles} conformer {rank}")
            m.SetProp("score", f"{gen.scores[k]:.6f}")
            m.SetProp("score_definition", "model denoising error (lower is better)")
            m.SetIntProp("rank", rank)
            m.SetIntProp("sample", k)
            m.SetProp("stereo_matches_smiles", str(bool(gen.stereo_ok[k])))
            m.SetProp("mode", f"{gen.info['mode']} (t_start {gen.info['t_start']})")
            m.SetProp("relaxed", "MMFF94" if args.relax else "no")
            m.SetProp("conditioning", ", ".join(spectra) or "none")
            for key, value in checks[k].properties().items():
                m.SetProp(key, value)
            m.SetProp("out_of_domain", out_of_domain)
            m.SetProp("out_of_domain_reasons", domain_reasons)
            writer.write(m)
    atomic_write(args.output, sdf.getvalue(), what="cannot write the conformers")
    bad = int((~gen.stereo_ok).sum())
    if bad:
        log.warning("%d of %d conformers do not have the SMILES' stereochemistry", bad,
                    len(order))
    failed = ("" if not n_bad else f"; {n_bad} failed the geometry check and "
              + ("are marked geometry_ok=False" if args.keep_invalid else "were left out"))
    print(f"wrote {len(keep)} of {len(order)} conformers of {name} to {args.output} "
          f"(best score {gen.scores[keep[0]]:.4f}{failed})")
    return 0
