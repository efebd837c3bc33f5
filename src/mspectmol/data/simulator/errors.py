"""The error raised when one molecule cannot be simulated."""

from __future__ import annotations

from mspectmol.errors import MspectmolError

#: The stages of :func:`mspectmol.data.simulator.pipeline.simulate_molecule`, in order.
STAGES: tuple[str, ...] = (
    "parse",
    "conformers",
    "rerank",
    "optimise",
    "hessian",
    "raman",
    "nmr",
)


class SimulationError(MspectmolError, RuntimeError):
    """A molecule could not be simulated.

    Parameters
    ----------
    stage
        The pipeline stage that failed, one of :data:`STAGES` (e.g. ``"parse"`` for a SMILES
        RDKit cannot read, ``"optimise"`` for a geometry optimisation that does not converge).
    reason
        What went wrong, in words.
    smiles
        The molecule, named in the message when given.
    """

    def __init__(self, stage: str, reason: str, smiles: str | None = None) -> None:
        self.stage = stage
        self.reason = reason
        self.smiles = smiles
        where = f" ({smiles})" if smiles else ""
        super().__init__(f"simulation failed at stage '{stage}'{where}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str | None]]:
        # Keep the error picklable so that it can cross a process-pool boundary.
        return (type(self), (self.stage, self.reason, self.smiles))
