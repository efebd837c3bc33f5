"""Two-molecule mixtures of training rows (``mix_molecules``)."""

import numpy as np
import pytest

from mspectmol.data.batches import SplitData, mix_molecules
from mspectmol.errors import ConfigError


def _part(n=6):
    rng = np.random.default_rng(0)
    spectra = {m: rng.random((n, 20), dtype=np.float32) for m in ("ir", "c_nmr")}
    spectra = {m: x / x.max(axis=1, keepdims=True) for m, x in spectra.items()}
    labels = np.eye(n, 8, dtype=np.float32)
    available = {m: np.ones(n, bool) for m in spectra}
    available["c_nmr"][5] = False
    spectra["c_nmr"][5] = 0.0
    return SplitData(np.arange(n), labels, spectra, available)


def test_mixtures_add_spectra_and_unite_labels():
    part = _part()
    mixed = mix_molecules(part, 1.0, np.random.default_rng(1), weights=(0.5, 0.5))
    assert mixed.ids.tolist() == part.ids.tolist()            # same rows, same order
    changed = 0
    for i in range(len(part)):
        # each row is itself plus one other molecule: two labels, one of them its own
        assert mixed.labels[i, i] == 1 and mixed.labels[i].sum() == 2
        (j,) = [k for k in np.flatnonzero(mixed.labels[i]) if k != i]
        expected = part.spectra["ir"][i] + 0.5 * part.spectra["ir"][j]
        np.testing.assert_allclose(mixed.spectra["ir"][i], expected / expected.max(),
                                   rtol=1e-6)
        assert mixed.spectra["ir"][i].max() == pytest.approx(1.0)
        both = part.available["c_nmr"][i] and part.available["c_nmr"][j]
        assert mixed.available["c_nmr"][i] == both
        if not both:
            assert not mixed.spectra["c_nmr"][i].any()
        changed += 1
    assert changed == len(part)
    assert part.labels.sum() == len(part)                     # the input is not modified


def test_mix_share_is_seeded_and_zero_is_identity():
    part = _part(10)
    a = mix_molecules(part, 0.3, np.random.default_rng(5))
    b = mix_molecules(part, 0.3, np.random.default_rng(5))
    assert np.array_equal(a.labels, b.labels)
    assert int((a.labels.sum(axis=1) == 2).sum()) == 3
    assert mix_molecules(part, 0.0, np.random.default_rng(5)) is part
    with pytest.raises(ConfigError, match="mix must be in"):
        mix_molecules(part, 1.5, np.random.default_rng(5))
