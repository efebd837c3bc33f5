"""Predicted 13C lines of corpus structures: CSP5 lines and the chunked, resumable cache."""

import numpy as np
import pytest

from mspectmol.structure.generation import shift_corpus
from mspectmol.structure.generation.shift_corpus import cached_c13_lines, predict_c13_lines


def test_predict_c13_lines_gives_one_line_per_distinct_carbon():
    pytest.importorskip("csp5")
    ethanol, benzene, water, bad = predict_c13_lines(["CCO", "c1ccccc1", "O", "C1CC"])
    assert len(ethanol) == 2 and 50 < ethanol[0] < 65 and 10 < ethanol[1] < 25
    assert len(benzene) == 1 and 120 < benzene[0] < 136  # six equivalent carbons
    assert water is not None and len(water) == 0
    assert bad is None  # RDKit cannot parse it


def _fake(smiles):
    return [None if s == "fail" else np.array([float(len(s))], dtype=np.float32)
            for s in smiles]


def test_cache_is_sharded_resumable_and_rebuilds_bad_chunks(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(shift_corpus, "CHUNK", 2)
    monkeypatch.setattr(shift_corpus, "predict_c13_lines",
                        lambda s: calls.append(list(s)) or _fake(s))
    smiles = ["C", "CC", "CCC", "fail", "CCCCC"]
    lines, missing = cached_c13_lines(smiles, tmp_path, shard=(0, 2))
    assert missing == 2 and len(calls) == 2  # chunks 0 and 2 of 3
    assert sum(x is not None for x in lines) + missing + ("fail" in sum(calls, [])) == 5
    lines, missing = cached_c13_lines(smiles, tmp_path, compute=False)
    assert missing == 2 and len(calls) == 2
    lines, missing = cached_c13_lines(smiles, tmp_path, shard=(1, 2))
    assert missing == 0 and len(calls) == 3
    assert [None if x is None else float(x[0]) for x in lines] == [1, 2, 3, None, 5]
    # a damaged chunk is recomputed; complete chunks are read, not recomputed
    victim = sorted(tmp_path.glob("*.npz"))[0]
    victim.write_bytes(b"not an npz")
    lines, missing = cached_c13_lines(smiles, tmp_path)
    assert missing == 0 and len(calls) == 4
    assert [None if x is None else float(x[0]) for x in lines] == [1, 2, 3, None, 5]
