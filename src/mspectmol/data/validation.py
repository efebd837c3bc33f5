"""Validation of simulated harmonic frequencies against QM9's DFT frequencies.

QM9 reports B3LYP/6-31G(2df,p) harmonic frequencies at its own geometry. For each QM9
molecule of the dataset, the GFN2-xTB frequencies and the DFT frequencies are both sorted and
compared mode by mode (same 3N-6 count); the mean absolute deviation (MAD) is reported
before and after one fitted global scale factor (least squares through the origin), also by
spectral region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mspectmol.errors import MspectmolError

REGIONS = {"< 1000 cm-1": (0.0, 1000.0), "1000-2000 cm-1": (1000.0, 2000.0),
           "2000-3200 cm-1": (2000.0, 3200.0), "> 3200 cm-1": (3200.0, np.inf)}


@dataclass(frozen=True)
class FrequencyValidation:
    """Mode-by-mode comparison of simulated and reference harmonic frequencies."""

    n_molecules: int
    n_modes: int
    mad: float
    scale: float
    mad_scaled: float
    median_abs: float
    mad_by_region: dict[str, float]
    mad_scaled_by_region: dict[str, float]
    skipped: int

    def to_markdown(self) -> str:
        lines = [
            f"- molecules compared: {self.n_molecules} ({self.n_modes} modes; "
            f"{self.skipped} skipped for a mode-count mismatch)",
            f"- MAD before scaling: {self.mad:.1f} cm-1 (median absolute deviation "
            f"{self.median_abs:.1f} cm-1)",
            f"- fitted scale factor: {self.scale:.4f}; MAD after scaling: "
            f"{self.mad_scaled:.1f} cm-1",
            "",
            "| region (DFT frequency) | MAD before (cm-1) | MAD after scaling (cm-1) |",
            "|---|---|---|",
        ]
        for name in self.mad_by_region:
            lines.append(f"| {name} | {self.mad_by_region[name]:.1f} | "
                         f"{self.mad_scaled_by_region[name]:.1f} |")
        return "\n".join(lines)


def compare_frequencies(simulated: list[np.ndarray], reference: list[np.ndarray]
                        ) -> FrequencyValidation:
    """Compare lists of per-molecule frequency arrays (cm-1) mode by mode after sorting."""
    if len(simulated) != len(reference):
        raise MspectmolError("simulated and reference lists differ in length")
    sims, refs, skipped = [], [], 0
    for s, r in zip(simulated, reference, strict=True):
        s, r = np.sort(np.asarray(s, float)), np.sort(np.asarray(r, float))
        if s.size != r.size or s.size == 0:
            skipped += 1
            continue
        sims.append(s)
        refs.append(r)
    if not sims:
        raise MspectmolError("no molecule with matching mode counts to compare")
    s, r = np.concatenate(sims), np.concatenate(refs)
    scale = float(np.dot(s, r) / np.dot(s, s))
    dev, dev_scaled = np.abs(s - r), np.abs(scale * s - r)
    by, by_scaled = {}, {}
    for name, (lo, hi) in REGIONS.items():
        m = (r >= lo) & (r < hi)
        by[name] = float(dev[m].mean()) if m.any() else float("nan")
        by_scaled[name] = float(dev_scaled[m].mean()) if m.any() else float("nan")
    return FrequencyValidation(len(sims), int(s.size), float(dev.mean()), scale,
                               float(dev_scaled.mean()), float(np.median(dev)), by, by_scaled,
                               skipped)
