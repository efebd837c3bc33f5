"""From spectra to structure: SMILES generation and candidate ranking (appendix S.2).

A Transformer decoder reads the per-band features of the PA-IB model (the gated ``T_m`` and
``T_a`` of the shipped default model, frozen) and, optionally, the molecular formula, and
generates SMILES by beam search (:mod:`~mspectmol.structure.beam`); candidate structures are
ranked by decoder likelihood, functional-group agreement and spectral distance
(:mod:`~mspectmol.structure.ranking`). Metrics follow MassSpecGym
(:mod:`~mspectmol.structure.metrics`).
"""
