"""Candidate libraries: the QM9 isomer index and the embedded dataset's molecules."""
