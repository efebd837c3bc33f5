"""Training spectra rendered from the stored peak lists with domain randomisation.

The embedded dataset stores physical peak lists (GFN2-xTB frequencies and intensities,
CSP5 shifts with atom counts). Rendered one way (fixed line widths, exact positions), they
teach a model one simulator's look, which does not carry over to other simulators or to
instruments. :class:`PeakRenderer` draws a new rendering for every molecule at every epoch:

* **IR** (:class:`RenderSettings`): separate frequency scale factors below 1000,
  1000-2000 and above 2000 cm-1 (three-region scaling fits harmonic frequencies better than
  one factor), extra anharmonic lowering of X-H stretches, optionally hydrogen bonding of
  O-H and N-H stretches (``ir_hbond``, off by default), a per-spectrum shift, line widths
  log-uniform in 4-40 cm-1 with Lorentzian-to-Gaussian (pseudo-Voigt) shapes, log-normal
  per-peak intensity jitter and peak dropout (GFN2 intensities are the least reliable part),
  noise, transmittance round trips, truncated low ranges (ATR, gas cells), CO2 and
  water-vapour lines.
* **1H**: shift jitter per line, first-order multiplets (random splitting patterns and J at a
  random spectrometer frequency; where asked for, for records with per-atom data, the rule
  couplings of :mod:`mspectmol.data.proton_environments`), line widths, solvent, water and
  TMS lines.
* **13C**: shift jitter, intensities not proportional to counts, narrow to broad lines,
  solvent lines; where asked for, for records with per-atom shifts
  (:mod:`mspectmol.data.carbon_environments`), weak carbons without attached protons and
  C-F multiplets.

Rendering goes through the same resampling as a measured spectrum
(:func:`mspectmol.spectra.pipeline.prepare`): the exact integral of each line over each grid
cell (closed forms for Lorentzian and Gaussian lines), for NMR over sub-cells drawn as lines
of the training width at the grid points (narrow NMR lines, as measured ones are). Every
setting is a field of :class:`~mspectmol.data.render_settings.RenderSettings` (re-exported
here) with its range, set from a training config's ``render_settings`` by
:meth:`RenderSettings.from_dict`; each epoch's draw is seeded by ``(seed, epoch)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

from mspectmol.data.carbon_environments import (
    CarbonEnvironments,
    carbon_environments,
    cf_multiplets,
)
from mspectmol.data.dataset import EMBEDDED_DIR, PEAK_COLUMNS, read_chunks
from mspectmol.data.proton_environments import (
    ProtonEnvironments,
    first_order_multiplet,
    proton_environments,
)
from mspectmol.data.render_settings import RenderSettings
from mspectmol.errors import MspectmolError
from mspectmol.spectra.multiplets import split_lines
from mspectmol.spectra.pipeline import RENDERED, line_width
from mspectmol.spectra.resample import cell_edges, line_matrix, subcell_grid
from mspectmol.spectra.solvents import REFERENCE_PEAKS, SOLVENT_PEAKS

_SQRT_LN2 = np.sqrt(np.log(2.0))
#: 1H to 13C frequency ratio (gyromagnetic ratios).
_H_TO_C = 3.9772
#: Per-atom columns of the carbon and proton environments (read where the chunks have them).
_CARBON_COLUMNS = ("smiles", "c_atom_shift", "atom_class")
_PROTON_COLUMNS = ("smiles", "h_atom_shift", "atom_class", "hh_pairs", "hh_dihedral")


#: Lines per block of the cell-area computation (memory ~ block x window x 8 bytes).
_CHUNK = 8192
#: Grid cells on either side of a line over which its area is integrated.
_WINDOW = 60


def cell_areas(pos: np.ndarray, amp: np.ndarray, fwhm: np.ndarray, eta: np.ndarray,
               edges: np.ndarray) -> np.ndarray:
    """Area of each line in each cell: ``(n_lines, n_cells)``.

    A line is a pseudo-Voigt ``eta * Gaussian + (1 - eta) * Lorentzian`` of height ``amp``
    and width ``fwhm``; the areas are the closed-form integrals between cell ``edges``
    (the Gaussian part only where ``eta > 0``).
    """
    return amp[:, None] * np.diff(_cumulative(edges[None, :] - pos[:, None], fwhm, eta), axis=1)


def _cumulative(d: np.ndarray, fwhm: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Integral of a unit-height pseudo-Voigt line from its centre to the offsets ``d``
    (one row per line)."""
    half = (fwhm / 2.0)[:, None]
    cum = (1.0 - eta)[:, None] * half * np.arctan(d / half)
    mixed = np.flatnonzero(eta > 0)
    if mixed.size:
        h = half[mixed]
        cum[mixed] += eta[mixed, None] * h * np.sqrt(np.pi) / (2.0 * _SQRT_LN2) * erf(
            _SQRT_LN2 * d[mixed] / h)
    return cum


def window_areas(pos: np.ndarray, amp: np.ndarray, fwhm: np.ndarray, eta: np.ndarray,
                 edges: np.ndarray, half_window: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cell_areas` over the ``2 * half_window + 1`` cells around each line.

    Returns the cell indices and areas, both ``(n_lines, 2 * half_window + 1)``; cells past
    the grid's ends get zero area. A Lorentzian of 40 cm-1 loses 3.5% of its area (its far
    tails) to a window of 60 cells of 6 cm-1; narrower lines far less.
    """
    n_cells = edges.size - 1
    centre = np.clip(np.searchsorted(edges, pos) - 1, 0, n_cells - 1)
    offsets = np.arange(-half_window, half_window + 2)
    idx = centre[:, None] + offsets[None, :]
    valid_edge = np.clip(idx, 0, n_cells)
    areas = amp[:, None] * np.diff(_cumulative(edges[valid_edge] - pos[:, None], fwhm, eta),
                                   axis=1)
    cells = idx[:, :-1]
    outside = (cells < 0) | (cells >= n_cells)
    areas[outside] = 0.0
    return np.clip(cells, 0, n_cells - 1), areas


def _line_matrices(grids: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The sub-cell -> grid line-drawing matrices of the rendered (NMR) modalities."""
    return {m: line_matrix(subcell_grid(g), g, *line_width(m, g))
            for m, g in grids.items() if m in RENDERED}


class PeakRenderer:
    """Randomised renderings of the dataset's peak lists on model grids.

    Parameters
    ----------
    ids
        Molecule ids (rows of the rendered matrices, in this order).
    modalities
        Any of ``ir``, ``h_nmr``, ``c_nmr`` (``raman`` is rendered like IR).
    grids
        Modality -> the model's grid.
    settings
        :class:`RenderSettings`.
    path
        Dataset folder (default: the packaged one).
    """

    def __init__(self, ids: np.ndarray, modalities: tuple[str, ...],
                 grids: dict[str, np.ndarray], settings: RenderSettings | None = None,
                 path: Path | None = None) -> None:
        self.settings = settings or RenderSettings()
        self.modalities = modalities
        self.grids = {m: np.asarray(grids[m], dtype=np.float64) for m in modalities}
        root = Path(path) if path is not None else EMBEDDED_DIR
        needed = {"id"} | {c for m in modalities for c in PEAK_COLUMNS[m]}
        carbon = _CARBON_COLUMNS if "c_nmr" in modalities and self.settings.carbon_environments \
            else ()
        proton = _PROTON_COLUMNS if "h_nmr" in modalities and self.settings.h_couplings > 0 \
            else ()
        optional = sorted(set(carbon) | set(proton))
        table = read_chunks(root, sorted(needed | set(optional)), optional=optional)
        where = {k: i for i, k in enumerate(table.column("id").to_pylist())}
        missing = [k for k in ids if k not in where]
        if missing:
            raise MspectmolError(f"{len(missing)} molecules have no peak lists (first: "
                                 f"{missing[0]})")
        rows = [where[k] for k in ids]
        self.peaks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for m in modalities:
            pos_col, amp_col = PEAK_COLUMNS[m]
            pos = table.column(pos_col).to_pylist()
            amp = table.column(amp_col).to_pylist()
            lists = []
            for r in rows:
                x = np.asarray(pos[r] or [], dtype=np.float64)
                y = np.asarray(amp[r] or [], dtype=np.float64)
                if m in ("ir", "raman"):
                    keep = x > 0
                    x, y = x[keep], y[keep]
                lists.append((x, y))
            self.peaks[m] = lists
        self.carbons: list[CarbonEnvironments | None] = [None] * len(rows)
        if carbon:
            smiles, shifts, classes = (table.column(c).to_pylist() for c in carbon)
            self.carbons = [carbon_environments(smiles[r], shifts[r], classes[r])
                            for r in rows]
        self.protons: list[ProtonEnvironments | None] = [None] * len(rows)
        if proton:
            cols = [table.column(c).to_pylist() for c in proton]
            self.protons = [proton_environments(*(c[r] for c in cols)) for r in rows]
        self._render = _line_matrices(self.grids)

    @classmethod
    def from_peaks(cls, peaks: dict[str, list[tuple[np.ndarray, np.ndarray]]],
                   grids: dict[str, np.ndarray], settings: RenderSettings | None = None
                   ) -> PeakRenderer:
        """A renderer of given peak lists (``{modality: [(positions, heights)]}``, one per
        molecule) instead of the dataset's, without per-atom records."""
        self = cls.__new__(cls)
        self.settings = settings or RenderSettings()
        self.modalities = tuple(peaks)
        self.grids = {m: np.asarray(grids[m], dtype=np.float64) for m in peaks}
        self.peaks = {m: [(np.asarray(x, np.float64), np.asarray(y, np.float64))
                          for x, y in lists] for m, lists in peaks.items()}
        n = len(next(iter(self.peaks.values()), []))
        self.carbons = [None] * n
        self.protons = [None] * n
        self._render = _line_matrices(self.grids)
        return self

    def render(self, modality: str, rng: np.random.Generator,
               clean: bool = False) -> np.ndarray:
        """``(n, G)`` float32 spectra, each row normalised to maximum 1 (zeros when empty);
        ``clean`` renders without randomisation (training line widths, exact positions)."""
        grid = self.grids[modality]
        cells = subcell_grid(grid) if modality in RENDERED else grid
        edges = cell_edges(cells)
        width = edges[1:] - edges[:-1]
        n = len(self.peaks[modality])
        s = self.settings
        parts: list[tuple[np.ndarray, ...]] = []
        owners: list[np.ndarray] = []
        extras: dict[int, Any] = {}
        for i, (x, y) in enumerate(self.peaks[modality]):
            if x.size == 0:
                continue
            if clean or rng.random() >= s.probability:
                line = self._clean(modality, x, y, grid)
            else:
                *line, extra = self._random(modality, i, x, y, rng)
                if extra is not None:
                    extras[i] = extra
            parts.append(tuple(line))
            owners.append(np.full(line[0].size, i))
        out = np.zeros(n * cells.size, dtype=np.float64)
        if parts:
            pos, amp, fwhm, eta = (np.concatenate([p[k] for p in parts]) for k in range(4))
            owner = np.concatenate(owners)
            for start in range(0, pos.size, _CHUNK):
                sl = slice(start, start + _CHUNK)
                half = _WINDOW * (cells.size // grid.size)
                where, areas = window_areas(pos[sl], amp[sl], fwhm[sl], eta[sl], edges, half)
                flat = (owner[sl, None] * cells.size + where).ravel()
                out += np.bincount(flat, weights=areas.ravel(), minlength=out.size)
        out = out.reshape(n, cells.size) / width
        for i, extra in extras.items():
            out[i] = extra(out[i], grid)
        if modality in self._render:
            out = out @ self._render[modality]
        top = out.max(axis=1, keepdims=True)
        np.divide(out, top, out=out, where=top > 0)
        return out.astype(np.float32)

    def _clean(self, modality: str, x: np.ndarray, y: np.ndarray, grid: np.ndarray
               ) -> tuple[np.ndarray, ...]:
        if modality in RENDERED:  # narrow lines; the training width comes from rendering
            fwhm = np.full(x.size, 1e-3 * (grid[1] - grid[0]))
        else:
            fwhm = np.full(x.size, line_width(modality, grid)[0])
        return x, y, fwhm, np.zeros(x.size)

    def _random(self, modality: str, row: int, x: np.ndarray, y: np.ndarray,
                rng: np.random.Generator) -> tuple[Any, ...]:
        if modality in ("ir", "raman"):
            return self._random_ir(x, y, rng)
        if modality == "h_nmr":
            env = self.protons[row]
            if env is not None and rng.random() < self.settings.h_couplings:
                return self._random_h_rules(env, rng)
            return self._random_h(x, y, rng)
        return self._random_c(x, y, rng, self.carbons[row])

    def _random_ir(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
                   ) -> tuple[Any, ...]:
        s = self.settings
        scale = np.where(x < 1000, rng.uniform(*s.ir_scale_low),
                         np.where(x < 2000, rng.uniform(*s.ir_scale_mid),
                                  rng.uniform(*s.ir_scale_high)))
        scale = np.where(x > 2500, scale * rng.uniform(*s.ir_xh_lowering), scale)
        pos = x * scale + rng.uniform(-s.ir_shift, s.ir_shift)
        amp = y * rng.lognormal(0.0, s.ir_jitter, x.size)
        amp[rng.random(x.size) < s.ir_dropout] = 0.0
        lo, hi = np.log(s.ir_width[0]), np.log(s.ir_width[1])
        base = np.exp(rng.uniform(lo, hi))
        fwhm = base * rng.lognormal(0.0, 0.3, x.size)
        if s.ir_hbond > 0 and rng.random() < s.ir_hbond:
            bonded = x > s.ir_hbond_above
            k = int(bonded.sum())
            pos[bonded] *= rng.uniform(*s.ir_hbond_lowering, k)
            fwhm[bonded] *= rng.uniform(*s.ir_hbond_broadening, k)
            amp[bonded] *= rng.uniform(*s.ir_hbond_gain, k)
        eta = np.full(x.size, rng.uniform(*s.ir_gaussian))
        noise = rng.uniform(*s.ir_noise)
        transmit = rng.random() < s.ir_transmittance
        cut = rng.choice([450.0, 500.0, 575.0, 600.0, 650.0]) if rng.random() < s.ir_truncate \
            else None
        atmosphere = rng.random() < s.ir_atmosphere
        seed = int(rng.integers(2**31))

        def extra(row: np.ndarray, grid: np.ndarray) -> np.ndarray:
            r = np.random.default_rng(seed)
            top = row.max() if row.max() > 0 else 1.0
            row = row / top
            if atmosphere:
                for centre, h in ((2349.0, r.uniform(0.02, 0.2)), (667.0, r.uniform(0.0, 0.1))):
                    row = row + h * np.exp(-0.5 * ((grid - centre) / 8.0) ** 2)
                vapour = r.uniform(1400, 1900, 12)
                for c in vapour:
                    row = row + r.uniform(0.0, 0.05) * np.exp(-0.5 * ((grid - c) / 3.0) ** 2)
            if transmit:  # to %T with the instrument's noise, and back
                t = 10.0 ** (-row * r.uniform(0.3, 1.5))
                t = np.clip(t + r.normal(0.0, 0.002, t.size), 1e-4, 1.0)
                row = -np.log10(t)
            row = row + r.normal(0.0, noise, row.size) * row.max()
            row = np.maximum(row, 0.0)
            if cut is not None:
                row[grid < cut] = 0.0
            return row

        return pos, amp, fwhm, eta, extra

    def _random_h(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
                  ) -> tuple[Any, ...]:
        s = self.settings
        mhz = rng.uniform(*s.h_mhz)
        centres = x + rng.normal(0.0, rng.uniform(*s.h_shift_sd), x.size)
        pos_parts, amp_parts = [], []
        for c, n in zip(centres, y, strict=True):
            pos, amp = np.array([c]), np.array([float(n)])
            if rng.random() < s.h_multiplet:
                for _ in range(int(rng.integers(1, 3))):
                    k = int(rng.integers(2, 5))
                    pos, amp = split_lines(pos, amp, k, rng.uniform(*s.h_j) / mhz)
            pos_parts.append(pos)
            amp_parts.append(amp)
        return self._h_lines(pos_parts, amp_parts, [], mhz, rng)

    def _random_h_rules(self, env: ProtonEnvironments, rng: np.random.Generator
                        ) -> tuple[Any, ...]:
        """1H lines with first-order multiplets from the rule couplings of ``env``
        (each J jittered by 10%); exchangeable protons are broad singlets."""
        s = self.settings
        mhz = rng.uniform(*s.h_mhz)
        centres = env.shift + rng.normal(0.0, rng.uniform(*s.h_shift_sd), env.shift.size)
        pos_parts, amp_parts, broad = [], [], []
        for k, (c, n) in enumerate(zip(centres, env.count, strict=True)):
            if env.exchangeable[k]:
                pos, amp = np.array([c]), np.array([float(n)])
                broad.append((len(pos_parts), rng.uniform(*s.h_exchange_broadening)))
            else:
                jittered = [(m, j * rng.lognormal(0.0, 0.1)) for m, j in env.couplings[k]]
                pos, amp = first_order_multiplet(c, float(n), jittered, mhz)
            pos_parts.append(pos)
            amp_parts.append(amp)
        return self._h_lines(pos_parts, amp_parts, broad, mhz, rng)

    def _h_lines(self, pos_parts: list[np.ndarray], amp_parts: list[np.ndarray],
                 broad: list[tuple[int, float]], mhz: float, rng: np.random.Generator
                 ) -> tuple[Any, ...]:
        """The 1H lines with solvent, water and TMS lines added and widths drawn (the
        parts listed in ``broad`` widened by their factor)."""
        s = self.settings
        starts = np.cumsum([0] + [p.size for p in pos_parts])
        if rng.random() < s.h_solvent:
            solvent = SOLVENT_PEAKS[str(rng.choice(["CDCl3", "DMSO-d6", "CD3OD"]))]["h_nmr"]
            for _, ppm in solvent + REFERENCE_PEAKS["h_nmr"]:
                pos_parts.append(np.array([ppm]))
                amp_parts.append(np.array([rng.uniform(0.05, 0.6)]))
        pos = np.concatenate(pos_parts)
        amp = np.concatenate(amp_parts)
        fwhm = rng.uniform(*s.h_width_hz, pos.size) / mhz
        for k, factor in broad:
            fwhm[starts[k]:starts[k + 1]] *= factor
        return pos, amp, fwhm, np.zeros(pos.size), None

    def _random_c(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                  env: CarbonEnvironments | None = None) -> tuple[Any, ...]:
        s = self.settings
        if env is not None:
            x, y = env.shift, env.count
        pos = x + rng.normal(0.0, rng.uniform(*s.c_shift_sd), x.size)
        amp = np.asarray(y, dtype=np.float64) ** rng.uniform(0.0, 1.0)
        amp = amp * rng.lognormal(0.0, s.c_jitter, x.size)
        if env is not None:
            amp[env.n_h == 0] *= rng.uniform(*s.c_quaternary)
            if env.fluorines.any() and rng.random() < s.c_cf_split:
                mhz = rng.uniform(*s.h_mhz) / _H_TO_C
                ranges = (s.c_cf_1j, s.c_cf_2j, s.c_cf_3j, s.c_cf_4j)
                j = np.stack([rng.uniform(*r, x.size) for r in ranges], axis=1) / mhz
                pos, amp = cf_multiplets(pos, amp, env.fluorines, j)
        if rng.random() < s.c_solvent:
            solvent = SOLVENT_PEAKS[str(rng.choice(["CDCl3", "DMSO-d6", "CD3OD"]))]["c_nmr"]
            extra = [ppm for _, ppm in solvent]
            pos = np.concatenate([pos, extra])
            amp = np.concatenate([amp, rng.uniform(0.2, 1.0, len(extra))])
        fwhm = np.full(pos.size, np.exp(rng.uniform(np.log(s.c_width[0]),
                                                    np.log(s.c_width[1]))))
        return pos, amp, fwhm, np.zeros(pos.size), None

