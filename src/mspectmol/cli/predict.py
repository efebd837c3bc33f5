"""``mspectmol predict``: functional groups from measured spectrum files.

One sample (``--ir F --h-nmr F ...``), a manifest CSV (``--manifest``: a ``sample`` column and
one column of file paths per modality, optional ``smiles`` and ``solvent`` columns) or a folder
of ``<sample>_<modality>.<ext>`` files (``--folder``). Each spectrum is prepared as a measured
spectrum (:mod:`mspectmol.spectra.pipeline`: units, NMR solvent and TMS peaks, baseline, the
model's grid); the model runs in batches with a progress bar. For each sample the command
prints the table of groups with their probabilities (confident calls marked) and the regions
behind each call, and writes ``<sample>.json`` and ``<sample>.html`` (self-contained) to the
output folder; with several samples it also writes ``summary.csv``. A sample whose files
cannot be read is reported (naming the file) and the others are still predicted; the exit
status is then 2.

A mass spectrum (``--ms FILE``, an ``ms`` manifest column, ``<sample>_ms.<ext>`` files) is not
an input of the packaged models: it gives the ranked molecular formulas of its ion
(:mod:`mspectmol.predict.mass`, as ``mspectmol formula``) and, with the sample's SMILES, the
MS/MS peaks that fragments of the structure explain, in every report. A sample with a mass
spectrum but without the primary spectrum the model needs gets the formulas only (said in its
reports, status ``formulas only`` in the summary; not an error).

A PA-IB model runs on NumPy (:mod:`mspectmol.models.numpy_inference`), so the command does
not import torch, whose import alone takes longer than a one-sample prediction;
``--engine torch`` runs the torch module instead, with the same results to float rounding.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from mspectmol.cli.flags import add_top_option
from mspectmol.cli.spectra_options import (
    add_file_options,
    add_model_argument,
    add_preparation_options,
    preparation_options,
)
from mspectmol.models.inference import model_modalities
from mspectmol.models.numpy_inference import ENGINES
from mspectmol.predict.common import DEFAULT_ROWS
from mspectmol.spectra.modalities import MODALITIES, option_name
from mspectmol.spectra.readers.formats import format_help, formats

log = logging.getLogger("mspectmol.predict")

FORMATS = ("table", "json", "html")
#: Defaults of the mass-spectrum options.
_MASS_DEFAULTS: dict[str, Any] = {"ms_adduct": None, "ms_ppm": 5.0, "ms_elements": None,
                                  "fragment_ppm": 10.0}


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "predict", parents=parents,
        help="predict functional groups from measured spectrum files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Predict the functional groups of one or many samples from their measured "
            "spectra with a saved model: print the probabilities and the spectral regions "
            "behind each confident call, write JSON and self-contained HTML reports per "
            "sample and a summary CSV.", 79) + "\n\n" + textwrap.fill(
            "A mass spectrum (--ms FILE, an 'ms' manifest column or <sample>_ms.<ext> files) "
            "is not a model input: its ion's molecular formulas are ranked as by 'mspectmol "
            "formula' and reported with the groups, and with a SMILES the reports say which "
            "MS/MS peaks fragments of the structure explain. A sample with a mass spectrum but "
            "without the primary spectrum the model needs (e.g. --ms FILE alone) gets the "
            "formulas only: its reports say the functional groups need the primary spectrum, "
            "the summary's status is 'formulas only', and the exit status is 0.", 79),
        epilog="spectrum files (the format is told by the content, else the extension):\n"
               + format_help(formats(dataset=False)),
    )
    add_model_argument(p)
    p.add_argument("--hash", action="store_true",
                   help="print the SHA-256 of the model's weights and model.json (in "
                        "sha256sum's format, to compare with hashes the model's author "
                        "publishes), check the weights against model.json, and exit")
    add_file_options(p, "one sample's spectrum files")
    p.add_argument("--smiles", default=None,
                   help="the sample's structure, if known: drawn in the HTML report with the "
                        "predicted groups highlighted and, with --ms, the MS/MS peaks its "
                        "fragments explain (one sample only)")
    many = p.add_argument_group("many samples")
    many.add_argument("--manifest", type=Path, default=None, metavar="CSV",
                      help="CSV with a 'sample' column, a column of file paths per modality "
                           "(ir, h_nmr, c_nmr, ...) and optional 'smiles' and 'solvent' "
                           "columns; relative paths are relative to the CSV")
    many.add_argument("--folder", type=Path, default=None, metavar="DIR",
                      help="folder of files named <sample>_<modality>.<ext>")
    add_preparation_options(p)
    _add_mass_options(p)
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", type=Path, default=Path("predictions"), metavar="OUTDIR",
                     help="folder for the JSON, HTML and summary files (default: predictions)")
    out.add_argument("--format", action="append", choices=FORMATS, default=None,
                     help="outputs to produce, repeatable (default: the table printed and "
                          "JSON and HTML written)")
    add_top_option(out, None, f"default: every call and at least {DEFAULT_ROWS}; the JSON "
                              "report keeps every group")
    out.add_argument("--regions", type=int, default=3,
                     help="spectral regions listed per modality and call (default 3)")
    out.add_argument("--batch-size", type=int, default=256,
                     help="samples per model batch (default 256)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument("--threads", type=int, default=None,
                     help="threads of the model: on torch, threads that each take whole "
                          "batches with one torch thread (default: torch's thread count; 1 is "
                          "fastest on a busy machine) or, on the NumPy engine, its BLAS "
                          "threads (default 1)")
    out.add_argument("--engine", choices=ENGINES, default="auto",
                     help="what runs the model: 'numpy' (PA-IB models only, without loading "
                          "torch: a faster start), 'torch', or 'auto' (default: NumPy for "
                          "PA-IB models, torch for the others); both give the same results "
                          "to float rounding")
    p.set_defaults(run=run)


def _add_mass_options(parser: argparse.ArgumentParser) -> None:
    """The options of the mass-spectrum part (formulas and explained peaks)."""
    ms = parser.add_argument_group("mass spectrum: molecular formula and explained peaks")
    ms.add_argument("--ms-adduct", default=None, metavar="ION",
                    help="ion type of the mass spectra: [M+H]+, [M+Na]+, [M-H]-, [M]+ (EI), ... "
                         "as for 'mspectmol formula --adduct' (default: the file's, else "
                         "[M+H]+ with a precursor m/z and [M]+ without, said in the reports)")
    ms.add_argument("--ms-ppm", type=float, default=_MASS_DEFAULTS["ms_ppm"], metavar="PPM",
                    help="m/z tolerance of the formulas (default 5 ppm; nominal-mass "
                         "spectra: 0.3 Da)")
    ms.add_argument("--ms-elements", default=None, metavar="ELEMENTS",
                    help="elements of the formulas, with optional maximum counts (default "
                         "CHNOPSFClBrI; e.g. CHNOS2Cl3)")
    ms.add_argument("--fragment-ppm", type=float, default=_MASS_DEFAULTS["fragment_ppm"],
                    metavar="PPM",
                    help="m/z tolerance of a fragment explaining an MS/MS peak (default 10 "
                         "ppm, at least 0.002 m/z)")


def _mass_options(args: argparse.Namespace, samples: list[Any]) -> Any:
    """The :class:`~mspectmol.predict.mass.MassOptions` the options ask for; None (and a
    warning for mass-spectrum options given) when no sample has a mass spectrum."""
    from mspectmol.errors import MspectmolError

    if not any("ms" in s.files for s in samples):
        given = [k for k, v in _MASS_DEFAULTS.items() if getattr(args, k) != v]
        if given:
            log.warning("%s: no sample has a mass spectrum (--ms FILE, an 'ms' column or "
                        "<sample>_ms files)", ", ".join("--" + k.replace("_", "-")
                                                       for k in given))
        return None
    # the formula code loads pyteomics (and pandas): only when there is a mass spectrum
    from mspectmol.predict.mass import MassOptions, parse_ms_elements

    if not (args.ms_ppm > 0 and args.fragment_ppm > 0):
        raise MspectmolError("--ms-ppm and --fragment-ppm must be positive")
    options = MassOptions(adduct=args.ms_adduct, ppm=args.ms_ppm,
                          fragment_ppm=args.fragment_ppm,
                          elements=parse_ms_elements(args.ms_elements))
    options.check()
    return options


def _sample_name(path: Path) -> str:
    from mspectmol.data.samples import split_file_name

    parsed = split_file_name(path)
    return parsed[0] if parsed is not None else path.stem


def gather_samples(args: argparse.Namespace) -> tuple[list[Any], bool]:
    """The samples to predict and whether the request was for many samples."""
    from mspectmol.data.samples import SampleSpec, read_manifest, scan_folder
    from mspectmol.errors import MspectmolError

    files = {m: getattr(args, f"file_{m}") for m in MODALITIES
             if getattr(args, f"file_{m}") is not None}
    modes = [bool(files), args.manifest is not None, args.folder is not None]
    if sum(modes) != 1:
        raise MspectmolError("give one sample's files (--ir FILE --h-nmr FILE ...), "
                             "--manifest CSV or --folder DIR" +
                             (" (only one of them)" if sum(modes) > 1 else ""))
    if args.smiles is not None and not files:
        raise MspectmolError("--smiles is for one sample; give a 'smiles' column in the "
                             "manifest instead")
    if files:
        first = next(iter(files.values()))
        return [SampleSpec(_sample_name(first), files, args.smiles)], False
    if args.manifest is not None:
        return read_manifest(args.manifest), True
    return scan_folder(args.folder), True


def _warn_ignored(samples: list[Any], meta: Any, many: bool) -> None:
    modalities = model_modalities(meta)
    counts = Counter(m for s in samples for m in s.files if m not in modalities and m != "ms")
    for m, n in counts.items():
        what = f"{n} {m} file(s)" if many else f"{option_name(m)} {samples[0].files[m]}"
        log.warning("ignoring %s: the model's inputs are %s", what, ", ".join(modalities))


def _options(args: argparse.Namespace) -> Any:
    return preparation_options(args)


class _Names:
    """File-name-safe sample names, made unique with a ``-2``, ``-3`` suffix."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, name: str) -> str:
        from mspectmol.data.samples import safe_name

        base = safe_name(name)
        self.seen[base] += 1
        return base if self.seen[base] == 1 else f"{base}-{self.seen[base]}"


def print_hashes(model_path: Path) -> int:
    """Print ``<sha256>  <file>`` for a model's two files (``sha256sum -c`` reads it)."""
    from mspectmol.models.io import model_file_hashes

    for path, digest in model_file_hashes(model_path).items():
        print(f"{digest}  {path}")
    return 0


def model_threads(model: Any, threads: int | None) -> contextlib.AbstractContextManager:
    """The thread setting of the model's engine: BLAS threads for a NumPy model (1 unless
    ``threads`` says), torch threads otherwise."""
    from mspectmol.models.numpy_pa_ib import NumpyPAIB

    if isinstance(model, NumpyPAIB):
        from mspectmol.models.numpy_inference import blas_threads

        return blas_threads(1 if threads is None else threads)
    from mspectmol.models.loop import torch_threads

    return torch_threads(threads)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mspectmol.errors import MspectmolError
    from mspectmol.models.inference import find_model
    from mspectmol.models.numpy_inference import load_classifier
    from mspectmol.predict.pipeline import MassOnly, ModelInfo, SampleFailure, predict_samples
    from mspectmol.predict.report import text_report, write_html, write_json
    from mspectmol.predict.summary import SummaryWriter

    if args.hash:
        return print_hashes(find_model(args.model))
    if args.batch_size < 1 or args.regions < 1 or (args.threads or 1) < 1:
        raise MspectmolError("--batch-size, --regions and --threads must be at least 1")
    samples, many = gather_samples(args)
    options = _options(args)
    mass = _mass_options(args, samples)
    formats = set(args.format or FORMATS)
    model_path = find_model(args.model)
    model, meta = load_classifier(model_path, args.engine)
    info = ModelInfo.from_meta(model_path, meta)
    _warn_ignored(samples, meta, many)
    names = _Names()
    failures: list[SampleFailure] = []
    written = formulas_only = 0
    summary = (SummaryWriter(args.output / "summary.csv", meta.label_names) if many
               else contextlib.nullcontext())
    with summary as table, model_threads(model, args.threads), tqdm(
            total=len(samples), unit="sample", desc="predict",
            disable=True if args.no_progress else None) as bar:
        for result in predict_samples(model, meta, samples, options=options,
                                      batch_size=args.batch_size, regions=args.regions,
                                      progress=bar.update, mass=mass):
            if table is not None:
                table.add(result)
            if isinstance(result, SampleFailure):
                if not many:
                    raise MspectmolError(result.error)
                log.error("%s", result.error)
                failures.append(result)
                continue
            stem = names(result.sample)
            if "table" in formats:
                print("\n".join(text_report(result, info, args.top)), flush=True)
            if "json" in formats:
                write_json(args.output / f"{stem}.json", result, info)
            if "html" in formats:
                write_html(args.output / f"{stem}.html", result, info)
            written += 1
            formulas_only += isinstance(result, MassOnly)
    outputs = sorted(formats - {"table"})
    if outputs or many:
        what = ", ".join(f"{f.upper()}" for f in outputs) or "no per-sample files"
        only = (f" ({formulas_only} with molecular formulas only: no {meta.primary} "
                "spectrum)" if formulas_only else "")
        print(f"{written} sample(s) predicted{only}; {what} in {args.output}"
              + ("; summary: " + str(args.output / "summary.csv") if many else ""))
    if failures:
        raise MspectmolError(f"{len(failures)} of {len(samples)} samples could not be "
                             f"predicted (listed in the summary); first: {failures[0].error}")
    return 0
