"""Exceptions raised by mspectmol.

Every error a user can trigger with bad input derives from :class:`MspectmolError`, so
callers (the CLI, the web app, pipelines) can catch one type and show its message.
Errors about a file carry the file's path and name it in their message.
"""

from __future__ import annotations

from os import PathLike


class MspectmolError(Exception):
    """Base class of every error mspectmol raises on bad input or bad state."""


class SpectrumError(MspectmolError, ValueError):
    """A spectrum is unusable: NaN/inf values, wrong lengths, too short, bad axis.

    Parameters
    ----------
    message
        What is wrong.
    source
        The file (or other origin) the spectrum came from, named in the message when given.
    """

    def __init__(self, message: str, source: str | PathLike[str] | None = None) -> None:
        self.source = None if source is None else str(source)
        self.problem = message
        super().__init__(f"{self.source}: {message}" if self.source else message)


class SpectrumFileError(SpectrumError):
    """A spectrum file cannot be read: missing, empty, truncated, malformed or unsupported."""


class UnitError(SpectrumError):
    """An axis or intensity unit is unknown or cannot be converted for this modality."""


class UnknownModalityError(MspectmolError, KeyError):
    """A modality name is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidSmilesError(MspectmolError, ValueError):
    """A SMILES string cannot be parsed by RDKit."""


class ModelFileError(MspectmolError):
    """A model file is missing, corrupt, tampered with or of an unsupported format version."""


class ConfigError(MspectmolError, ValueError):
    """A training or model configuration is invalid: unknown key, bad value, unreadable file."""
