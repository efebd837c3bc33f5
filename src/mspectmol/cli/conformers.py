"""``mspectmol conformers``: 3D conformers of a molecule conditioned on its spectra.

Writes an SDF with explicit hydrogens, one record per conformer, sorted by the model's score
(``score``: the model's denoising error of the conformer given the graph and the spectra,
lower is better; see :mod:`mspectmol.conformers.sample`). Heavy imports stay inside
functions so that ``mspectmol --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("mspectmol.conformers")


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "conformers", parents=parents,
        help="generate 3D conformers of a molecule conditioned on its IR/Raman spectra",
        description="Sample conformers of --smiles with the spectrum-conditioned diffusion "
                    "model (default: the packaged model, IR primary with Raman auxiliary) and "
                    "write them, with hydrogens and the model's score, to an SDF file. "
                    "Stereo tags in the SMILES are respected (mirror images are corrected).",
    )
    p.add_argument("--smiles", required=True, help="the molecule (isomeric SMILES)")
    for name in ("ir", "raman", "uv_vis"):
        p.add_argument("--" + name.replace("_", "-"), dest=f"file_{name}", type=Path,
                       default=None, metavar="FILE",
                       help=f"{name.replace('_', '-').upper()} spectrum file (any format "
                            "mspectmol reads); needed when the model uses this modality as "
                            "its primary, optional as an auxiliary")
    p.add_argument("-n", "--num-conformers", type=int, default=5, metavar="N",
                   help="conformers to generate (default 5)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="SDF",
                   help="output SDF file")
    p.add_argument("--model", type=Path, default=None, metavar="DIR",
                   help="conformer model folder (default: the packaged one)")
    p.add_argument("--mode", choices=("noise", "refine", "rank"), default="refine",
                   help="refine (default): start the reverse diffusion at the model's chosen "
                        "step from ETKDG + MMFF conformers; noise: from Gaussian noise; rank: "
                        "the ETKDG + MMFF conformers themselves, ordered by the model's score")
    p.add_argument("--t-start", type=int, default=None,
                   help="refinement start step (default: the model's, chosen on validation)")
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
    given = [m for m in ("ir", "raman", "uv_vis") if getattr(args, f"file_{m}", None)]
    ignored = [m for m in given if m not in config.modalities]
    if ignored:
        log.warning("the model does not use %s; ignoring those files", ", ".join(ignored))
    if config.modalities and config.primary not in spectra:
        raise MspectmolError(f"this conformer model needs a {config.primary} spectrum "
                             f"(--{config.primary.replace('_', '-')} FILE)")
    return spectra


def run(args: argparse.Namespace) -> int:
    import io

    import numpy as np
    import torch
    from rdkit import Chem

    from mspectmol.conformers.data import mol_with_hs
    from mspectmol.conformers.io import load_conformer_model
    from mspectmol.conformers.rmsd import with_coordinates
    from mspectmol.conformers.sample import generate_conformers
    from mspectmol.errors import MspectmolError
    from mspectmol.fileio import atomic_write

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.num_conformers < 1:
        raise MspectmolError(f"-n must be at least 1, got {args.num_conformers}")
    mol = mol_with_hs(args.smiles, source="--smiles")
    model, _ = load_conformer_model(args.model)
    spectra = read_model_spectra(args, model.config)
    gen = generate_conformers(model, args.smiles, args.num_conformers, spectra=spectra,
                              mode=args.mode, t_start=args.t_start, seed=args.seed, mol=mol)
    order = np.argsort(gen.scores, kind="stable")
    sdf = io.StringIO()  # RDKit ignores a file's write errors: write it here, then whole
    with Chem.SDWriter(sdf) as writer:
        for rank, k in enumerate(order, start=1):
            m = with_coordinates(gen.mol, gen.coords[k])
            m.SetProp("_Name", f"{args.smiles} conformer {rank}")
            m.SetProp("score", f"{gen.scores[k]:.6f}")
            m.SetProp("score_definition", "model denoising error (lower is better)")
            m.SetIntProp("rank", rank)
            m.SetIntProp("sample", int(k))
            m.SetProp("stereo_matches_smiles", str(bool(gen.stereo_ok[k])))
            m.SetProp("mode", f"{gen.info['mode']} (t_start {gen.info['t_start']})")
            m.SetProp("conditioning", ", ".join(spectra) or "none")
            writer.write(m)
    atomic_write(args.output, sdf.getvalue(), what="cannot write the conformers")
    bad = int((~gen.stereo_ok).sum())
    if bad:
        log.warning("%d of %d conformers do not have the SMILES' stereochemistry", bad,
                    len(order))
    print(f"wrote {len(order)} conformers of {Chem.MolToSmiles(Chem.RemoveHs(mol))} to "
          f"{args.output} (best score {gen.scores[order[0]]:.4f})")
    return 0
