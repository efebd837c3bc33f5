"""``mspectmol elucidate``: ranked candidate structures from measured spectra.

De-novo mode (no candidates): the structure decoder generates the top ``k`` valid, canonical,
distinct SMILES by beam search, conditioned on the formula when given (and filtered to it).
Ranking mode (``--candidates FILE`` and/or ``--library``): the given structures, or every
embedded-dataset molecule of the formula, are ranked by decoder likelihood, functional-group
agreement and distance to their simulated spectra (library molecules: the dataset's; others:
simulated with GFN2-xTB + CSP5 on demand and cached, unless ``--no-simulate``).
QM9 isomer library (``--formula F --library qm9``; needs the ``qm9pack`` package and an NMR
spectrum): every QM9 molecule of the formula (130,831 molecules; cached index,
:mod:`~mspectmol.structure.libraries.qm9`) is a candidate; the ``--prefilter`` N (default 200) that
agree best with the predicted functional groups and, given a 13C spectrum, its line counts
per shift region (``--c13-weight``), given a 1H spectrum, its integrals per shift region
(``--h1-weight``) are simulated with the fast NMR recipe and ranked,
with the fast-recipe weights and smoothing chosen on validation (ll 0, fg 0.3, spec 30,
10 points) unless ``--weights``/``--spec-smooth`` are given. ``--refine K`` (default 20 with
``--generate``) then simulates the best K with the full GFN2-xTB + CSP5 recipe (IR, 1H,
13C) and re-ranks them (:mod:`~mspectmol.structure.ranking.refine`).
Generate-and-rank mode (``--rerank N``): the decoder generates ``N`` structures, each is
simulated (cached) and they are re-ranked by the same score (only generated structures are
candidates); ``--fast-nmr`` simulates only their 1H/13C NMR spectra (about 0.1 s instead of
about 1 s per small molecule; the spectral term then compares the NMR spectra only).
Prints the ranked list and writes ``structures.csv``, ``structures.json`` and
``structures.svg`` (the top structures drawn) to the output folder; with a formula outside
what the generating (or scoring) model was trained on, a warning line says which limit it
exceeds (``out_of_domain`` in ``structures.json``).

The work is the elucidation service's (:mod:`mspectmol.structure.elucidation`): this module
turns the command line into its options and writes its result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mspectmol.cli.elucidate_io import FILE_MODALITIES, read_candidates, write_outputs
from mspectmol.cli.flags import add_deprecated_alias
from mspectmol.errors import MspectmolError
from mspectmol.structure.elucidation import ElucidationOptions, SpectrumFiles, elucidate
from mspectmol.structure.model.tokens import formula_counts
from mspectmol.structure.ranking.scores import RankWeights


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
    p.add_argument("--ms", type=Path, default=None, metavar="FILE",
                   help="mass spectrum (MGF, MSP, JCAMP-DX, text; MS/MS with its precursor or "
                        "MS1/EI): without --formula its best formula is used (said in the "
                        "output), and an MS/MS term scores how well each candidate's "
                        "fragments explain the peaks")
    p.add_argument("--ms-adduct", default=None,
                   help="ion type of --ms ([M+H]+, [M-H]-, [M+Na]+, [M]+ ...; default: the "
                        "file's, else [M+H]+ with a precursor and [M]+ without)")
    p.add_argument("--ms-weight", type=float, default=None, metavar="W",
                   help="weight of the MS/MS term (default 10: explaining 10%% more of the "
                        "fragment intensity is worth one log unit)")
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
    p.add_argument("--syntax", action="store_true",
                   help="with --generate: keep every draw a parseable SMILES with sound "
                        "valences and the formula's unsaturation (more structures of the "
                        "formula per draw for drug-size molecules)")
    p.add_argument("--drawn-weight", type=float, default=None, metavar="W",
                   help="with --generate: weight of log(1 + draws) of each structure in the "
                        "pre-filter (default 2.0, chosen on validation; 0 turns it off)")
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
    p.add_argument("-k", "--top", dest="k", type=int, default=10,
                   help="structures reported (default 10)")
    p.add_argument("--beam-width", type=int, default=None,
                   help="beam width of de-novo generation (default 2k with a formula, else k)")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   metavar="LL FG SPEC [GEN [LINES]]",
                   help="ranking weights of decoder log-likelihood, functional-group "
                        "agreement, spectral similarity, (--generate) the generator's "
                        "log(1 + draws) and the 13C line distance in ppm (default: the "
                        "model's, chosen on validation; with --library qm9 the fast-NMR "
                        "weights 0 0.3 30, chosen on validation by the benchmark's re-ranking "
                        "rows; with --generate those plus the GEN and LINES weights chosen on "
                        "validation, mspectmol.structure.ranking.prefilter.GENERATED_WEIGHTS)")
    p.add_argument("--model", type=Path, default=None,
                   help="structure model folder (default: the packaged one)")
    p.add_argument("--draw", type=int, default=6, help="structures drawn (default 6)")
    p.add_argument("-o", "--output", type=Path, default=Path("elucidation"), metavar="OUTDIR",
                   help="output folder (default: elucidation)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    workers = p.add_argument("--workers", dest="jobs", type=int, default=1, metavar="N",
                             help="processes that simulate candidates' spectra (default 1)")
    add_deprecated_alias(p, "--jobs", workers)
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar while candidates are simulated")
    p.set_defaults(run=run)


def _check_generate(args: argparse.Namespace) -> None:
    """Refuse ``--generate`` combinations that make no sense."""
    if args.generate is None:
        if (args.generator is not None or args.temperature is not None or args.syntax
                or args.drawn_weight is not None):
            raise MspectmolError("--generator, --temperature, --syntax and --drawn-weight "
                                 "apply to --generate only")
        return
    if args.drawn_weight is not None and not args.drawn_weight >= 0:  # also refuses NaN
        raise MspectmolError(f"--drawn-weight must be >= 0, got {args.drawn_weight}")
    if args.generate < 1:
        raise MspectmolError(f"--generate N needs N >= 1 draws, got {args.generate}")
    if args.formula is None and args.ms is None:
        raise MspectmolError("--generate needs --formula or --ms (the generator draws "
                             "structures of that formula)")
    if args.library is not None or args.rerank is not None:
        raise MspectmolError("--generate ranks the generator's own structures: it cannot be "
                             "combined with --library or --rerank")
    if args.temperature is not None and not args.temperature > 0:
        raise MspectmolError(f"--temperature must be > 0, got {args.temperature}")


def _check_ranking(args: argparse.Namespace, qm9: bool, name: str) -> None:
    """Refuse the pre-filter, second-stage and simulation flags where they do not apply or
    out of range."""
    if args.prefilter is not None and not qm9:
        raise MspectmolError("--prefilter applies to --library qm9 or --generate only")
    for flag, value in (("--c13-weight", args.c13_weight), ("--h1-weight", args.h1_weight)):
        if value is not None and not qm9:
            raise MspectmolError(f"{flag} applies to --library qm9 or --generate only")
        if value is not None and not value >= 0:  # also refuses NaN
            raise MspectmolError(f"{flag} must be >= 0, got {value}")
    if args.refine is not None and not qm9:
        raise MspectmolError("--refine applies to --library qm9 or --generate only")
    if args.refine is not None and args.refine < 0:
        raise MspectmolError(f"--refine K needs K >= 0 candidates, got {args.refine}")
    if args.refine_shift is not None and args.refine_shift < 0:
        raise MspectmolError(f"--refine-shift needs POINTS >= 0, got {args.refine_shift}")
    refining = args.refine > 0 if args.refine is not None else args.generate is not None
    if args.refine_shift is not None and not refining:
        raise MspectmolError("--refine-shift applies to the second ranking stage (--refine K "
                             "with K > 0)")
    if args.prefilter is not None and args.prefilter < 1:
        raise MspectmolError(f"--prefilter N needs N >= 1 candidates, got {args.prefilter}")
    if qm9 and args.no_simulate:
        raise MspectmolError(f"{name} ranks by simulated NMR spectra: it cannot be combined "
                             "with --no-simulate")
    if args.spec_smooth is not None and args.spec_smooth < 0:
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
    files = {m for m in FILE_MODALITIES if getattr(args, f"file_{m}") is not None}
    if "ir" in files and (args.fast_nmr or qm9) and not files - {"ir"}:
        raise MspectmolError((f"{name} ranks by simulated NMR (fast recipe)" if qm9 else
                              "--fast-nmr compares simulated NMR spectra only") +
                             ": give --h-nmr and/or --c-nmr"
                             + ("" if qm9 else " (or drop --fast-nmr to simulate IR too)"))


def options_from_args(args: argparse.Namespace) -> ElucidationOptions:
    """The elucidation options of the command line, its flags checked first.

    Raises
    ------
    MspectmolError
        Naming the flags that do not go together or a value out of range.
    """

    if args.k < 1 or args.draw < 0 or (args.beam_width or 1) < 1 or args.threads < 1:
        raise MspectmolError("-k, --beam-width and --threads must be >= 1, --draw >= 0")
    if args.weights is not None and len(args.weights) not in (3, 4, 5):
        raise MspectmolError(f"--weights takes 3 to 5 values (LL FG SPEC [GEN [LINES]]), got "
                             f"{len(args.weights)}")
    if args.formula is not None:
        formula_counts(args.formula)
    if args.library is not None and args.formula is None and args.ms is None:
        raise MspectmolError(f"--library {args.library} needs --formula or --ms (library "
                             "candidates share the formula)")
    if (args.ms_adduct is not None or args.ms_weight is not None) and args.ms is None:
        raise MspectmolError("--ms-adduct and --ms-weight apply with --ms FILE only")
    if args.ms_weight is not None and not args.ms_weight >= 0:
        raise MspectmolError(f"--ms-weight must be >= 0, got {args.ms_weight}")
    _check_generate(args)
    generating = args.generate is not None
    qm9 = args.library == "qm9" or generating  # generated isomers are ranked as QM9's are
    _check_ranking(args, qm9, "--generate" if generating else "--library qm9")
    files = {m: getattr(args, f"file_{m}") for m in FILE_MODALITIES
             if getattr(args, f"file_{m}") is not None}
    if "ir" not in files:
        raise MspectmolError("elucidate needs an IR spectrum (--ir FILE): it is the PA-IB "
                             "model's primary spectrum")
    candidates = tuple(read_candidates(args.candidates)) if args.candidates else ()
    mode = ("generate" if generating else "rerank" if args.rerank is not None
            else "qm9" if qm9 else "rank" if candidates or args.library else "denovo")
    return ElucidationOptions(
        SpectrumFiles(files), mode=mode, formula=args.formula, candidates=candidates,
        embedded_library=args.library == "embedded", k=args.k,
        n_generated=args.generate if generating else args.rerank,
        beam_width=args.beam_width, temperature=args.temperature, syntax=args.syntax,
        weights=RankWeights(*args.weights) if args.weights else None,
        spec_smooth=args.spec_smooth, prefilter=args.prefilter, c13_weight=args.c13_weight,
        h1_weight=args.h1_weight, drawn_weight=args.drawn_weight, refine=args.refine,
        refine_shift=args.refine_shift,
        simulate=not args.no_simulate, fast_nmr=args.fast_nmr and mode in ("rank", "rerank"),
        model=args.model, generator=args.generator, jobs=args.jobs,
        progress=not args.no_progress, ms=args.ms,
        ms_adduct=args.ms_adduct, ms_weight=args.ms_weight)


def run(args: argparse.Namespace) -> int:

    options = options_from_args(args)
    torch.set_num_threads(args.threads)
    write_outputs(elucidate(options), args.output, args.draw)
    return 0
