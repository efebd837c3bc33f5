"""Coverage-guided fuzzing of the spectrum readers with atheris (libFuzzer), on demand.

Complements ``tests/spectra/test_fuzz_readers.py`` (hypothesis mutations, run in CI): here
libFuzzer mutates real files, guided by which branches of the readers they reach. Each input
is written with an extension chosen by its first byte (``.jdx``, ``.csv``, ``.tsv``,
``.txt``, ``.mgf``, ``.msp``) and read through :func:`mspectmol.spectra.readers.read_spectra`;
a :class:`~mspectmol.errors.MspectmolError` is the expected answer to a broken file, every
spectrum read must be finite, and any other exception is a crash that libFuzzer saves as
``crash-<sha1>`` in the working folder.

    pip install atheris            # or: pip install -e ".[fuzz]"
    python scripts/fuzz_readers.py -max_total_time=300 [corpus_dir]

The seed corpus is the example spectra shipped with mspectmol plus small MGF/MSP records.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris
import numpy as np

with atheris.instrument_imports():
    from mspectmol.errors import MspectmolError
    from mspectmol.spectra.readers import read_spectra

EXTENSIONS = (".jdx", ".csv", ".tsv", ".txt", ".mgf", ".msp")
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "mspectmol" / "data" / "examples"
SEEDS = {
    ".mgf": b"BEGIN IONS\nTITLE=a\nPEPMASS=181.05\nCHARGE=1+\n77.0 10\n105.0 100\n"
            b"END IONS\n",
    ".msp": b"Name: aspirin\nPrecursorMZ: 181.05\nNum Peaks: 2\n77.0 10\n105.0 100\n",
}
_TMP = Path(tempfile.mkdtemp(prefix="mspectmol-fuzz-"))


def test_one_input(data: bytes) -> None:
    """Read ``data`` as a spectrum file; only mspectmol errors may come out."""
    if not data:
        return
    ext = EXTENSIONS[data[0] % len(EXTENSIONS)]
    path = _TMP / f"input{ext}"
    path.write_bytes(data[1:])
    try:
        for spectrum in read_spectra(path):
            y = np.asarray(spectrum.y, dtype=float)
            if not np.isfinite(y).all():
                raise AssertionError(f"non-finite intensities read from a {ext} file")
    except MspectmolError:
        pass


def write_seeds(folder: Path) -> None:
    """Seed corpus: each shipped example (prefixed by its extension byte) and MGF/MSP records."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [(p.suffix, p.read_bytes()) for p in sorted(EXAMPLES.iterdir())
             if p.suffix in EXTENSIONS]
    files += list(SEEDS.items())
    for i, (ext, content) in enumerate(files):
        (folder / f"seed{i:02d}").write_bytes(bytes([EXTENSIONS.index(ext)]) + content)


def main() -> None:
    args = [a for a in sys.argv[1:] if a.startswith("-")]
    dirs = [a for a in sys.argv[1:] if not a.startswith("-")]
    corpus = Path(dirs[0]) if dirs else _TMP / "corpus"
    if not any(corpus.glob("*")):
        write_seeds(corpus)
    atheris.Setup([sys.argv[0], *args, str(corpus)], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
