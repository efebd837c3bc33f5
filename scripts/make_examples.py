"""Regenerate the example spectra that ship with mspectmol (src/mspectmol/data/examples/).

The examples are simulated by mspectmol itself (GFN2-xTB IR and Raman, CSP5 NMR) and written
the way instruments and databases write spectra, so that readers, unit conversion and
``mspectmol convert`` have realistic inputs: IR as JCAMP-DX in %T on a descending 4 cm-1 axis,
1H NMR as JCAMP-DX on a Hz axis at 400 MHz, 13C NMR and Raman as two-column CSV.

    python scripts/make_examples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mspectmol.data.simulator.pipeline import simulate_molecule
from mspectmol.spectra.preprocessing import broaden
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_csv, write_jcamp

OUT = Path(__file__).resolve().parents[1] / "src" / "mspectmol" / "data" / "examples"
MOLECULES = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "chloroacetophenone": "CC(=O)c1ccc(Cl)cc1",
}
NOTE = "simulated by mspectmol (GFN2-xTB harmonic IR/Raman, CSP5 NMR); not a measurement"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, smiles in MOLECULES.items():
        rec = simulate_molecule(smiles)
        lines.append(f"{smiles} {name}")
        meta = {"title": f"{name} ({NOTE})", "smiles": smiles, "formula": rec.formula}
        real = rec.frequencies > 0
        # IR: absorbance scaled to a strongest band of 1.2 (6% T), written as %T, 4000 -> 400
        wn = np.arange(4000.0, 399.0, -4.0)
        a = broaden(rec.frequencies[real], rec.ir_intensities[real], wn, 12.0)
        a *= 1.2 / a.max()
        ir = Spectrum(wn, np.round(100.0 * 10.0 ** (-a), 3), "ir", "cm-1", "%T", meta)
        write_jcamp(OUT / f"{name}_ir.jdx", ir)
        # Raman: activities, CSV, 150-3800 cm-1
        rs = np.arange(150.0, 3800.5, 2.0)
        r = broaden(rec.frequencies[real], rec.raman_activities[real], rs, 10.0)
        write_csv(OUT / f"{name}_raman.csv", rs, np.round(r / r.max(), 5), "raman")
        # 1H NMR: 400 MHz, Hz axis from 11 to -1 ppm (descending, as instruments write it)
        ppm = np.arange(11.0, -1.0, -0.005)
        h_pos = np.asarray([s for s, _ in rec.h_shifts])
        h_amp = np.asarray([n for _, n in rec.h_shifts], float)
        h = broaden(h_pos, h_amp, ppm, 0.01)
        nmr = Spectrum(ppm * 400.0, np.round(h / h.max(), 5), "h_nmr", "Hz", "arbitrary",
                       {**meta, "observe_mhz": 400.0})
        write_jcamp(OUT / f"{name}_h_nmr.jdx", nmr)
        # 13C NMR: CSV on a ppm axis
        cppm = np.arange(0.0, 220.05, 0.1)
        c = broaden(np.asarray([s for s, _ in rec.c_shifts]),
                    np.asarray([n for _, n in rec.c_shifts], float), cppm, 0.5)
        write_csv(OUT / f"{name}_c_nmr.csv", cppm, np.round(c / c.max(), 5), "c_nmr")
        print(name, "done")
    (OUT / "molecules.smi").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (OUT / "README.md").write_text(
        "# Example spectra\n\nAll files here are " + NOTE + ", regenerated with "
        "`python scripts/make_examples.py`.\n\n"
        "- `*_ir.jdx`: IR, JCAMP-DX 4.24, %T on a descending 4 cm-1 axis\n"
        "- `*_h_nmr.jdx`: 1H NMR, JCAMP-DX, Hz axis at 400 MHz (singlets: no couplings)\n"
        "- `*_c_nmr.csv`: 13C NMR, two-column CSV in ppm\n"
        "- `*_raman.csv`: Raman activities, two-column CSV in cm-1\n"
        "- `molecules.smi`: the SMILES of the examples\n", encoding="utf-8")


if __name__ == "__main__":
    main()
