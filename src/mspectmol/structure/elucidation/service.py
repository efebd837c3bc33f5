"""The elucidation service: spectra in, ranked candidate structures out, for the CLI, the
benchmark and the Python API.

>>> from mspectmol.structure.elucidation import ElucidationOptions, SpectrumFiles, elucidate
>>> result = elucidate(ElucidationOptions(
...     SpectrumFiles({"ir": ir_file, "h_nmr": h_file}), mode="rank", formula="C9H8O4",
...     candidates=(("CC(=O)Oc1ccccc1C(=O)O", "aspirin"),)))  # doctest: +SKIP
>>> [(c.smiles, c.score, c.explanation) for c in result.candidates]  # doctest: +SKIP

:class:`ElucidationService` holds the loaded models (the structure decoder, its PA-IB
encoder, the functional-group classifier and, when asked for, the generator and the QM9
isomer index) and the candidate simulators, so that it can run many elucidations (the
benchmark runs one per molecule); :func:`elucidate` loads what one set of options needs and
runs it. The modes' steps are in :mod:`~mspectmol.structure.elucidation.modes`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from mspectmol.data.samples import SampleSpec
from mspectmol.errors import MspectmolError
from mspectmol.models.inference import find_model, model_grid
from mspectmol.models.inputs import load_sample
from mspectmol.models.io import ModelMeta, load_model
from mspectmol.structure.elucidation.elucidator import Elucidator
from mspectmol.structure.elucidation.mass import read_mass_evidence, with_ms_formula
from mspectmol.structure.elucidation.modes import run as run_mode
from mspectmol.structure.elucidation.options import (
    ElucidationOptions,
    ElucidationResult,
    Observation,
    SpectrumFiles,
    check_options,
)
from mspectmol.structure.generation.generator import (
    Generator,
    default_generator,
    prior_model_path,
)
from mspectmol.structure.generation.sampling import Sampled
from mspectmol.structure.libraries.qm9 import IsomerIndex, load_index
from mspectmol.structure.model.domain import ModelDomain, model_domain
from mspectmol.structure.model.io import load_structure_model
from mspectmol.structure.model.variants import check_encoder
from mspectmol.structure.pretrained import structure_model_path
from mspectmol.structure.ranking.prefilter import fast_nmr_spectra
from mspectmol.structure.ranking.refine import full_spectra
from mspectmol.structure.ranking.simulation import SimulatedSpectra

log = logging.getLogger("mspectmol.structure")


class ElucidationService:
    """Loaded models and simulators; :meth:`run` elucidates one sample.

    Parameters
    ----------
    elucidator
        The structure decoder with its PA-IB encoder (and classifier).
    model_path
        The structure model's folder (reported in results).
    encoder_meta
        The PA-IB encoder's file description: its grids read spectrum files
        (:class:`~mspectmol.structure.elucidation.options.SpectrumFiles`); without it only
        :class:`~mspectmol.structure.elucidation.options.Observation` samples are accepted.
    generator, generator_path, qm9_index
        The generator, its folder and the QM9 isomer index; loaded on first use when not
        given.
    """

    def __init__(self, elucidator: Elucidator, model_path: Path | None = None, *,
                 encoder_meta: ModelMeta | None = None, generator: Generator | None = None,
                 generator_path: Path | None = None,
                 qm9_index: IsomerIndex | None = None) -> None:
        self.elucidator = elucidator
        self.model_path = model_path
        self.encoder_meta = encoder_meta
        self._generator, self.generator_path = generator, generator_path
        self._qm9_index = qm9_index
        self._simulators: dict[tuple[Any, ...], SimulatedSpectra] = {}
        self.load_seconds = 0.0

    @classmethod
    def load(cls, model: Path | None = None, *, generator: Path | None = None,
             with_generator: bool = False, with_qm9: bool = False) -> ElucidationService:
        """Load the structure model (default: packaged), its PA-IB encoder and the default
        classifier (the ``fg`` term's model when it is a PA-IB model on the same spectra)
        and, first (their problems are the likelier ones), the QM9 index and the generator.

        Raises
        ------
        MspectmolError
            For a missing or unreadable model, qm9pack missing, or an encoder other than the
            one the structure model was trained on.
        """
        started = time.perf_counter()
        index = load_index() if with_qm9 else None  # qm9pack missing, or its first build
        gen = Generator.load(generator) if with_generator else None
        path = structure_model_path(model)
        decoder, vocab, smeta = load_structure_model(path)
        encoder, emeta = load_model(find_model((smeta.encoder or {}).get("model")))
        check_encoder(smeta.encoder, emeta.content_hash, str(path))
        classifier, cmeta = load_model(find_model(None))
        same = cmeta.model_name == "pa_ib" and tuple(cmeta.modalities) == tuple(emeta.modalities)
        eluc = Elucidator(decoder, vocab, smeta, encoder, classifier if same else None)
        service = cls(eluc, path, encoder_meta=emeta, generator=gen,
                      generator_path=prior_model_path(generator) if gen else None,
                      qm9_index=index)
        service.load_seconds = time.perf_counter() - started
        return service

    @classmethod
    def for_options(cls, options: ElucidationOptions) -> ElucidationService:
        """:meth:`load` what ``options`` need."""
        generating = options.mode == "generate"
        generator = options.generator or (default_generator(options.formula) if generating
                                          else None)
        return cls.load(options.model, generator=generator, with_generator=generating,
                        with_qm9=options.mode == "qm9")

    def __enter__(self) -> ElucidationService:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the simulators' worker processes, if any were started."""
        for sim in self._simulators.values():
            sim.close()
        self._simulators.clear()

    # -- what the modes use ------------------------------------------------------------------

    @property
    def modalities(self) -> tuple[str, ...]:
        """The structure model's modalities, in order."""
        return self.elucidator.modalities

    def generator(self, path: Path | None = None) -> Generator:
        """The generator (``path``, or the packaged one), loaded once; asking for another
        one replaces it.

        Raises
        ------
        MspectmolError
            When it cannot be loaded.
        """
        held = self.generator_path
        if self._generator is not None:
            if path is None and held is None:  # handed in without its folder
                return self._generator
            if held is not None and Path(held).resolve() == prior_model_path(path).resolve():
                return self._generator
        self.generator_path = prior_model_path(path)
        self._generator = Generator.load(self.generator_path)
        return self._generator

    def qm9_index(self) -> IsomerIndex:
        """The QM9 isomer index, loaded (or built) once."""
        if self._qm9_index is None:
            self._qm9_index = load_index()
        return self._qm9_index

    def simulator(self, kind: str, grids: Mapping[str, np.ndarray], jobs: int
                  ) -> SimulatedSpectra:
        """The ``fast`` (NMR) or ``full`` simulation of candidates on ``grids``, kept for
        later runs (its worker processes too)."""
        key = (kind, jobs, *((m, g.size, float(g[0]), float(g[-1]))
                             for m, g in sorted(grids.items())))
        if key not in self._simulators:
            make = fast_nmr_spectra if kind == "fast" else full_spectra
            self._simulators[key] = make(grids, jobs=jobs)
        return self._simulators[key]

    def domain(self, generator: bool = False, path: Path | None = None) -> ModelDomain:
        """The training domain of the structure decoder, or of the generator (``path``, or
        the packaged one)."""
        if generator:
            gen = self.generator(path)
            return model_domain(gen.meta.training, gen.vocab)
        return model_domain(self.elucidator.meta.training, self.elucidator.vocab)

    # -- observations ------------------------------------------------------------------------

    def observe(self, sample: SpectrumFiles | Observation, *, features: bool = True
                ) -> Observation:
        """The sample on the model grids, with its group probabilities and (unless
        ``features`` is False) memory features.

        Raises
        ------
        MspectmolError
            No IR spectrum, a file that cannot be read, or files without the encoder's
            description.
        """
        if isinstance(sample, SpectrumFiles):
            sample = self._read(sample)
        batch = {m: np.asarray(sample.spectra[m])[None] for m in self.modalities}
        if sample.features is None and features:
            sample.features = self.elucidator.features(batch)[0]
        if sample.probabilities is None:
            sample.probabilities = self.elucidator.group_probabilities(
                batch, np.asarray(sample.available, dtype=bool)[None])[0]
        return sample

    def _read(self, sample: SpectrumFiles) -> Observation:
        files = {m: Path(p) for m, p in sample.files.items()}
        if "ir" not in files:
            raise MspectmolError("elucidation needs an IR spectrum: it is the PA-IB model's "
                                 "primary spectrum")
        if self.encoder_meta is None:
            raise MspectmolError("this service reads no spectrum files (no PA-IB encoder "
                                 "description): give an Observation")
        read = load_sample(self.encoder_meta, SampleSpec("sample", files, None))
        mods = self.modalities
        return Observation({m: read.spectra[m] for m in mods},
                           np.asarray([read.available[m] for m in mods], dtype=bool),
                           {m: model_grid(self.encoder_meta, m) for m in mods})

    def observe_many(self, spectra: Mapping[str, np.ndarray], available: np.ndarray,
                     grids: Mapping[str, np.ndarray], *, features: bool = True
                     ) -> list[Observation]:
        """Observations of ``(n, n_points)`` spectra (zeros where missing) with availability
        ``(n, n_modalities)``, their features (unless ``features`` is False) and group
        probabilities computed for all of them at once."""
        mods = self.modalities
        avail = np.asarray(available, dtype=bool)
        feats = self.elucidator.features(spectra) if features else None
        probs = self.elucidator.group_probabilities(spectra, avail)
        return [Observation({m: spectra[m][j] for m in mods}, avail[j], dict(grids),
                            None if feats is None else feats[j], probs[j])
                for j in range(len(avail))]

    def draw(self, observation: Observation, formula: str, n: int, *,
             temperature: float, seed: int = 0, generator: Path | None = None,
             syntax: bool = False) -> Sampled:
        """``n`` generator draws of ``formula`` given the observation's evidence (``syntax``:
        constrained to parseable SMILES with sound valences)."""
        observation = self.observe(observation, features=False)
        return self.generator(generator).sample(
            observation.probabilities, observation.given(self.modalities), observation.grids,
            formula, n=n, temperature=temperature, seed=seed, syntax=syntax)

    # -- running -----------------------------------------------------------------------------

    def run(self, options: ElucidationOptions) -> ElucidationResult:
        """Elucidate one sample (see :mod:`~mspectmol.structure.elucidation.options`).

        Raises
        ------
        MspectmolError
            For options out of range, spectra that the mode cannot use, or a mode that finds
            nothing to rank (naming the training-domain limit the formula exceeds, if any).
        """
        started = time.perf_counter()
        evidence, notes = None, []
        if options.ms is not None:
            evidence = read_mass_evidence(options.ms, adduct=options.ms_adduct)
            options, notes = with_ms_formula(options, evidence)
        if options.mode == "generate" and options.generator is None:
            chosen = default_generator(options.formula)
            if chosen is not None:
                options = replace(options, generator=chosen)
                notes.append(f"{options.formula} is larger than QM9's molecules: the drug-size "
                             f"generator ({chosen.name}) proposes the candidates")
        check_options(options)
        if options.model is not None and self.model_path is not None and (
                Path(options.model).resolve() != Path(self.model_path).resolve()):
            raise MspectmolError(f"this service holds the structure model {self.model_path}, "
                                 f"not {options.model}")
        observation = self.observe(options.sample)
        observed_s = time.perf_counter() - started
        result = run_mode(self, options, observation, evidence)
        result.notes = [*notes, *result.notes]
        result.timings = {"load": self.load_seconds, "observe": observed_s,
                          **result.timings, "total": time.perf_counter() - started}
        return result


def elucidate(options: ElucidationOptions) -> ElucidationResult:
    """Load the models ``options`` need and run them once (see :class:`ElucidationService`).

    Raises
    ------
    MspectmolError
        See :meth:`ElucidationService.load` and :meth:`ElucidationService.run`.
    """
    if options.ms is None:  # else the formula may come from the mass spectrum (in run)
        check_options(options)
    with ElucidationService.for_options(options) as service:
        return service.run(options)
