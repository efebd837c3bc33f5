"""QM9 as an isomer library: every QM9 molecule of a formula is a candidate structure.

``mspectmol elucidate --formula F --library qm9``: formula -> every QM9 isomer (of the
130,831 QM9 molecules in the ``qm9pack`` package's CSVs; a median of about 2,200 for the
formula of a QM9-size test molecule)
-> keep the ``N`` that agree best with the predicted functional groups (:func:`prefilter`,
the ranking's ``fg`` term) -> simulate their 1H/13C NMR with the fast recipe
(:func:`~mspectmol.structure.ranking.simulate_nmr_fast`) -> rank by ``ll + fg + spec``.

The index (formula -> canonical no-stereo SMILES, stereoisomers merged) is built once with
RDKit (about 15 s) and cached as a small Parquet file under ``$MSPECTMOL_CACHE`` (or
``~/.cache/mspectmol``) ``/isomers/``, tagged with the qm9pack version and
:data:`FORMAT_VERSION`; it is rebuilt when either differs or the file is unreadable.

Given a 13C spectrum, the pre-filter also compares its line counts per shift region with each
isomer's distinct carbons (:mod:`~mspectmol.structure.carbon_count`). Benchmark rows:
:mod:`~mspectmol.structure.isomer_benchmark`.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.fileio import OutputError, atomic_path
from mspectmol.structure.ranking import RankWeights, SimulatedSpectra, cache_dir, fg_agreement

log = logging.getLogger("mspectmol.structure")

#: Bumped when the cache file's layout or the canonicalisation changes.
FORMAT_VERSION = 1
#: Isomers kept by the functional-group pre-filter unless told otherwise.
DEFAULT_PREFILTER = 200
#: Weights and spectral smoothing for fast-NMR candidates: those the ``rerank/val-weights``
#: benchmark row chose on 50 validation molecules for the same recipe
#: (``benchmarks/results/structure-rerank``, 2026-11-26), never on test molecules.
FAST_NMR_WEIGHTS = RankWeights(ll=0.0, fg=0.3, spec=30.0)
FAST_NMR_SMOOTH = 10.0
#: Weights for candidates drawn by the structure generator: :data:`FAST_NMR_WEIGHTS` plus the
#: ``gen`` term (log of 1 + the draws that gave the candidate), its weight chosen on 60
#: seeded scaffold-split validation molecules (``scripts/prior_rank_terms.py --n 60``,
#: ``benchmarks/results/structure-prior-val``, 2026-11-27; top-1 0.48 with weight 0, 0.53
#: with 0.1, 0.52 with 0.2-0.3, 0.50 with 0.5-1, 0.40 with 2), never on test molecules. The
#: pre-filter's 13C and 1H mismatches as extra ranking terms added at most one molecule.
GENERATED_WEIGHTS = RankWeights(ll=0.0, fg=0.3, spec=30.0, gen=0.1)
#: Weight of the 13C line-count mismatch in :func:`prefilter`: chosen on 60 validation
#: molecules (scaffold split, seed 123 subset; truth kept in the top 200: 0.70 with weight 0,
#: 0.80 with 0.5 and 1, 0.83 with 2) on 2026-11-26, never on test molecules.
C13_WEIGHT = 1.0
#: Weight of the 1H region mismatch (protons per shift region) in :func:`prefilter`: chosen
#: on the same 60 validation molecules with ``c13_weight`` 1 (truth kept in the top 200: 47 of
#: 59 with weight 0, 53 with 0.5-2, 54 with 3; median rank 32 -> 18 with 1) on 2026-11-27.
H1_WEIGHT = 1.0
INSTALL_HINT = "pip install qm9pack (or pip install 'mspectmol[qm9]')"
_META_KEY = b"mspectmol.isomers"


@dataclass(frozen=True)
class QM9Source:
    """The QM9 CSV files (``Index`` and ``SMILES`` columns are read) and their version."""

    files: tuple[Path, ...]
    version: str

    @classmethod
    def installed(cls) -> QM9Source:
        """The installed ``qm9pack`` package's CSVs (its own loader needs pkg_resources)."""
        from importlib.metadata import version

        from mspectmol.data.sources import qm9pack_files

        if importlib.util.find_spec("qm9pack") is None:
            raise MspectmolError(f"the QM9 isomer library needs the qm9pack package: "
                                 f"{INSTALL_HINT}")
        return cls(tuple(qm9pack_files()), version("qm9pack"))


def hill(formula: str) -> str:
    """Hill-order formula (``"H6OC3"`` -> ``"C3H6O"``)."""
    from mspectmol.structure.tokens import formula_counts

    counts = {e: n for e, n in formula_counts(formula).items() if n > 0}
    first = [e for e in ("C", "H") if e in counts] if "C" in counts else []
    order = first + sorted(e for e in counts if e not in first)
    return "".join(e + (str(counts[e]) if counts[e] > 1 else "") for e in order)


class IsomerIndex:
    """Canonical no-stereo SMILES by Hill formula (each list sorted); ``meta``: ``format``,
    ``qm9pack`` (version), CSV ``rows`` read and ``unparsed`` SMILES."""

    def __init__(self, pairs: Sequence[tuple[str, str]], meta: dict[str, Any]) -> None:
        self.by_formula: dict[str, list[str]] = {}
        for formula, smiles in sorted(pairs):
            self.by_formula.setdefault(formula, []).append(smiles)
        self.meta = dict(meta)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_formula.values())

    def isomers(self, formula: str) -> list[str]:
        """Every molecule of ``formula`` (any element order), sorted by SMILES."""
        return list(self.by_formula.get(hill(formula), []))


def index_path() -> Path:
    """The cache file: ``$MSPECTMOL_CACHE`` (or ``~/.cache/mspectmol``)
    ``/isomers/qm9_isomers.parquet``."""
    return cache_dir().parent / "isomers" / "qm9_isomers.parquet"


def build_index(source: QM9Source) -> IsomerIndex:
    """Read every QM9 SMILES, canonicalise it (no stereo) and group by formula."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    csv.field_size_limit(10**8)
    seen: dict[str, str] = {}
    n_rows = unparsed = 0
    RDLogger.DisableLog("rdApp.*")
    try:
        for path in source.files:
            with Path(path).open(newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                header = next(reader, [])
                if "SMILES" not in header:
                    raise MspectmolError(f"{path}: not a QM9 CSV (no SMILES column)")
                col = header.index("SMILES")
                for line_no, row in enumerate(reader, start=2):
                    if len(row) <= col:
                        raise MspectmolError(f"{path}, line {line_no}: malformed QM9 row")
                    n_rows += 1
                    mol = Chem.MolFromSmiles(row[col])
                    if mol is None or mol.GetNumAtoms() == 0:
                        unparsed += 1
                        continue
                    try:
                        formula = hill(CalcMolFormula(mol))
                    except MspectmolError:  # a net charge ("+") or an unsupported element
                        unparsed += 1
                        continue
                    seen.setdefault(Chem.MolToSmiles(mol, isomericSmiles=False), formula)
    finally:
        RDLogger.EnableLog("rdApp.*")
    meta = {"format": FORMAT_VERSION, "qm9pack": source.version, "rows": n_rows,
            "unparsed": unparsed}
    return IsomerIndex([(f, s) for s, f in seen.items()], meta)


def _write(index: IsomerIndex, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pairs = [(f, s) for f, group in index.by_formula.items() for s in group]
    table = pa.table({"formula": [f for f, _ in pairs], "smiles": [s for _, s in pairs]})
    table = table.replace_schema_metadata({_META_KEY: json.dumps(index.meta).encode()})
    try:
        with atomic_path(path, clean=True, what="cannot write the QM9 isomer index") as tmp:
            pq.write_table(table, tmp, compression="zstd")
    except OutputError as exc:
        raise MspectmolError(f"{exc}; set MSPECTMOL_CACHE to a writable folder") from None


def _read(path: Path) -> IsomerIndex:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {})[_META_KEY])
    return IsomerIndex(list(zip(table.column("formula").to_pylist(),
                                table.column("smiles").to_pylist(), strict=True)), meta)


def load_index(source: QM9Source | None = None, path: Path | None = None, *,
               rebuild: bool = True) -> IsomerIndex:
    """The cached QM9 isomer index, built (and cached) when absent or stale.

    ``source``: the QM9 CSVs (default: the installed qm9pack package's); ``path``: the cache
    file (default :func:`index_path`); ``rebuild``: rebuild a stale (other qm9pack or format
    version) or unreadable cache, else raise. Also raises :class:`MspectmolError` when
    qm9pack is missing, a CSV is malformed or the cache folder cannot be written.
    """
    source = source or QM9Source.installed()
    path = Path(path or index_path())
    if path.is_file():
        try:
            index = _read(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if not rebuild:
                raise MspectmolError(f"{path}: unreadable QM9 isomer index ({exc}); delete it "
                                     "to rebuild") from None
            log.warning("%s: unreadable QM9 isomer index (%s), rebuilding", path, exc)
        else:
            found = (index.meta.get("format"), index.meta.get("qm9pack"))
            if found == (FORMAT_VERSION, source.version):
                return index
            if not rebuild:
                raise MspectmolError(f"{path}: built for format {found[0]}, qm9pack {found[1]}; "
                                     f"expected format {FORMAT_VERSION}, qm9pack "
                                     f"{source.version}: delete it to rebuild")
            log.info("%s: stale QM9 isomer index %s, rebuilding", path, found)
    log.info("building the QM9 isomer index from %d file(s) (once; about 15 s)",
             len(source.files))
    started = time.perf_counter()
    index = build_index(source)
    _write(index, path)
    log.info("QM9 isomer index: %d molecules, %d formulas, %.0f s; cached in %s", len(index),
             len(index.by_formula), time.perf_counter() - started, path)
    return index


@dataclass(frozen=True)
class Prefiltered:
    """Isomers kept by :func:`prefilter` (best first), their labels, ``fg`` scores, 13C and 1H
    region mismatches (zeros when no such spectrum was given)."""

    smiles: list[str]
    labels: np.ndarray
    fg: np.ndarray
    n_before: int
    c13_mismatch: np.ndarray | None = None
    h1_mismatch: np.ndarray | None = None


def prefilter(candidates: Sequence[str], probabilities: np.ndarray, n: int,
              labels: np.ndarray | None = None, *, c13_regions: np.ndarray | None = None,
              c13_weight: float = C13_WEIGHT, h1_regions: np.ndarray | None = None,
              h1_weight: float = H1_WEIGHT) -> Prefiltered:
    """The ``n`` candidates that agree best with the predicted functional groups, the 13C
    lines and the 1H integrals.

    The score is the ranking's ``fg`` term (Bernoulli log-likelihood of the candidate's groups)
    minus ``c13_weight`` x the L1 distance between the candidate's and the observed
    13C line counts per shift region (:mod:`~mspectmol.structure.carbon_count`) when
    ``c13_regions`` (the observed counts, ``(3,)``) is given, and ``h1_weight`` x the L1
    distance in protons between the candidate's predicted and the observed 1H integral shares
    per region (:mod:`~mspectmol.structure.proton_count`) when ``h1_regions`` (the observed
    shares, ``(4,)``) is given. Ties (to 1e-9) keep the input
    order, so the result is reproducible; candidates that RDKit cannot label are dropped.
    ``labels`` ``(len(candidates), 37)`` skips labelling.
    """
    from mspectmol.chem.functional_groups import label_many
    from mspectmol.structure.carbon_count import carbon_regions_many, region_mismatch
    from mspectmol.structure.proton_count import proton_mismatch, proton_types_many

    if n < 1:
        raise MspectmolError(f"the pre-filter must keep >= 1 candidates, got {n}")
    if c13_weight < 0:
        raise MspectmolError(f"the 13C pre-filter weight must be >= 0, got {c13_weight}")
    if not h1_weight >= 0:
        raise MspectmolError(f"the 1H pre-filter weight must be >= 0, got {h1_weight}")
    cands = list(candidates)
    if labels is None:
        labels, ok = label_many(cands, errors="skip", return_valid=True)
        cands = [c for c, v in zip(cands, ok, strict=True) if v]
    fg = fg_agreement(probabilities, labels) if cands else np.zeros(0)
    mismatch = np.zeros(len(cands))
    if c13_regions is not None and c13_weight > 0 and cands:
        mismatch = region_mismatch(carbon_regions_many(cands), c13_regions)
    h1 = np.zeros(len(cands))
    if h1_regions is not None and h1_weight > 0 and cands:
        h1 = proton_mismatch(proton_types_many(cands), h1_regions)
    score = fg - c13_weight * mismatch - h1_weight * h1
    order = np.argsort(-np.round(score, 9), kind="stable")[:n]  # exact ties stay ties
    return Prefiltered([cands[i] for i in order], np.asarray(labels)[order], fg[order],
                       len(candidates), mismatch[order], h1[order])


def fast_nmr_spectra(grids: Mapping[str, np.ndarray], jobs: int = 1) -> SimulatedSpectra:
    """The fast NMR simulation of candidates (in ``jobs`` processes), disk-cached, failures
    included: an ETKDG embedding that fails (strained QM9 cages) costs about 8 s and fails
    again."""
    return SimulatedSpectra(grids, fast_nmr=True, remember_failures=True, jobs=jobs)


def _given(modality: str, modalities: Sequence[str], available: np.ndarray,
           simulated: SimulatedSpectra) -> bool:
    """Whether an observed ``modality`` spectrum is given and has a simulator grid."""
    mods = list(modalities)
    return modality in simulated.grids and modality in mods and bool(
        available[mods.index(modality)])


def rank_isomers(eluc: Any, observed: Mapping[str, np.ndarray], available: np.ndarray,
                 formula: str, *, index: IsomerIndex, simulated: SimulatedSpectra,
                 n_keep: int = DEFAULT_PREFILTER, weights: RankWeights | None = None,
                 smooth: float | None = None, extra: Sequence[tuple[str, str]] = (),
                 features: np.ndarray | None = None, probabilities: np.ndarray | None = None,
                 c13_weight: float = C13_WEIGHT, h1_weight: float = H1_WEIGHT,
                 source: str = "qm9", draw_counts: Mapping[str, int] | None = None
                 ) -> tuple[list[Any], Prefiltered]:
    """Rank the QM9 isomers of ``formula`` kept by :func:`prefilter` (plus ``extra``).

    ``extra`` ``(smiles, source)`` candidates (e.g. the user's) skip the pre-filter.
    Candidates are ranked by :meth:`~mspectmol.structure.elucidation.Elucidator.rank`
    (a failed simulation counts as the worst spectral match) with ``weights`` and ``smooth``
    defaulting to :data:`FAST_NMR_WEIGHTS` and :data:`FAST_NMR_SMOOTH`. Returns the
    RankedCandidate list (best first) and what the pre-filter kept. When a 13C spectrum is
    available, the pre-filter also compares 13C line counts per shift region (on the
    simulator's 13C grid) with ``c13_weight``; when a 1H spectrum is available, 1H integrals
    per region with ``h1_weight``. ``source`` names where ``index`` came from (each kept
    isomer's source). ``draw_counts`` (generated candidates) adds the ``gen`` term.
    """
    from mspectmol.chem.functional_groups import label
    from mspectmol.structure.tokens import canonical

    avail = np.asarray(available, dtype=bool)
    if not any(a and m in simulated.modalities for m, a in zip(eluc.modalities, avail,
                                                             strict=True)):
        raise MspectmolError(f"QM9 candidates are ranked by simulated "
                             f"{'/'.join(simulated.modalities)} spectra: give one of those")
    if probabilities is None:
        batch = {m: np.asarray(observed[m], dtype=np.float32)[None] for m in eluc.modalities}
        probabilities = eluc.group_probabilities(batch, avail[None])[0]
    isomers = index.isomers(formula)
    if not isomers and not extra:
        raise MspectmolError(f"QM9 has no molecule of formula {formula} (QM9 holds molecules "
                             "of up to 9 heavy atoms C, N, O, F)")
    c13 = h1 = None
    if _given("c_nmr", eluc.modalities, avail, simulated):
        from mspectmol.structure.carbon_count import observed_carbon_regions

        c13 = observed_carbon_regions(observed["c_nmr"], simulated.grids["c_nmr"])
    if _given("h_nmr", eluc.modalities, avail, simulated) and h1_weight > 0:
        from mspectmol.structure.proton_count import region_integrals

        y = np.asarray(observed["h_nmr"], dtype=np.float64)
        if np.any(y != 0):  # an empty spectrum (no protons seen) adds no 1H term; NaN raises
            h1 = region_integrals(y, simulated.grids["h_nmr"])
    kept = prefilter(isomers, probabilities, n_keep, c13_regions=c13, c13_weight=c13_weight,
                     h1_regions=h1, h1_weight=h1_weight)
    cands, sources = list(kept.smiles), [source] * len(kept.smiles)
    labels = [kept.labels] if cands else []
    for smi, src in extra:
        c = canonical(smi)
        if c is not None and c not in cands:
            cands.append(c)
            sources.append(src)
            labels.append(label(c)[None])
    ranked = eluc.rank(observed, avail, formula, cands, sources=sources, simulated=simulated,
                       weights=weights or FAST_NMR_WEIGHTS, features=features,
                       probabilities=probabilities, labels=np.concatenate(labels),
                       missing="worst", smooth=FAST_NMR_SMOOTH if smooth is None else smooth,
                       draw_counts=draw_counts)
    return ranked, kept
