"""A training run's folder: its timestamped name and its JSON files."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any


def make_run_dir(out: str | os.PathLike[str], model: str, primary: str,
                 now: datetime | None = None) -> Path:
    """Create ``<out>/<YYYYmmdd-HHMMSS>-<model>-<primary>/`` (a ``-2``... suffix if taken)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(out) / f"{stamp}-{model}-{primary}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON (NaN refused) and return the path."""
    p = Path(path)
    p.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return p
