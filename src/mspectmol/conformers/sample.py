"""Generate conformers of one molecule with a trained model (from noise or as refinement).

Modes
-----
``noise``
    The full reverse process (eq. 30) from Gaussian noise at step ``T``.
``refine``
    Warm start: ETKDG + MMFF conformers (one per sample, stereo from the SMILES) are noised to
    step ``t_start`` with eq. 29 and denoised from there (``t_start`` chosen on the validation
    molecules and stored in the model config as ``refine_t_start``).

Distances cannot tell a conformer from its mirror image, so a sample whose tetrahedral stereo
is the inverse of the SMILES' is reflected (every centre inverts under a reflection); samples
whose stereo still disagrees (a wrong diastereomer, or a double bond) are kept and reported.

``rank``
    The ETKDG + MMFF conformers themselves (refinement from step 0), ordered by score.

The score of each conformer is the model's seeded denoising error
(:func:`mspectmol.conformers.diffusion.denoising_error` at steps 10%, 20% and 30% of ``T``,
eight noise draws each): the mean squared error of the predicted distance noise. Lower is
better (the conformer is more plausible under the model, given the graph and the spectra).
The steps were chosen on 30 validation molecules (ETKDG + MMFF ensembles of five, the
lowest-score member's RMSD to DFT): 2-10% of ``T`` ranked worse than taking the first member,
because it mostly measures bond-length noise; 10-30% ranked best.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from rdkit import Chem

from mspectmol.conformers.data import mol_with_hs, spectra_batch
from mspectmol.conformers.diffusion import denoising_error, reverse_diffusion
from mspectmol.conformers.geometry import relax_mmff
from mspectmol.conformers.graph import collate_graphs, graph_from_mol
from mspectmol.conformers.model import ConformerDenoiser
from mspectmol.conformers.rmsd import has_stereo, stereo_matches
from mspectmol.errors import MspectmolError

MODES = ("noise", "refine", "rank")


@dataclass
class GeneratedConformers:
    """Samples of one molecule.

    Attributes
    ----------
    mol
        The molecule with hydrogens (``AddHs(MolFromSmiles)`` atom order).
    coords
        ``(n_samples, n_atoms, 3)`` Angstrom.
    scores
        Denoising error of each sample (lower is better).
    stereo_ok
        Whether each sample's stereo matches the SMILES (after mirror correction).
    mirrored
        Whether each sample was reflected to fix its stereo.
    """

    mol: Chem.Mol
    coords: np.ndarray
    scores: np.ndarray
    stereo_ok: np.ndarray
    mirrored: np.ndarray
    info: dict = field(default_factory=dict)


SCORE_DRAWS = 8


def score_steps(n_steps: int) -> tuple[int, ...]:
    """Steps at which conformers are scored: 10%, 20% and 30% of ``T`` (at least step 1)."""
    return tuple(sorted({max(1, round(n_steps * f)) for f in (0.1, 0.2, 0.3)}))


def score_conformers(model: ConformerDenoiser, mol: Chem.Mol, coords: np.ndarray,
                     spectra: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Denoising-error score of each conformer ``coords`` (k, n_atoms, 3) of ``mol``."""
    k = coords.shape[0]
    graph = collate_graphs([graph_from_mol(mol)] * k)
    spec, avail = _spectra(model, spectra, k)
    pos = torch.from_numpy(coords.reshape(-1, 3).astype(np.float32))
    return denoising_error(model, pos, graph, spec, avail, score_steps(model.config.n_steps),
                           n_draws=SCORE_DRAWS).numpy()


def _spectra(model: ConformerDenoiser, spectra: dict[str, np.ndarray] | None, k: int):
    mods = model.config.modalities
    if not mods:
        return None, None
    spectra = spectra or {}
    if model.config.primary not in spectra:
        raise MspectmolError(f"this conformer model needs a {model.config.primary} spectrum")
    for m, y in spectra.items():
        if m in mods and (np.asarray(y).shape != (model.config.n_points,)
                          or not np.isfinite(y).all()):
            raise MspectmolError(f"the {m} spectrum must be {model.config.n_points} finite "
                                 f"values on the model's grid")
    return spectra_batch([{m: np.asarray(spectra[m], dtype=np.float32) for m in mods
                           if m in spectra}] * k, mods)


def etkdg_mmff(mol: Chem.Mol, n: int, seed: int) -> np.ndarray:
    """``n`` ETKDGv3 conformers optimised with MMFF94 (stereo from the SMILES)."""
    from mspectmol.conformers.baselines import embed_etkdg

    return embed_etkdg(mol, n, seed, mmff=True)


def fix_mirror(mol: Chem.Mol, coords: np.ndarray, smiles: str) -> tuple[np.ndarray, bool, bool]:
    """``(coords, stereo matches, mirrored)``: reflect ``coords`` when that fixes the stereo."""
    if not has_stereo(smiles) or stereo_matches(mol, coords, smiles):
        return coords, True, False
    flipped = coords * np.array([-1.0, 1.0, 1.0])
    if stereo_matches(mol, flipped, smiles):
        return flipped, True, True
    return coords, False, False


def generate_conformers(model: ConformerDenoiser, smiles: str, n: int = 5, *,
                        spectra: dict[str, np.ndarray] | None = None, mode: str = "noise",
                        t_start: int | None = None, seed: int = 0,
                        init_coords: np.ndarray | None = None,
                        mol: Chem.Mol | None = None) -> GeneratedConformers:
    """Sample ``n`` conformers of ``smiles`` conditioned on ``spectra`` (canonical grids).

    Parameters
    ----------
    spectra
        ``{modality: (n_points,) max-normalised}``; the model's primary is required unless the
        model is spectrum-free; a missing auxiliary is treated as unavailable.
    mode
        ``"noise"``, ``"refine"`` or ``"rank"`` (see the module docstring); ``rank`` returns
        the conformers sorted by score, the others in sampling order.
    t_start
        Refinement start step (default: the model's ``refine_t_start``).
    init_coords
        Refinement starting conformers ``(n, n_atoms, 3)`` (default: ETKDG + MMFF).
    mol
        The molecule with hydrogens, if already built (its atom order is used).
    """
    if mode not in MODES:
        raise MspectmolError(f"unknown sampling mode {mode!r}; choose {', '.join(MODES)}")
    if n < 1:
        raise MspectmolError(f"the number of conformers must be at least 1, got {n}")
    mol = mol if mol is not None else mol_with_hs(smiles)
    n_atoms = mol.GetNumAtoms()
    graph = collate_graphs([graph_from_mol(mol)] * n)
    spec, avail = _spectra(model, spectra, n)
    gen = torch.Generator().manual_seed(seed)
    start, t0 = None, None
    if mode in ("refine", "rank"):
        t0 = 0 if mode == "rank" else int(t_start if t_start is not None
                                           else model.config.refine_t_start)
        if not 0 <= t0 <= model.config.n_steps:
            raise MspectmolError(f"refinement start step {t0} is outside 0..{model.config.n_steps}")
        init = init_coords if init_coords is not None else etkdg_mmff(mol, n, seed)
        start = torch.from_numpy(np.asarray(init, dtype=np.float32).reshape(-1, 3))
    model.eval()
    x = reverse_diffusion(model, graph, n_atoms, spec, avail, start=start, t_start=t0,
                          generator=gen)
    coords = x.numpy().reshape(n, n_atoms, 3).astype(np.float64)
    if not np.isfinite(coords).all():
        raise MspectmolError(f"{smiles}: the sampler produced non-finite coordinates")
    ok, mirrored = np.zeros(n, bool), np.zeros(n, bool)
    for k in range(n):
        coords[k], ok[k], mirrored[k] = fix_mirror(mol, coords[k], smiles)
    scores = score_conformers(model, mol, coords, spectra)
    if mode == "rank":
        order = np.argsort(scores, kind="stable")
        coords, scores, ok, mirrored = coords[order], scores[order], ok[order], mirrored[order]
    return GeneratedConformers(mol=mol, coords=coords, scores=scores, stereo_ok=ok,
                               mirrored=mirrored, info={"mode": mode, "seed": seed,
                                                        "t_start": model.config.n_steps
                                                        if t0 is None else t0})


def relax_generated(model: ConformerDenoiser, gen: GeneratedConformers, smiles: str,
                    spectra: dict[str, np.ndarray] | None = None) -> GeneratedConformers:
    """MMFF94-minimise every sample of ``gen``; stereo and scores are recomputed.

    A repair step: the result is the force-field minimum nearest to each sampled geometry, so
    it mends distorted bonds and clashes but is no longer the model's geometry alone (a badly
    tangled sample can also relax into another stereoisomer, which ``stereo_ok`` then shows).
    """
    coords = np.stack([relax_mmff(gen.mol, c) for c in gen.coords])
    ok, mirrored = gen.stereo_ok.copy(), gen.mirrored.copy()
    for k in range(len(coords)):
        coords[k], ok[k], flipped = fix_mirror(gen.mol, coords[k], smiles)
        mirrored[k] ^= flipped
    scores = score_conformers(model, gen.mol, coords, spectra)
    return GeneratedConformers(mol=gen.mol, coords=coords, scores=scores, stereo_ok=ok,
                               mirrored=mirrored, info={**gen.info, "relaxed": "MMFF94"})
