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
"""

from __future__ import annotations

import argparse
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
from mspectmol.predict.common import DEFAULT_ROWS
from mspectmol.spectra.modalities import MODALITIES, option_name
from mspectmol.spectra.readers.formats import format_help, formats

log = logging.getLogger("mspectmol.predict")

FORMATS = ("table", "json", "html")


def add_parser(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser(
        "predict", parents=parents,
        help="predict functional groups from measured spectrum files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Predict the functional groups of one or many samples from their measured "
            "spectra with a saved model: print the probabilities and the spectral regions "
            "behind each confident call, write JSON and self-contained HTML reports per "
            "sample and a summary CSV.", 79),
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
                        "predicted groups highlighted (one sample only)")
    many = p.add_argument_group("many samples")
    many.add_argument("--manifest", type=Path, default=None, metavar="CSV",
                      help="CSV with a 'sample' column, a column of file paths per modality "
                           "(ir, h_nmr, c_nmr, ...) and optional 'smiles' and 'solvent' "
                           "columns; relative paths are relative to the CSV")
    many.add_argument("--folder", type=Path, default=None, metavar="DIR",
                      help="folder of files named <sample>_<modality>.<ext>")
    add_preparation_options(p)
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
                     help="torch threads (default: torch's choice; 1 is fastest on a busy "
                          "machine)")
    p.set_defaults(run=run)


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
    counts = Counter(m for s in samples for m in s.files if m not in modalities)
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


def run(args: argparse.Namespace) -> int:
    import contextlib

    from tqdm import tqdm

    from mspectmol.errors import MspectmolError
    from mspectmol.models.inference import find_model
    from mspectmol.models.io import load_model
    from mspectmol.predict.pipeline import ModelInfo, SampleFailure, predict_samples
    from mspectmol.predict.report import SummaryWriter, text_report, write_html, write_json
    from mspectmol.training.trainer import torch_threads

    if args.hash:
        return print_hashes(find_model(args.model))
    if args.batch_size < 1 or args.regions < 1 or (args.threads or 1) < 1:
        raise MspectmolError("--batch-size, --regions and --threads must be at least 1")
    samples, many = gather_samples(args)
    options = _options(args)
    formats = set(args.format or FORMATS)
    model_path = find_model(args.model)
    model, meta = load_model(model_path)
    info = ModelInfo.from_meta(model_path, meta)
    _warn_ignored(samples, meta, many)
    names = _Names()
    failures: list[SampleFailure] = []
    written = 0
    summary = (SummaryWriter(args.output / "summary.csv", meta.label_names) if many
               else contextlib.nullcontext())
    with summary as table, torch_threads(args.threads), tqdm(
            total=len(samples), unit="sample", desc="predict",
            disable=True if args.no_progress else None) as bar:
        for result in predict_samples(model, meta, samples, options=options,
                                      batch_size=args.batch_size, regions=args.regions,
                                      progress=bar.update):
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
    outputs = sorted(formats - {"table"})
    if outputs or many:
        what = ", ".join(f"{f.upper()}" for f in outputs) or "no per-sample files"
        print(f"{written} sample(s) predicted; {what} in {args.output}"
              + ("; summary: " + str(args.output / "summary.csv") if many else ""))
    if failures:
        raise MspectmolError(f"{len(failures)} of {len(samples)} samples could not be "
                             f"predicted (listed in the summary); first: {failures[0].error}")
    return 0
