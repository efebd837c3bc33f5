"""Structure metrics as MassSpecGym computes them (stereo ignored throughout).

- Top-k accuracy: the true structure is among the first ``k`` candidates, compared by the
  first (connectivity) block of the InChIKey, so stereoisomers count as the same structure.
- Validity: the fraction of candidates RDKit parses.
- MCES: ``myopic_mces.MCES(a, b, threshold=15, solver="PULP_CBC_CMD",
  always_stronger_bound=True)``; above the threshold the value is a lower bound (as in
  MassSpecGym); invalid or missing candidates count as 100. Top-k MCES is the smallest
  distance among the first ``k`` candidates.
- mces-score (the paper's Table 15, "MCES normalised by heavy atoms", close to 1 for good
  predictions): ``max(0, 1 - MCES / heavy atoms of the true molecule)``, 0 for invalid.
- Tanimoto: Morgan fingerprints radius 2, 2048 bits; top-k takes the best of the first ``k``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import numpy as np
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import rdFingerprintGenerator

from mspectmol.chem.molecules import heavy_atom_count
from mspectmol.errors import MspectmolError
from mspectmol.structure.model.tokens import mol_or_none

MCES_THRESHOLD = 15.0
MCES_INVALID = 100.0


def inchikey_block(smiles: str | None) -> str | None:
    """First 14 characters of the InChIKey (connectivity, no stereo), or None if invalid."""
    mol = mol_or_none(smiles) if smiles else None
    if mol is None:
        return None
    RDLogger.DisableLog("rdApp.*")
    try:
        key = Chem.MolToInchiKey(mol)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return key.split("-")[0] if key else None


def same_structure(a: str | None, b: str | None) -> bool:
    """Whether two SMILES are the same structure by InChIKey connectivity block."""
    ka = inchikey_block(a)
    return ka is not None and ka == inchikey_block(b)


def hit_rank(candidates: Sequence[str], truth: str) -> int | None:
    """0-based position of the first candidate matching ``truth``, or None."""
    key = inchikey_block(truth)
    for i, c in enumerate(candidates):
        if key is not None and inchikey_block(c) == key:
            return i
    return None


def top_k_accuracy(ranks: Sequence[int | None], k: int) -> float:
    """Fraction of molecules whose hit rank is below ``k``."""
    if not ranks:
        return float("nan")
    return float(np.mean([r is not None and r < k for r in ranks]))


def tanimoto(a: str | None, b: str | None) -> float:
    """Tanimoto similarity of Morgan (r=2, 2048 bits) fingerprints; 0 when either is invalid."""
    ma, mb = (mol_or_none(a) if a else None), (mol_or_none(b) if b else None)
    if ma is None or mb is None:
        return 0.0
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    return float(DataStructs.TanimotoSimilarity(gen.GetFingerprint(ma), gen.GetFingerprint(mb)))


@contextlib.contextmanager
def _quiet_stdout():
    """Silence the CBC solver's banner, which is written to file descriptor 1."""
    try:
        fd = os.dup(1)
    except OSError:  # no real stdout (e.g. captured): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)


def mces(a: str | None, b: str | None, threshold: float = MCES_THRESHOLD) -> float:
    """Myopic MCES distance (see the module docstring); 100 for an invalid molecule."""
    try:
        import myopic_mces  # optional: the ``structure`` extra
    except ImportError:
        raise MspectmolError("MCES needs the myopic-mces package: pip install "
                             "'mspectmol[structure]' (or myopic-mces)") from None

    if not a or not b or mol_or_none(a) is None or mol_or_none(b) is None:
        return MCES_INVALID
    with _quiet_stdout():
        result = myopic_mces.MCES(a, b, threshold=threshold, solver="PULP_CBC_CMD",
                                  solver_options={"msg": False}, always_stronger_bound=True,
                                  catch_errors=True)
    distance = float(result[1])
    return MCES_INVALID if distance < 0 else distance


def mces_score(distance: float, heavy_atoms: int) -> float:
    """``max(0, 1 - distance / heavy_atoms)`` (0 for an invalid candidate)."""
    if distance >= MCES_INVALID or heavy_atoms < 1:
        return 0.0
    return max(0.0, 1.0 - distance / heavy_atoms)


def candidate_metrics(candidates: Sequence[str], truth: str, ks: Sequence[int] = (1, 5, 10),
                      *, with_mces: bool = True) -> dict[str, float | int | None]:
    """Per-molecule metrics of a ranked candidate list.

    Returns ``rank`` (0-based hit position or None), ``valid`` (fraction of candidates that
    parse; NaN for none), and for each ``k``: ``tanimoto@k``, and with ``with_mces``
    ``mces@k`` and ``mces_score@k`` (best of the first ``k``; invalid/missing = 100 / 0).
    """
    out: dict[str, float | int | None] = {"rank": hit_rank(candidates, truth)}
    out["valid"] = (float(np.mean([mol_or_none(c) is not None for c in candidates]))
                    if candidates else float("nan"))
    sims = [tanimoto(c, truth) for c in candidates[:max(ks)]]
    dists: list[float] = []
    if with_mces:
        key = inchikey_block(truth)
        dists = [0.0 if inchikey_block(c) == key else mces(c, truth)
                 for c in candidates[:max(ks)]]
    heavy = heavy_atom_count(truth)
    for k in ks:
        out[f"tanimoto@{k}"] = max(sims[:k], default=0.0)
        if with_mces:
            best = min(dists[:k], default=MCES_INVALID)
            out[f"mces@{k}"] = best
            out[f"mces_score@{k}"] = mces_score(best, heavy)
    return out
