"""The record of each epoch of any trainer: a row of the CSV log and one INFO log line.

A row (:func:`mspectmol.models.loop.run_loop`) holds ``epoch``, the training entries
(``lr``, ``train_loss`` and other ``train_*`` loss terms), the validation entries
(``val_*``), ``seconds`` and ``improved``. :class:`CSVLog` appends the rows (``log.csv`` of a
run folder); :func:`epoch_line` is the log line of a row, logged every epoch whatever the
progress setting; :func:`log_above_bar` keeps those lines from breaking the progress bar
while it is shown.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm.contrib.logging import logging_redirect_tqdm


class CSVLog:
    """Appends one row per epoch; the columns are fixed by the first row.

    ``rows`` (when resuming) rewrite the file with just those rows, dropping any written
    after them.
    """

    def __init__(self, path: Path | None, rows: Sequence[dict[str, Any]] = ()) -> None:
        self.path = path
        self.columns: list[str] | None = None
        for row in rows:
            self.write(row)

    def write(self, row: dict[str, float]) -> None:
        """Append ``row`` (creating the file with a header on the first call)."""
        if self.path is None:
            return
        first = self.columns is None
        if first:
            self.columns = list(row)
        with self.path.open("w" if first else "a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore")
            if first:
                writer.writeheader()
            writer.writerow(row)


@contextlib.contextmanager
def log_above_bar(enabled: bool) -> Iterator[None]:
    """While a progress bar is shown, send the ``mspectmol`` console log through
    ``tqdm.write`` (at the console handler's level), so log lines do not break the bar."""
    logger = logging.getLogger("mspectmol")
    console = next((h for h in logger.handlers if type(h) is logging.StreamHandler
                    and h.stream in (sys.stdout, sys.stderr)), None)
    if not enabled or console is None:
        yield
        return
    with logging_redirect_tqdm([logger]):
        logger.handlers[-1].setLevel(console.level)
        yield


def score_name(key: str) -> str:
    """How a log line names a validation entry: ``val_micro_f1`` -> ``micro-F1``,
    ``val_loss`` -> ``loss``."""
    name = key.removeprefix("val_")
    if name.endswith("_f1"):
        name = name[:-3] + "-F1"
    return name.replace("_", " ")


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """``"epoch 3/100: loss 0.2104 (sup 0.19, pred 0.0201), val micro-F1 0.8123 macro-F1
    0.5012, 12.3 s, best"``: the log line of one row of the epoch log."""
    terms = {k.removeprefix("train_"): v for k, v in row.items() if k.startswith("train_")}
    loss = terms.pop("loss", float("nan"))
    parts = ", ".join(f"{k} {v:.4g}" for k, v in terms.items())
    scores = " ".join(f"{score_name(k)} {v:.4f}" for k, v in row.items()
                      if k.startswith("val_"))
    return (f"epoch {row['epoch']}/{epochs}: loss {loss:.4f}" + (f" ({parts})" if parts else "")
            + (f", val {scores}" if scores else "") + f", {row['seconds']:.1f} s"
            + (", best" if row.get("improved") else ""))
