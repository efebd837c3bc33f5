"""Result rows for the tests of rows and tables."""

import pytest

TRIPLE = "ir+c_nmr+h_nmr"


def _row(model, modalities, primary, split, seed, micro, **extra):
    role = model == "pa_ib"
    row = {"suite": "s", "model": model, "config": modalities, "modalities": modalities,
           "primary": primary if role else "", "role_aware": role, "split": split,
           "seed": seed, "micro_f1": micro, "macro_f1": micro / 2, "micro_f1_tuned": 0.5,
           "macro_f1_tuned": None,
           "train_seconds": 10.0 * (1 + modalities.count("+")), "epochs": 4,
           "parameters": 100, "settings_hash": "h", "key": f"{model}-{modalities}-{primary}"
           f"-{split}-{seed}"}
    return {**row, **extra}


def _synthetic_rows():
    rows = []
    for seed, (a, b, c) in enumerate([(0.80, 0.90, 0.70), (0.82, 0.94, 0.74)]):
        rows += [_row("cnn_concat", "ir", "", "scaffold", seed, a),
                 _row("cnn_concat", TRIPLE, "", "scaffold", seed, b),
                 _row("pa_ib", "ir", "ir", "scaffold", seed, a + 0.1),
                 _row("pa_ib", TRIPLE, "ir", "scaffold", seed, b + 0.02),
                 _row("pa_ib", TRIPLE, "h_nmr", "scaffold", seed, c)]
    return rows



@pytest.fixture
def make_row():
    """``make_row(model, modalities, primary, split, seed, micro, **extra)``: one row."""
    return _row


@pytest.fixture
def synthetic_rows():
    """Two seeds of cnn_concat (IR, triple) and pa_ib (IR; triple with IR and 1H primary)."""
    return _synthetic_rows()
