"""A quiet, single-threaded GFN2-xTB engine on top of tblite's Python interface.

Everything here is in atomic units: positions in Bohr, energies in Hartree, gradients in
Hartree/Bohr, dipoles in e*Bohr and electric fields in Hartree/(e*Bohr).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mspectmol.data.simulator.errors import SimulationError

#: Bohr radius in Angstrom (CODATA 2018).
BOHR_ANGSTROM = 0.529177210903
#: Hartree in eV (CODATA 2018).
HARTREE_EV = 27.211386245988


@dataclass(frozen=True)
class PointResult:
    """Energy (Hartree), gradient (N x 3, Hartree/Bohr) and dipole (3, e*Bohr) at one geometry."""

    energy: float
    gradient: np.ndarray
    dipole: np.ndarray


def _tblite() -> tuple[Any, Any]:
    """Import tblite lazily, asking its OpenMP runtime for one thread if nothing else did."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from tblite import library
        from tblite.interface import Calculator
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SimulationError("optimise", f"tblite is not installed ({exc})") from exc
    return Calculator, library


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Limit OpenMP/BLAS thread pools to one thread inside the block (tblite's and numpy's).

    Uses ``threadpoolctl`` when it is installed; otherwise relies on ``OMP_NUM_THREADS=1``
    being set before tblite is first imported (see :func:`_tblite`).
    """
    _tblite()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _silent(_message: str) -> None:
    """A tblite logger that drops every message."""


class GFN2Engine:
    """GFN2-xTB single points for one molecule, restarting each SCF from the previous one.

    Parameters
    ----------
    numbers
        Atomic numbers, shape (N,).
    charge
        Total charge.
    uhf
        Number of unpaired electrons.
    accuracy
        tblite's numerical accuracy.
    field
        Optional uniform electric field (3,), atomic units.
    """

    def __init__(
        self,
        numbers: np.ndarray,
        *,
        charge: int = 0,
        uhf: int = 0,
        accuracy: float = 1.0,
        field: np.ndarray | None = None,
    ) -> None:
        self.numbers = np.asarray(numbers, dtype=np.int32)
        self.charge = int(charge)
        self.uhf = int(uhf)
        self.accuracy = float(accuracy)
        self.field = None if field is None else np.asarray(field, dtype=float).reshape(3)
        self._calc: Any = None
        self._res: Any = None
        self.n_calls = 0

    def _new_calculator(self, positions: np.ndarray) -> Any:
        calculator_cls, library = _tblite()
        calc = calculator_cls(
            "GFN2-xTB",
            self.numbers,
            positions,
            charge=float(self.charge),
            uhf=self.uhf,
            logger=_silent,
            color=False,
        )
        calc.set("verbosity", 0)
        calc.set("accuracy", self.accuracy)
        if self.field is not None:
            # tblite 0.8's electric-field interaction needs a C double[3], not a numpy array.
            calc.add("electric-field", library.ffi.new("double[3]", [float(f) for f in self.field]))
        return calc

    def compute(self, positions: np.ndarray, guess: Any = None) -> PointResult:
        """Run one single point at ``positions`` (N x 3, Bohr).

        Parameters
        ----------
        positions
            Cartesian coordinates in Bohr.
        guess
            Optional tblite ``Result`` (e.g. from another engine at the same geometry) whose
            wavefunction starts the SCF; by default the previous result of this engine is used.

        Raises
        ------
        SimulationError
            When the SCF fails or gives non-finite numbers (stage ``"optimise"``; callers re-raise
            with their own stage).
        """
        positions = np.ascontiguousarray(positions, dtype=float)
        try:
            if self._calc is None:
                self._calc = self._new_calculator(positions)
            else:
                self._calc.update(positions)
            if guess is not None:
                self._res = self._calc.singlepoint(guess, copy=True)
            else:
                self._res = self._calc.singlepoint(self._res)
        except Exception as exc:  # tblite raises its own runtime/value errors
            self._res = None
            raise SimulationError("optimise", f"GFN2-xTB single point failed: {exc}") from exc
        self.n_calls += 1
        result = PointResult(
            energy=float(self._res.get("energy")),
            gradient=np.array(self._res.get("gradient"), dtype=float),
            dipole=np.array(self._res.get("dipole"), dtype=float),
        )
        if not (np.isfinite(result.energy) and np.isfinite(result.gradient).all()):
            raise SimulationError("optimise", "GFN2-xTB gave a non-finite energy or gradient")
        return result

    def with_accuracy(self, accuracy: float) -> GFN2Engine:
        """A fresh engine for the same molecule (and field) with another tblite accuracy."""
        return GFN2Engine(
            self.numbers, charge=self.charge, uhf=self.uhf, accuracy=accuracy, field=self.field
        )

    @property
    def last_result(self) -> Any:
        """The last tblite ``Result`` (a restart guess for other engines), or None."""
        return self._res
