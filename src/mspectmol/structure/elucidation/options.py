"""What an elucidation is asked to do and what it returns: typed options in, a typed result out.

:class:`ElucidationOptions` names the sample (spectrum files, or spectra already on the
model grids as an :class:`Observation`), the formula, the mode, where the candidates come
from and every setting of the ranking; fields left None take the mode's default, chosen on
validation molecules (:func:`check_options` refuses values outside their range).
:class:`ElucidationResult` holds the ranked candidates with every score term and a one-line
explanation of each score, the settings that were used, the candidate pool's record, the
stages' messages, warnings, whether the formula lies outside the models' training domain,
and timings.

Modes (:data:`MODES`):

``denovo``
    The structure decoder's top ``k`` by beam search.
``rerank``
    The decoder's ``n_generated`` beam structures, simulated and re-ranked.
``rank``
    The given ``candidates`` and/or, with ``embedded_library``, every embedded-dataset
    molecule of the formula, ranked.
``qm9``
    Every QM9 isomer of the formula, pre-filtered, simulated with the fast NMR recipe and
    ranked (``candidates`` skip the pre-filter); ``refine`` re-ranks the best with the full
    simulation.
``generate``
    ``n_generated`` draws of the evidence-conditioned generator, ranked as QM9 isomers are,
    the best ``refine`` (default 20) re-ranked with the full simulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.structure.elucidation.elucidator import RankedCandidate
from mspectmol.structure.generation.sampling import Sampled
from mspectmol.structure.model.tokens import formula_counts
from mspectmol.structure.ranking.scores import RankWeights

MODES = ("denovo", "rerank", "rank", "qm9", "generate")
#: How each mode is named in reports (``structures.json``'s ``mode``).
MODE_LABELS = {"denovo": "de novo", "rerank": "de novo + rerank", "rank": "ranking",
               "qm9": "ranking", "generate": "de novo + rerank"}


@dataclass(frozen=True)
class SpectrumFiles:
    """One sample's spectrum files by modality (``ir``, ``h_nmr``, ``c_nmr``; IR required),
    read and prepared onto the PA-IB model's grids."""

    files: Mapping[str, Path]


@dataclass
class Observation:
    """One sample's spectra on the model grids.

    ``spectra`` maps each of the structure model's modalities to its ``(n_points,)`` spectrum
    (zeros when missing), ``available`` says which are given (model order) and ``grids``
    holds their axes. ``features`` (memory features) and ``probabilities`` (functional-group
    probabilities) are computed when first needed unless given (e.g. computed for many
    samples at once).
    """

    spectra: dict[str, np.ndarray]
    available: np.ndarray
    grids: dict[str, np.ndarray]
    features: np.ndarray | None = None
    probabilities: np.ndarray | None = None

    def given(self, modalities: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The available spectra, by modality."""
        return {m: self.spectra[m] for m, a in zip(modalities, self.available, strict=True)
                if a}


@dataclass(frozen=True)
class ElucidationOptions:
    """What to elucidate and how (see the module docstring for the modes).

    Parameters
    ----------
    sample
        Spectrum files or an :class:`Observation`.
    mode
        One of :data:`MODES`.
    formula
        Hill formula: conditions and filters generation, selects library candidates and
        drops candidates of another formula; needed by ``qm9`` and ``generate``.
    candidates
        ``(SMILES, label)`` pairs to rank (``rank``; in ``qm9`` they skip the pre-filter).
    embedded_library
        ``rank``: add every embedded-dataset molecule of the formula.
    k
        Structures reported (None: every ranked one; ``denovo`` needs a number).
    n_generated
        ``rerank``: beam structures kept as candidates; ``generate``: generator draws.
    beam_width
        Beam width (default ``2 k`` with a formula, else ``k``; ``n_generated`` for rerank).
    temperature, seed
        ``generate``: sampling temperature (default 1) and seed of the draws.
    syntax
        ``generate``: keep every draw a parseable SMILES string with sound valences and the
        formula's unsaturation (:mod:`~mspectmol.structure.generation.syntax`).
    weights
        Ranking weights (default: the model's for ``rank``/``rerank``, the fast-NMR ones for
        ``qm9``, those plus the ``gen`` weight for ``generate``).
    spec_smooth
        Gaussian blur (grid points) before the spectral comparison (default 10 for ``qm9``
        and ``generate``, else 0).
    prefilter, c13_weight, h1_weight
        ``qm9``/``generate``: candidates kept by the pre-filter and its 13C and 1H weights.
    drawn_weight
        ``generate``: the pre-filter's weight of ``log(1 + draws)`` of each structure
        (default :data:`~mspectmol.structure.ranking.prefilter.DRAWN_WEIGHT`).
    refine, refine_shift
        ``qm9``/``generate``: candidates re-ranked by the full simulation (default 20 for
        ``generate``, 0 for ``qm9``) and the largest whole-spectrum shift searched there.
    simulate, fast_nmr
        Simulate candidates outside the library (``rank``), with the fast NMR-only recipe.
    model, generator
        Structure-model and generator folders (default: the packaged ones).
    drawn
        ``generate``: draws already made for this sample (reused instead of drawing again).
    jobs
        Processes simulating candidates.
    progress
        Show a progress bar with the remaining time on stderr while candidates are
        simulated (the command line does, unless ``--no-progress``).
    ms, ms_adduct, ms_weight
        A mass spectrum file (MS/MS with its precursor, or MS1/EI), its ion type (default:
        the file's, else ``[M+H]+`` with a precursor, ``[M]+`` without) and the weight of the
        MS/MS fragment term (default :data:`~mspectmol.structure.elucidation.mass.MS_WEIGHT`);
        without a formula, the spectrum's best formula is used and a note says so.
    """

    sample: SpectrumFiles | Observation
    mode: str = "denovo"
    formula: str | None = None
    candidates: tuple[tuple[str, str], ...] = ()
    embedded_library: bool = False
    k: int | None = 10
    n_generated: int | None = None
    beam_width: int | None = None
    temperature: float | None = None
    seed: int = 0
    syntax: bool = False
    weights: RankWeights | None = None
    spec_smooth: float | None = None
    prefilter: int | None = None
    c13_weight: float | None = None
    h1_weight: float | None = None
    drawn_weight: float | None = None
    refine: int | None = None
    refine_shift: int | None = None
    simulate: bool = True
    fast_nmr: bool = False
    model: Path | None = None
    generator: Path | None = None
    drawn: Sampled | None = None
    jobs: int = 1
    progress: bool = False
    ms: Path | None = None
    ms_adduct: str | None = None
    ms_weight: float | None = None

    @property
    def label(self) -> str:
        """The mode as reports name it (:data:`MODE_LABELS`)."""
        return MODE_LABELS[self.mode]


def _at_least(name: str, value: float | None, low: float) -> None:
    if value is not None and not value >= low:  # also refuses NaN
        raise MspectmolError(f"{name} must be >= {low:g}, got {value}")


def check_options(options: ElucidationOptions) -> None:
    """Refuse options outside their range or that the mode cannot use.

    Raises
    ------
    MspectmolError
        Naming the option.
    """
    o = options
    if o.mode not in MODES:
        raise MspectmolError(f"unknown elucidation mode {o.mode!r}; known: {', '.join(MODES)}")
    if o.formula is not None:
        formula_counts(o.formula)
    if o.k is None and o.mode == "denovo":
        raise MspectmolError("the denovo mode reports the beam's top k: give k")
    for name, low in (("k", 1), ("n_generated", 1), ("beam_width", 1), ("prefilter", 1),
                      ("c13_weight", 0), ("h1_weight", 0), ("drawn_weight", 0), ("refine", 0),
                      ("refine_shift", 0), ("spec_smooth", 0), ("jobs", 1)):
        _at_least(name, getattr(o, name), low)
    if o.temperature is not None and not o.temperature > 0:
        raise MspectmolError(f"temperature must be > 0, got {o.temperature}")
    if o.mode in ("rerank", "generate") and o.n_generated is None:
        raise MspectmolError(f"the {o.mode} mode needs n_generated")
    if o.mode in ("qm9", "generate") and o.formula is None:
        raise MspectmolError(f"the {o.mode} mode needs a formula")
    if o.mode == "rank" and not o.candidates and not o.embedded_library:
        raise MspectmolError("the rank mode needs candidates or the embedded library")
    if o.embedded_library and (o.mode != "rank" or o.formula is None):
        raise MspectmolError("the embedded library is searched in the rank mode, with a "
                             "formula")
    if not o.simulate and (o.mode in ("rerank", "qm9", "generate") or o.fast_nmr):
        raise MspectmolError(f"the {o.mode} mode ranks by simulated spectra: it needs "
                             "simulate")
    if o.fast_nmr and (o.mode not in ("rerank", "rank") or o.embedded_library):
        raise MspectmolError("fast_nmr applies to the rerank and rank modes, without the "
                             "embedded library (the qm9 and generate modes always use it)")
    if (o.ms_weight is not None or o.ms_adduct is not None) and o.ms is None:
        raise MspectmolError("ms_weight and ms_adduct apply with a mass spectrum (ms) only")
    _at_least("ms_weight", o.ms_weight, 0)
    if o.drawn is not None and o.mode != "generate":
        raise MspectmolError("drawn structures are ranked in the generate mode only")


@dataclass
class ElucidationResult:
    """What an elucidation found and how.

    Attributes
    ----------
    mode, label
        The mode and its report name (:data:`MODE_LABELS`).
    formula, spectra, model
        The formula, the modalities given and the structure model's folder (None when the
        service was given a loaded model without it).
    candidates
        Ranked structures, best first (at most ``k``), every score term set where used and
        ``explanation`` the score's weighted terms in one line (de novo: the beam score).
    weights, spec_smooth
        The ranking weights and smoothing used (None in the ``denovo`` mode).
    library
        The candidate pool's record (``qm9``/``generate``): its size, the pre-filter, the
        simulations and the second stage.
    first_stage, kept, sampled
        ``qm9``/``generate``: every candidate of the first ranking stage, what the
        pre-filter kept and (``generate``) the generator's draws.
    notes
        One line per stage (the pool and what the pre-filter kept; the second stage).
    warnings
        Everything that was logged as a warning (dropped candidates, failed simulations).
    out_of_domain
        None without a formula; else why the formula lies outside the training domain of
        the model that proposes or scores the candidates (empty: inside it).
    timings
        Seconds per stage (``load``, ``observe``, ``candidates``, ``refine``, ``total``).
    """

    mode: str
    label: str
    formula: str | None
    spectra: list[str]
    model: Path | None
    candidates: list[RankedCandidate]
    weights: RankWeights | None = None
    spec_smooth: float | None = None
    library: dict[str, Any] | None = None
    first_stage: list[RankedCandidate] | None = None
    kept: list[str] | None = None
    sampled: Sampled | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    out_of_domain: list[str] | None = None
    timings: dict[str, float] = field(default_factory=dict)
