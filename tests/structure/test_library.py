"""Perturbation of the library benchmark's observed spectra."""

import numpy as np

from mspectmol.structure.ranking.library_search import perturb


def _spectra() -> dict[str, np.ndarray]:
    y = np.zeros((3, 40), dtype=np.float32)
    y[:, 20] = 2.0
    return {"ir": y, "h_nmr": y.copy()}


def test_perturb_bounds_shift_and_normalises() -> None:
    out = perturb(_spectra(), 0, max_shift=3, noise=0.0)
    for z in out.values():
        assert z.dtype == np.float32
        assert np.allclose(z.max(axis=1), 1.0)
        peaks = z.argmax(axis=1)
        assert np.all(np.abs(peaks - 20) <= 3)
    # Without a shift and noise, only the normalisation changes the spectra.
    still = perturb(_spectra(), 0, max_shift=0, noise=0.0)
    assert np.array_equal(still["ir"], _spectra()["ir"] / 2)


def test_perturb_seeded_and_streamed() -> None:
    a, b = perturb(_spectra(), 4), perturb(_spectra(), 4)
    assert all(np.array_equal(a[m], b[m]) for m in a)
    assert np.all(a["ir"] >= 0)
    # One generator gives successive, different perturbations.
    rng = np.random.default_rng(4)
    first, second = perturb(_spectra(), rng), perturb(_spectra(), rng)
    assert all(np.array_equal(first[m], a[m]) for m in a)
    assert not np.array_equal(first["ir"], second["ir"])
