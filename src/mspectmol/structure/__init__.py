"""From spectra to structure: SMILES generation and candidate ranking (appendix S.2).

A Transformer decoder (:mod:`~mspectmol.structure.model`) reads the per-band features of the
PA-IB model (the gated ``T_m`` and ``T_a`` of the shipped default model, frozen) and,
optionally, the molecular formula, and generates SMILES by beam search; an
evidence-conditioned generator draws many structures of a formula
(:mod:`~mspectmol.structure.generation`); QM9 and the embedded dataset serve as candidate
libraries (:mod:`~mspectmol.structure.libraries`); candidates are ranked by decoder
likelihood, functional-group agreement, the 13C and 1H evidence per shift region
(:mod:`~mspectmol.structure.evidence`) and the distance to their simulated spectra
(:mod:`~mspectmol.structure.ranking`). :mod:`~mspectmol.structure.elucidation` puts these
together behind one service (``mspectmol elucidate``), :mod:`~mspectmol.structure.benchmark`
measures them with the metrics of MassSpecGym (:mod:`~mspectmol.structure.metrics`).
"""
