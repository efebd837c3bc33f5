"""The summary CSV of ``mspectmol predict`` for many samples: one row per sample."""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from mspectmol.fileio import atomic_open
from mspectmol.predict.pipeline import MassOnly, Prediction, SampleFailure

#: The ``status`` column's values.
STATUS = {"ok": "functional groups predicted", "formulas only": "a mass spectrum without the "
          "primary spectrum: formulas, no groups", "error": "not predicted (see 'error')"}


class SummaryWriter:
    """A CSV with one row per sample: status, spectra used and missing, calls, the best
    molecular formula of the mass spectrum (when there is one), probabilities.

    Rows are written as they come (``with SummaryWriter(path, names) as w: w.add(pred)``) to
    a temporary file that replaces ``path`` when the block ends without an error; after an
    error the previous summary is kept and the error is not hidden by one of the summary.
    The ``status`` is one of :data:`STATUS`.
    """

    def __init__(self, path: str | os.PathLike[str], label_names: Sequence[str]) -> None:
        self.path = Path(path)
        self.names = tuple(label_names)
        self._stack = contextlib.ExitStack()
        self._writer: Any = None

    def __enter__(self) -> SummaryWriter:
        handle: TextIO = self._stack.enter_context(
            atomic_open(self.path, "w", newline="", what="cannot write the summary"))
        self._writer = csv.writer(handle)
        self._writer.writerow(["sample", "status", "used", "missing", "calls", "best_formula",
                               "error", *(f"p_{n}" for n in self.names)])
        return self

    def add(self, result: Prediction | MassOnly | SampleFailure) -> None:
        """Write one sample's row."""
        empty = [""] * len(self.names)
        if isinstance(result, SampleFailure):
            self._writer.writerow([result.sample, "error", "", "", "", "", result.error,
                                   *empty])
            return
        formula = (result.mass.best_formula or "") if result.mass is not None else ""
        if isinstance(result, MassOnly):
            self._writer.writerow([result.sample, "formulas only", "ms", "", "", formula,
                                   result.reason, *empty])
            return
        self._writer.writerow([result.sample, "ok", ";".join(result.inputs.used),
                               ";".join(result.inputs.missing),
                               ";".join(result.label_names[i] for i in result.calls), formula,
                               "", *(f"{p:.4f}" for p in result.probabilities)])

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)
