"""Spectrum-conditioned 3D conformer generation (the paper's section 3.3 and appendix S).

A conditional diffusion model over atomic coordinates of a given molecular graph: the PA-IB
spectrum embedding fused with the timestep embedding (eq. 31) conditions a SchNet-style
global and a GIN-style local encoder, which predict the noise in distance space; the noise is
mapped back to coordinates (GeoDiff style) and eq. 30 samples conformers. See
:mod:`mspectmol.conformers.model`, :mod:`~mspectmol.conformers.diffusion`,
:mod:`~mspectmol.conformers.sample` and :mod:`~mspectmol.conformers.benchmark`.
"""
