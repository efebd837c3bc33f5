"""``mspectmol elucidate``: ranked candidate structures from measured spectra.

De-novo mode (no candidates): the structure decoder generates the top ``k`` valid, canonical,
distinct SMILES by beam search, conditioned on the formula when given (and filtered to it).
Ranking mode (``--candidates FILE`` and/or ``--library``): the given structures, or every
embedded-dataset molecule of the formula, are ranked by decoder likelihood, functional-group
agreement and distance to their simulated spectra (library molecules: the dataset's; others:
simulated with GFN2-xTB + CSP5 on demand and cached, unless ``--no-simulate``).
QM9 isomer library (``--formula F --library qm9``; needs the ``qm9pack`` package and an NMR
spectrum): every QM9 molecule of the formula (130,831 molecules; cached index,
:mod:`~mspectmol.structure.isomers`) is a candidate; the ``--prefilter`` N (default 200) that
agree best with the predicted functional groups and, given a 13C spectrum, its line counts
per shift region (``--c13-weight``), given a 1H spectrum, its integrals per shift region
(``--h1-weight``) are simulated with the fast NMR recipe and ranked,
with the fast-recipe weights and smoothing chosen on validation (ll 0, fg 0.3, spec 30,
10 points) unless ``--weights``/``--spec-smooth`` are given. ``--refine K`` (default 20 with
``--generate``) then simulates the best K with the full GFN2-xTB + CSP5 recipe (IR, 1H,
13C) and re-ranks them (:mod:`~mspectmol.structure.refine`).
Generate-and-rank mode (``--rerank N``): the decoder generates ``N`` structures, each is
simulated (cached) and they are re-ranked by the same score (only generated structures are
candidates); ``--fast-nmr`` simulates only their 1H/13C NMR spectra (about 0.1 s instead of
about 1 s per small molecule; the spectral term then compares the NMR spectra only).
Prints the ranked list and writes ``structures.csv``, ``structures.json`` and
``structures.svg`` (the top structures drawn) to the output folder.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from mspectmol.cli.elucidate_io import (
    FILE_MODALITIES,
    draw_structures,
    library_spectra,
    observed_spectra,
    read_candidates,  # noqa: F401 - part of this module's API
)

log = logging.getLogger("mspectmol.elucidate")



def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "elucidate", parents=parents,
        help="propose or rank candidate structures (SMILES) from spectra",
        description="Generate candidate structures from IR (required) and 1H/13C-NMR spectra "
                    "with the structure decoder (appendix S.2), optionally conditioned on "
                    "the molecular formula, or rank given candidates (a SMILES file, or "
                    "every molecule of the formula in the embedded dataset or in QM9) by how "
                    "well they explain the spectra.",
    )
    files = p.add_argument_group("spectrum files")
    for m, opt in FILE_MODALITIES.items():
        files.add_argument(opt, dest=f"file_{m}", type=Path, default=None, metavar="FILE",
                           help=f"{m.replace('_', ' ')} spectrum file"
                                + (" (required)" if m == "ir" else ""))
    p.add_argument("--formula", default=None,
                   help="molecular formula (e.g. C9H8O4): conditions the decoder, filters "
                        "generated structures and selects library candidates")
    p.add_argument("--candidates", type=Path, default=None, metavar="FILE",
                   help="candidate structures to rank: one SMILES per line (an optional "
                        "name after whitespace; # starts a comment)")
    p.add_argument("--library", nargs="?", const="embedded", default=None,
                   choices=("embedded", "qm9"),
                   help="rank every molecule of --formula in a library: the embedded dataset "
                        "('--library' alone; its stored spectra) or QM9 ('--library qm9': "
                        "130,831 molecules from the qm9pack package, pre-filtered by "
                        "functional groups, simulated with the fast NMR recipe; needs "
                        "--h-nmr or --c-nmr)")
    p.add_argument("--generate", type=int, default=None, metavar="N",
                   help="de novo: draw N SMILES of --formula from the evidence-conditioned "
                        "generator (functional groups, 13C lines, 1H integrals; 4000 in the "
                        "benchmark), then pre-filter, simulate (fast NMR) and rank the "
                        "distinct structures as --library qm9 does (needs an NMR spectrum), "
                        "and re-rank the best 20 with the full simulation (--refine)")
    p.add_argument("--generator", type=Path, default=None, metavar="DIR",
                   help="with --generate: the generator model folder (default: packaged)")
    p.add_argument("--temperature", type=float, default=None, metavar="T",
                   help="with --generate: sampling temperature (default 1)")
    p.add_argument("--prefilter", type=int, default=None, metavar="N",
                   help="with --library qm9 or --generate: simulate and rank only the N that agree "
                        "best with the predicted functional groups (default 200; about "
                        "0.1 s each)")
    p.add_argument("--c13-weight", type=float, default=None, metavar="W",
                   help="with --library qm9 or --generate, and --c-nmr: weight of the "
                        "mismatch between the observed 13C lines per shift region (< 95, "
                        "95-155, >= 155 ppm) and "
                        "each isomer's distinct carbons in the pre-filter (default 1.0, chosen "
                        "on validation; 0 turns it off, e.g. when solvent lines remain)")
    p.add_argument("--h1-weight", type=float, default=None, metavar="W",
                   help="with --library qm9 or --generate, and --h-nmr: weight of the "
                        "mismatch, in protons, between the observed 1H integrals per shift "
                        "region (< 2.8, 2.8-5.5, "
                        "5.5-8.9, >= 8.9 ppm) and each isomer's expected ones in the "
                        "pre-filter (default 1.0, chosen on validation; 0 turns it off, e.g. "
                        "when solvent, water or TMS lines remain)")
    p.add_argument("--refine", type=int, default=None, metavar="K",
                   help="with --generate or --library qm9: simulate the best K with the full "
                        "GFN2-xTB + CSP5 recipe (IR, 1H, 13C; about 1 s each, cached) and "
                        "re-rank them by that spectral match (default 20 with --generate, "
                        "chosen on validation; 0 with --library qm9; 0 turns it off)")
    p.add_argument("--refine-shift", type=int, default=None, metavar="POINTS",
                   help="with --refine: largest whole-spectrum shift, in grid points (IR 6 "
                        "cm-1, 1H 0.02 ppm, 13C 0.42 ppm each), searched before comparing a "
                        "full simulation with the observed spectrum, so that referencing "
                        "offsets cost nothing (default 20, chosen on validation; 0 compares "
                        "the spectra as given)")
    p.add_argument("--no-simulate", action="store_true",
                   help="do not simulate spectra of candidates outside the library (the "
                        "spectral term is then left out for all candidates)")
    p.add_argument("--rerank", type=int, default=None, metavar="N",
                   help="generate N structures by beam search, simulate their spectra and "
                        "re-rank them by likelihood, functional groups and spectral "
                        "similarity (generate and rank; e.g. 50)")
    p.add_argument("--fast-nmr", action="store_true",
                   help="simulate candidates' 1H/13C NMR only (RDKit ETKDG + MMFF geometry, "
                        "CSP5; no GFN2-xTB, no IR): about 10x faster; needs an NMR spectrum")
    p.add_argument("--spec-smooth", type=float, default=None, metavar="POINTS",
                   help="blur observed and simulated spectra with a Gaussian of this standard "
                        "deviation (grid points) before comparing them, so that slightly "
                        "shifted lines still match (default 0; 10 with --library qm9)")
    p.add_argument("-k", type=int, default=10, help="structures reported (default 10)")
    p.add_argument("--beam-width", type=int, default=None,
                   help="beam width of de-novo generation (default 2k with a formula, else k)")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   metavar="LL FG SPEC [GEN]",
                   help="ranking weights of decoder log-likelihood, functional-group "
                        "agreement, spectral similarity and (--generate) the generator's "
                        "log(1 + draws) (default: the model's, chosen on validation; with "
                        "--library qm9 the fast-NMR weights 0 0.3 30, chosen on validation by "
                        "the benchmark's re-ranking rows; with --generate those plus the GEN "
                        "weight chosen on validation, mspectmol.structure.isomers."
                        "GENERATED_WEIGHTS)")
    p.add_argument("--model", type=Path, default=None,
                   help="structure model folder (default: the packaged one)")
    p.add_argument("--draw", type=int, default=6, help="structures drawn (default 6)")
    p.add_argument("-o", "--output", type=Path, default=Path("elucidation"), metavar="OUTDIR",
                   help="output folder (default: elucidation)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="processes that simulate candidates' spectra (default 1)")
    p.set_defaults(run=run)


def _check_generate(args: argparse.Namespace) -> None:
    """Refuse ``--generate`` combinations that make no sense; default the temperature."""
    from mspectmol.errors import MspectmolError
    from mspectmol.structure.denovo import DEFAULT_TEMPERATURE

    if args.generate is None:
        if args.generator is not None or args.temperature is not None:
            raise MspectmolError("--generator and --temperature apply to --generate only")
        return
    if args.generate < 1:
        raise MspectmolError(f"--generate N needs N >= 1 draws, got {args.generate}")
    if args.formula is None:
        raise MspectmolError("--generate needs --formula (the generator draws structures of "
                             "that formula)")
    if args.library is not None or args.rerank is not None:
        raise MspectmolError("--generate ranks the generator's own structures: it cannot be "
                             "combined with --library or --rerank")
    args.temperature = DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
    if not args.temperature > 0:
        raise MspectmolError(f"--temperature must be > 0, got {args.temperature}")


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from mspectmol.errors import MspectmolError
    from mspectmol.models.inference import find_model, model_grid
    from mspectmol.models.io import load_model
    from mspectmol.structure import refine
    from mspectmol.structure.denovo import Generator, generated_index, prior_model_path
    from mspectmol.structure.elucidation import Elucidator
    from mspectmol.structure.io import load_structure_model
    from mspectmol.structure.isomers import (
        C13_WEIGHT,
        DEFAULT_PREFILTER,
        FAST_NMR_SMOOTH,
        FAST_NMR_WEIGHTS,
        GENERATED_WEIGHTS,
        H1_WEIGHT,
        fast_nmr_spectra,
        load_index,
        rank_isomers,
    )
    from mspectmol.structure.pipeline import check_encoder
    from mspectmol.structure.pretrained import structure_model_path
    from mspectmol.structure.ranking import RankWeights, SimulatedSpectra
    from mspectmol.structure.tokens import formula_counts, same_formula, smiles_formula

    if args.k < 1 or args.draw < 0 or (args.beam_width or 1) < 1 or args.threads < 1:
        raise MspectmolError("-k, --beam-width and --threads must be >= 1, --draw >= 0")
    if args.weights is not None and len(args.weights) not in (3, 4):
        raise MspectmolError(f"--weights takes 3 or 4 values (LL FG SPEC [GEN]), got "
                             f"{len(args.weights)}")
    if args.formula is not None:
        formula_counts(args.formula)
    if args.library is not None and args.formula is None:
        raise MspectmolError(f"--library {args.library} needs --formula (library candidates "
                             "share it)")
    generating = args.generate is not None
    _check_generate(args)
    qm9 = args.library == "qm9" or generating  # generated isomers are ranked as QM9's are
    if args.prefilter is not None and not qm9:
        raise MspectmolError("--prefilter applies to --library qm9 or --generate only")
    if args.c13_weight is not None and not qm9:
        raise MspectmolError("--c13-weight applies to --library qm9 or --generate only")
    c13_weight = C13_WEIGHT if args.c13_weight is None else args.c13_weight
    if not c13_weight >= 0:  # also refuses NaN
        raise MspectmolError(f"--c13-weight must be >= 0, got {c13_weight}")
    if args.h1_weight is not None and not qm9:
        raise MspectmolError("--h1-weight applies to --library qm9 or --generate only")
    h1_weight = H1_WEIGHT if args.h1_weight is None else args.h1_weight
    if not h1_weight >= 0:
        raise MspectmolError(f"--h1-weight must be >= 0, got {h1_weight}")
    if args.refine is not None and not qm9:
        raise MspectmolError("--refine applies to --library qm9 or --generate only")
    refine_k = (refine.K if generating else 0) if args.refine is None else args.refine
    if refine_k < 0:
        raise MspectmolError(f"--refine K needs K >= 0 candidates, got {refine_k}")
    refine_shift = refine.MAX_SHIFT if args.refine_shift is None else args.refine_shift
    if refine_shift < 0:
        raise MspectmolError(f"--refine-shift needs POINTS >= 0, got {refine_shift}")
    if args.refine_shift is not None and not refine_k:
        raise MspectmolError("--refine-shift applies to the second ranking stage (--refine K "
                             "with K > 0)")
    n_keep = DEFAULT_PREFILTER if args.prefilter is None else args.prefilter
    if n_keep < 1:
        raise MspectmolError(f"--prefilter N needs N >= 1 candidates, got {n_keep}")
    if qm9 and args.no_simulate:
        raise MspectmolError(f"{'--generate' if generating else '--library qm9'} ranks by "
                             "simulated NMR spectra: it cannot be combined with --no-simulate")
    if args.spec_smooth is None:
        args.spec_smooth = FAST_NMR_SMOOTH if qm9 else 0.0
    if args.spec_smooth < 0:
        raise MspectmolError(f"--spec-smooth must be >= 0 grid points, got {args.spec_smooth}")
    if args.rerank is not None:
        if args.rerank < 1:
            raise MspectmolError(f"--rerank N needs N >= 1 generated structures, got "
                                 f"{args.rerank}")
        if args.candidates is not None or args.library is not None:
            raise MspectmolError("--rerank ranks the decoder's own structures: it cannot be "
                                 "combined with --candidates or --library")
        if args.no_simulate:
            raise MspectmolError("--rerank re-ranks by simulated spectra: it cannot be combined "
                                 "with --no-simulate")
    if args.fast_nmr and (args.library == "embedded" or args.no_simulate
                          or (args.rerank is None and args.candidates is None and not qm9)):
        raise MspectmolError("--fast-nmr applies to --rerank, --candidates or --library qm9 "
                             "(without --library embedded or --no-simulate): it sets how "
                             "candidates are simulated")
    fast = args.fast_nmr or qm9
    # early: qm9pack missing, or the index's first build (~15 s); a generator's file problems
    index = load_index() if qm9 and not generating else None
    generator = Generator.load(args.generator) if generating else None
    torch.set_num_threads(args.threads)
    of_formula_text = f" of formula {args.formula}" if args.formula else ""
    path = structure_model_path(args.model)
    decoder, vocab, smeta = load_structure_model(path)
    enc_path = find_model((smeta.encoder or {}).get("model"))
    encoder, emeta = load_model(enc_path)
    check_encoder(smeta.encoder, emeta.content_hash, str(path))
    classifier, cmeta = load_model(find_model(None))  # the functional-group term's model
    same = cmeta.model_name == "pa_ib" and tuple(cmeta.modalities) == tuple(emeta.modalities)
    eluc = Elucidator(decoder, vocab, smeta, encoder, classifier if same else None)
    mods = tuple(smeta.modalities)
    observed, available = observed_spectra(args, emeta, mods)
    avail = np.asarray(available, dtype=bool)
    if fast and not any(a for m, a in zip(mods, avail, strict=True) if m != "ir"):
        raise MspectmolError((f"{'--generate' if generating else '--library qm9'} ranks by "
                              "simulated NMR (fast recipe)" if qm9 else
                              "--fast-nmr compares simulated NMR spectra only") +
                             ": give --h-nmr and/or --c-nmr"
                             + ("" if qm9 else " (or drop --fast-nmr to simulate IR too)"))
    grids = {m: model_grid(emeta, m) for m in mods}
    given = {m: observed[m] for m, a in zip(mods, avail, strict=True) if a}
    batch = {m: observed[m][None] for m in mods}
    feats = eluc.features(batch)
    probs = eluc.group_probabilities(batch, avail[None])[0]
    candidates: list[tuple[str, str]] = []
    if args.candidates is not None:
        candidates += read_candidates(args.candidates)
        if args.formula is not None:
            keep = [(c, n) for c, n in candidates
                    if same_formula(smiles_formula(c) or "", args.formula)]
            for c, n in candidates:
                if (c, n) not in keep:
                    log.warning("dropping candidate %s (%s): its formula %s is not %s", n, c,
                                smiles_formula(c), args.formula)
            candidates = keep
    ranking = bool(candidates) or args.library is not None
    weights = (RankWeights(*args.weights) if args.weights else GENERATED_WEIGHTS if generating
               else FAST_NMR_WEIGHTS if qm9 else
               RankWeights(**smeta.training.get("ranking_weights", {})))
    library_info = None
    if args.rerank is not None:
        sim = SimulatedSpectra(grids, fast_nmr=args.fast_nmr, jobs=args.jobs)
        ranked = eluc.generate_and_rank(observed, avail, args.formula, args.rerank, sim,
                                        weights=weights, beam_width=args.beam_width,
                                        smooth=args.spec_smooth)
        if sim.stats["failed"]:
            log.warning("%d of %d generated structures could not be simulated: they count "
                        "as the worst spectral match", sim.stats["failed"], len(ranked))
    elif qm9:
        sim = fast_nmr_spectra(grids, jobs=args.jobs)
        counts = None
        if generator is not None:
            sampled = generator.sample(probs, given, sim.grids, args.formula,
                                       n=args.generate, temperature=args.temperature)
            index = generated_index(sampled, args.formula)
            counts = sampled.count_map()
        ranked, kept = rank_isomers(eluc, observed, avail, args.formula, index=index,
                                    simulated=sim, n_keep=n_keep, weights=weights,
                                    smooth=args.spec_smooth, extra=candidates,
                                    features=feats[0], probabilities=probs,
                                    c13_weight=c13_weight, h1_weight=h1_weight,
                                    source="generated" if generating else "qm9",
                                    draw_counts=counts)
        library_info = {"library": "generated" if generating else "qm9",
                        **({"draws": args.generate, "temperature": args.temperature,
                            "generator": str(prior_model_path(args.generator))}
                           if generating else {"qm9pack": index.meta.get("qm9pack")}),
                        "isomers": kept.n_before, "prefilter": n_keep,
                        "c13_weight": c13_weight, "h1_weight": h1_weight,
                        "kept": len(kept.smiles), "simulation": dict(sim.stats)}
        terms = ["functional groups"] + ["13C lines"] * ("c_nmr" in given and c13_weight > 0) \
            + ["1H integrals"] * ("h_nmr" in given and h1_weight > 0)
        where = (f"generator: {kept.n_before} distinct structure(s) in {args.generate} draws"
                 if generating else f"QM9: {kept.n_before} isomer(s)")
        print(f"{where}{of_formula_text}, {len(kept.smiles)} kept by "
              f"agreement with the {', '.join(terms)} and simulated "
              f"({sim.stats['simulated']} new, "
              f"{sim.stats['cached']} cached, {sim.stats['failed']} failed)")
        if refine_k and ranked:
            full = refine.full_spectra(grids, jobs=args.jobs)
            ranked = refine.refine(ranked, given, full, k=refine_k, max_shift=refine_shift)
            full.close()
            library_info["refine"] = {"k": refine_k, "weight": refine.WEIGHT,
                                      "smooth": refine.SMOOTH, "max_shift": refine_shift,
                                      "simulation": dict(full.stats)}
            print(f"best {min(refine_k, len(ranked))} re-ranked by their full GFN2-xTB + CSP5 "
                  f"simulation ({full.stats['simulated']} new, {full.stats['cached']} cached, "
                  f"{full.stats['failed']} failed)")
    elif ranking:
        library, of_formula = ({}, []) if args.fast_nmr else library_spectra(
            args.formula if args.library else None, [c for c, _ in candidates], grids)
        candidates += [(c, "library") for c in of_formula]
        if not candidates:
            raise MspectmolError(f"the embedded dataset has no molecule of formula "
                                 f"{args.formula}")
        sim = SimulatedSpectra(grids, library, simulate=not args.no_simulate,
                               fast_nmr=args.fast_nmr, jobs=args.jobs)
        ranked = eluc.rank(observed, avail, args.formula, [c for c, _ in candidates],
                           sources=[s for _, s in candidates], simulated=sim,
                           weights=weights, features=feats[0], probabilities=probs,
                           smooth=args.spec_smooth)
        if ranked[0].spec is None:
            log.warning("spectral term left out: some candidates have no simulated spectra")
    if args.rerank is not None or ranking or generating:
        rows = [{"rank": i + 1, "smiles": r.smiles, "score": r.score, "ll": r.ll, "fg": r.fg,
                 "spec": r.spec, "gen": r.gen, "full": r.full, "source": r.source}
                for i, r in enumerate(ranked[:args.k])]
    else:
        width = args.beam_width or (2 * args.k if args.formula else args.k)
        res = eluc.generate(feats, avail[None], [args.formula], k=args.k, beam_width=width)[0]
        if not res.smiles:
            raise MspectmolError(f"no valid structure{of_formula_text} among "
                                 f"{res.n_hypotheses} beam hypotheses; try a larger "
                                 "--beam-width")
        rows = [{"rank": i + 1, "smiles": s, "score": sc, "ll": sc, "fg": None, "spec": None,
                 "gen": None, "full": None, "source": "generated"}
                for i, (s, sc) in enumerate(zip(res.smiles, res.scores, strict=True))]
    mode = ("de novo + rerank" if args.rerank is not None or generating else
            "ranking" if ranking else "de novo")
    print(f"{mode}: {len(rows)} structure(s){of_formula_text}")
    print(f"  {'rank':>4}  {'score':>8}  {'ll':>8}  {'fg':>7}  {'spec':>6}  {'gen':>5}  "
          f"{'full':>6}  smiles (source)")
    for r in rows:
        cells = [f"{r[k]:>{w}.{d}f}" if r[k] is not None else f"{'-':>{w}}"
                 for k, w, d in (("score", 8, 2), ("ll", 8, 2), ("fg", 7, 2), ("spec", 6, 3),
                                 ("gen", 5, 2), ("full", 6, 3))]
        print(f"  {r['rank']:>4}  {'  '.join(cells)}  {r['smiles']} ({r['source']})")
    args.output.mkdir(parents=True, exist_ok=True)
    import csv

    with (args.output / "structures.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    doc = {"mode": mode, "formula": args.formula,
           "spectra": [m for m, a in zip(mods, available, strict=True) if a],
           "model": str(path),
           **({"weights": weights.to_dict(), "spec_smooth": args.spec_smooth}
              if mode != "de novo" else {}),
           **({"library": library_info} if library_info else {}), "structures": rows}
    (args.output / "structures.json").write_text(json.dumps(doc, indent=1) + "\n",
                                                  encoding="utf-8")
    draw_structures(args.output / "structures.svg", rows, args.draw)
    print(f"wrote structures.csv, structures.json and structures.svg to {args.output}")
    return 0
