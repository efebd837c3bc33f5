"""Co-error matrix: joint errors off the diagonal, single-group errors on it; its heatmap."""

import numpy as np
import pytest
from PIL import Image

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.errors import MspectmolError
from mspectmol.explain.coerror import coerror_matrix, plot_coerror, top_pairs

# errors per molecule: {0}, {0, 1}, {1}, {0, 1, 2}, none
Y_TRUE = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 1]])
Y_PRED = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 1], [1, 1, 1], [1, 0, 1]])


def test_hand_case():
    m = coerror_matrix(Y_TRUE, Y_PRED)
    expected = np.array([[1, 2, 1],
                         [2, 1, 1],
                         [1, 1, 0]])
    np.testing.assert_array_equal(m, expected)
    assert m.dtype == np.int64
    np.testing.assert_array_equal(m, m.T)


def test_probabilities_with_thresholds():
    prob = np.where(Y_PRED == 1, 0.7, 0.2)
    np.testing.assert_array_equal(coerror_matrix(Y_TRUE, prob, threshold=0.5),
                                  coerror_matrix(Y_TRUE, Y_PRED))
    # per-group thresholds: group 2 now needs 0.8, so molecules 2 and 4 miss it, 3 is right
    per_group = coerror_matrix(Y_TRUE, prob, threshold=[0.5, 0.5, 0.8])
    pred = Y_PRED.copy()
    pred[:, 2] = 0
    np.testing.assert_array_equal(per_group, coerror_matrix(Y_TRUE, pred))


def test_random_matrix_is_symmetric_and_diagonal_counts_single_errors():
    rng = np.random.default_rng(3)
    y = (rng.random((200, 37)) < 0.2).astype(int)
    p = np.where(rng.random((200, 37)) < 0.03, 1 - y, y)
    m = coerror_matrix(y, p)
    np.testing.assert_array_equal(m, m.T)
    wrong = y != p
    single = wrong.sum(axis=1) == 1
    assert m.diagonal().sum() == single.sum()
    i, j = 4, 9
    assert m[i, j] == int((wrong[:, i] & wrong[:, j]).sum())


def test_bad_inputs():
    with pytest.raises(MspectmolError, match="0/1"):
        coerror_matrix(Y_TRUE, np.full(Y_TRUE.shape, 0.3))
    with pytest.raises(MspectmolError, match="shape"):
        coerror_matrix(Y_TRUE, Y_PRED[:, :2])


def test_top_pairs_and_heatmap(tmp_path):
    m = coerror_matrix(Y_TRUE, Y_PRED)
    assert top_pairs(m, ["a", "b", "c"], k=2) == [("a", "b", 2), ("a", "c", 1)]
    rng = np.random.default_rng(0)
    big = rng.integers(0, 50, (37, 37))
    big = big + big.T
    fig = plot_coerror(big, GROUP_NAMES, tmp_path / "co.png")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(GROUP_NAMES)
    with Image.open(tmp_path / "co.png") as image:
        assert image.format == "PNG" and image.size[0] > 500
    with pytest.raises(MspectmolError):
        plot_coerror(m, GROUP_NAMES)
