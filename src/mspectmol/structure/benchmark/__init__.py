"""``mspectmol benchmark --suite structure``: :func:`run_suite` runs the suite
(:mod:`~mspectmol.structure.benchmark.suite`); each row family plans its own settings."""

from mspectmol.structure.benchmark.suite import run_suite

__all__ = ["run_suite"]
