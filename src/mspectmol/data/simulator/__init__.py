"""Offline spectrum simulator: GFN2-xTB (tblite) geometry, IR and Raman; CSP5 1H/13C NMR."""

from mspectmol.data.simulator.errors import STAGES, SimulationError
from mspectmol.data.simulator.pipeline import simulate_molecule
from mspectmol.data.simulator.records import SimulationRecord
from mspectmol.data.simulator.settings import SimulationSettings

__all__ = [
    "STAGES",
    "SimulationError",
    "SimulationRecord",
    "SimulationSettings",
    "simulate_molecule",
]
