"""QM9 isomer library (structure/libraries/qm9.py) and its pre-filter
(structure/ranking/prefilter.py) on a fake qm9pack-like CSV folder."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mspectmol.cli.main import main
from mspectmol.errors import MspectmolError
from mspectmol.structure.libraries import qm9 as isomers
from mspectmol.structure.libraries.qm9 import QM9Source, load_index
from mspectmol.structure.model.tokens import canonical, hill
from mspectmol.structure.ranking import prefilter as first_stage
from mspectmol.structure.ranking.prefilter import prefilter

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "mspectmol" / "data" / "examples"
#: A dozen QM9-like entries: 7 distinct C3H6O isomers (a stereo pair merges), 2 of C2H6O, a
#: zwitterion and one SMILES RDKit cannot parse.
FAKE = ["C", "CCO", "COC", "CC(C)=O", "CCC=O", "C=CCO", "C1COC1", "C[C@H]1CO1", "C[C@@H]1CO1",
        "OC1CC1", "C=COC", "CC#N", "C1CC", "[NH3+]CC([O-])=O"]
C3H6O = sorted({canonical(s) for s in FAKE[3:11]})


def _fake_qm9(root: Path, smiles=FAKE, version="0.1") -> QM9Source:
    """Two qm9pack-like CSV files (quoted, extra columns) holding ``smiles``."""
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for part, chunk in enumerate((smiles[:6], smiles[6:]), start=1):
        path = root / f"qm9_part{part}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
            w.writerow(["XYZ_file", "Index", "SMILES", "InChi", "Elements"])
            for i, s in enumerate(chunk):
                w.writerow([f"dsgdb9nsd_{part}{i:05d}.xyz", 100 * part + i, s, "InChI=1S/x",
                            "['C','H']"])
        files.append(path)
    return QM9Source(tuple(files), version)


def test_index_build_cache_round_trip(tmp_path, monkeypatch):
    source = _fake_qm9(tmp_path / "qm9")
    path = tmp_path / "cache" / "isomers.parquet"
    index = load_index(source, path)
    assert path.is_file() and path.stat().st_size < 10_000
    assert index.meta == {"format": isomers.FORMAT_VERSION, "qm9pack": "0.1", "rows": 14,
                          "unparsed": 1}
    assert len(index) == 12 and len(C3H6O) == 7
    assert index.isomers("C3H6O") == C3H6O == index.isomers("H6OC3")
    assert index.isomers("C2H6O") == ["CCO", "COC"]
    assert index.isomers("C2H5NO2") == [canonical("[NH3+]CC([O-])=O")]
    assert index.isomers("C9H20") == []

    def no_build(source):
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(isomers, "build_index", no_build)
    again = load_index(source, path)
    assert again.by_formula == index.by_formula and again.meta == index.meta


def test_hill_and_cache_location(monkeypatch, tmp_path):
    assert hill("OH6C3") == "C3H6O" and hill("ClH") == "ClH" and hill("C1H4") == "CH4"
    assert hill("N2C2") == "C2N2" and hill("OH2") == "H2O"
    with pytest.raises(MspectmolError, match="malformed"):
        hill("C3x")
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path))
    assert isomers.index_path() == tmp_path / "isomers" / "qm9_isomers.parquet"


def test_version_mismatch_rebuilds(tmp_path, monkeypatch):
    path = tmp_path / "isomers.parquet"
    load_index(_fake_qm9(tmp_path / "a", FAKE[:4], version="1.0"), path)
    newer = _fake_qm9(tmp_path / "b", version="2.0")
    with pytest.raises(MspectmolError, match="qm9pack 1.0.*delete it"):
        load_index(newer, path, rebuild=False)
    index = load_index(newer, path)
    assert index.meta["qm9pack"] == "2.0" and index.isomers("C3H6O") == C3H6O
    monkeypatch.setattr(isomers, "FORMAT_VERSION", isomers.FORMAT_VERSION + 1)
    with pytest.raises(MspectmolError, match="built for format"):
        load_index(newer, path, rebuild=False)
    assert load_index(newer, path).meta["format"] == isomers.FORMAT_VERSION


def test_corrupt_cache(tmp_path):
    source = _fake_qm9(tmp_path / "qm9")
    path = tmp_path / "isomers.parquet"
    path.write_bytes(b"not a parquet file")
    with pytest.raises(MspectmolError, match="isomers.parquet: unreadable QM9 isomer index"):
        load_index(source, path, rebuild=False)
    assert load_index(source, path).isomers("C3H6O") == C3H6O  # rebuilt
    assert load_index(source, path, rebuild=False).isomers("C2H6O") == ["CCO", "COC"]
    bad = tmp_path / "bad" / "qm9_part1.csv"
    bad.parent.mkdir()
    bad.write_text("Index,Name\n1,x\n")
    with pytest.raises(MspectmolError, match="no SMILES column"):
        load_index(QM9Source((bad,), "0.1"), tmp_path / "other.parquet")


def test_missing_qm9pack(monkeypatch):
    real = isomers.importlib.util.find_spec
    monkeypatch.setattr(isomers.importlib.util, "find_spec",
                        lambda name, *a: None if name == "qm9pack" else real(name, *a))
    with pytest.raises(MspectmolError, match="pip install qm9pack"):
        QM9Source.installed()


def test_prefilter_keeps_best_agreement_in_stable_order():
    p = np.full(4, 0.5)
    p[0], p[1] = 0.9, 0.1  # group 0 likely present, group 1 likely absent
    labels = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [0, 0, 0, 0]],
                      dtype=np.uint8)
    names = ["a", "b", "c", "d", "e"]
    kept = prefilter(names, p, 3, labels=labels)
    assert kept.smiles == ["b", "c", "d"]  # b, c and d tie: input order
    assert kept.n_before == 5 and kept.fg == pytest.approx([kept.fg[0]] * 3)
    assert kept.labels.tolist() == labels[1:4].tolist()
    assert prefilter(names, p, 10, labels=labels).smiles == ["b", "c", "d", "e", "a"]
    with pytest.raises(MspectmolError, match=">= 1"):
        prefilter(names, p, 0, labels=labels)
    probs = np.full(37, 0.2)
    real = prefilter(["CCO", "C1CC", "CC(C)=O"], probs, 5)  # RDKit-invalid one dropped
    assert sorted(real.smiles) == ["CC(C)=O", "CCO"] and real.labels.shape == (2, 37)
    assert prefilter(["CCO", "CC(C)=O"], probs, 5).smiles == real.smiles  # reproducible


def test_prefilter_13c_counts_reorder_functional_group_ties():
    # same labels (no group predicted) -> equal fg; the 13C counts pick the matching isomer
    # acetone [1, 0, 1], propanal [2, 0, 1], allyl alcohol [1, 2, 0] lines per region
    names = ["CC(C)=O", "CCC=O", "C=CCO"]
    labels = np.zeros((3, 37))
    p = np.full(37, 0.01)
    plain = prefilter(names, p, 3, labels=labels)
    assert plain.smiles == names and not plain.c13_mismatch.any()
    kept = prefilter(names, p, 3, labels=labels, c13_regions=np.array([1, 2, 0]))
    assert kept.smiles == ["C=CCO", "CC(C)=O", "CCC=O"]
    assert kept.c13_mismatch.tolist() == [0.0, 3.0, 4.0]
    assert prefilter(names, p, 3, labels=labels, c13_regions=np.array([1, 2, 0]),
                     c13_weight=0.0).smiles == names
    with pytest.raises(MspectmolError, match="13C pre-filter weight"):
        prefilter(names, p, 3, labels=labels, c13_weight=-1.0)


def test_prefilter_draw_counts_keep_often_drawn_structures_first():
    names = ["a", "b", "c", "d"]
    labels = np.zeros((4, 37))
    p = np.full(37, 0.01)  # equal fg: the draw counts decide
    plain = prefilter(names, p, 2, labels=labels)
    assert plain.smiles == ["a", "b"] and plain.drawn is None
    kept = prefilter(names, p, 2, labels=labels, draws=[1, 0, 9, 3])
    assert kept.smiles == ["c", "d"] and kept.drawn.tolist() == [9.0, 3.0]
    assert prefilter(names, p, 2, labels=labels, draws=[1, 0, 9, 3],
                     drawn_weight=0.0).smiles == ["a", "b"]
    # log(1 + draws) against fg: 2 x log(10 / 2) outweighs a one-group disagreement
    q = p.copy()
    q[0] = 0.9
    labels[0, 0] = 1
    fg_gap = np.log(0.9 / 0.1)
    assert 2.0 * np.log(10 / 2) > fg_gap > 1.0 * np.log(10 / 2) - 1e-9
    assert prefilter(names, q, 1, labels=labels, draws=[1, 0, 9, 0]).smiles == ["c"]
    assert prefilter(names, q, 1, labels=labels, draws=[1, 0, 9, 0],
                     drawn_weight=0.5).smiles == ["a"]
    # RDKit-invalid candidates are dropped with their counts
    real = prefilter(["CCO", "C1CC", "CC(C)=O"], np.full(37, 0.2), 5, draws=[1, 50, 7])
    assert real.smiles == ["CC(C)=O", "CCO"] and real.drawn.tolist() == [7.0, 1.0]
    with pytest.raises(MspectmolError, match="draw weight"):
        prefilter(names, p, 2, labels=labels, draws=[1, 0, 9, 3], drawn_weight=-1.0)
    with pytest.raises(MspectmolError, match="4 draw counts"):
        prefilter(names, p, 2, labels=labels, draws=[1, 2])


@pytest.mark.parametrize("extra, message", [
    (["--library", "qm9"], "--library qm9 needs --formula"),
    (["--formula", "C3H6O", "--prefilter", "5"], "--prefilter applies to --library qm9"),
    (["--formula", "C3H6O", "--library", "--prefilter", "5"], "--library qm9 or --generate only"),
    (["--formula", "C3H6O", "--library", "qm9", "--prefilter", "0"], "N >= 1"),
    (["--formula", "C3H6O", "--c13-weight", "1"], "--c13-weight applies to --library qm9"),
    (["--formula", "C3H6O", "--library", "qm9", "--c13-weight", "-1"], "must be >= 0"),
    (["--formula", "C3H6O", "--library", "qm9", "--c13-weight", "nan"], "must be >= 0"),
    (["--formula", "C3H6O", "--h1-weight", "1"], "--h1-weight applies to --library qm9"),
    (["--formula", "C3H6O", "--library", "qm9", "--h1-weight", "-0.5"], "must be >= 0"),
    (["--formula", "C3H6O", "--library", "qm9", "--no-simulate"], "--no-simulate"),
    (["--formula", "C3H6O", "--library", "qm9", "--rerank", "5"], "--rerank"),
])
def test_cli_argument_errors(tmp_path, capsys, extra, message):
    args = ["elucidate", "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "-o", str(tmp_path)]
    assert main([*args, *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_unknown_library(tmp_path):
    with pytest.raises(SystemExit):
        main(["elucidate", "--ir", str(EXAMPLES / "aspirin_ir.jdx"), "--library", "pubchem"])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_model_builder):
    """A tiny PA-IB encoder and structure decoder (as in test_structure_cli)."""
    return tiny_model_builder(tmp_path_factory.mktemp("models"), C3H6O, 24) / "structure"


def test_cli_ranks_prefiltered_qm9_isomers(tmp_path, tiny_model, monkeypatch, capsys):
    from mspectmol.structure.ranking import simulation
    from mspectmol.structure.ranking.simulation import NMRRecord

    source = _fake_qm9(tmp_path / "qm9")
    monkeypatch.setattr(QM9Source, "installed", classmethod(lambda cls: source))
    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path / "cache"))
    simulated = []

    def toy_nmr(smiles, settings=None):  # a distinct toy NMR per structure
        simulated.append(smiles)
        n = len(smiles)
        return NMRRecord([(1.0 + 0.5 * n, 3)], [(10.0 * n, 1)])

    monkeypatch.setattr(simulation, "simulate_nmr_fast", toy_nmr)
    base = ["elucidate", "--model", str(tiny_model), "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
            "--formula", "C3H6O", "--library", "qm9"]
    assert main([*base, "-o", str(tmp_path / "x")]) == 2  # no NMR spectrum
    assert "give --h-nmr and/or --c-nmr" in capsys.readouterr().err
    out = tmp_path / "out"
    nmr = ["--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx")]
    assert main([*base, *nmr, "--prefilter", "3", "-k", "5", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "QM9: 7 isomer(s) of formula C3H6O, 3 kept" in printed
    assert "kept by agreement with the functional groups, 1H integrals and" in printed
    doc = json.loads((out / "structures.json").read_text())
    assert doc["library"]["isomers"] == 7 and doc["library"]["kept"] == 3
    assert doc["library"]["h1_weight"] == first_stage.H1_WEIGHT
    assert doc["weights"] == first_stage.FAST_NMR_WEIGHTS.to_dict() and doc["spec_smooth"] == 10.0
    rows = doc["structures"]
    assert len(rows) == 3 and all(r["source"] == "qm9" and r["spec"] is not None for r in rows)
    assert sorted(simulated) == sorted(r["smiles"] for r in rows)
    assert set(simulated) <= set(C3H6O)
    assert (tmp_path / "cache" / "isomers" / "qm9_isomers.parquet").is_file()
    out2 = tmp_path / "out2"
    assert main([*base, *nmr, "--prefilter", "3", "--weights", "0", "1", "0",
                 "--spec-smooth", "0", "-o", str(out2)]) == 0
    doc2 = json.loads((out2 / "structures.json").read_text())
    assert doc2["weights"] == {"ll": 0.0, "fg": 1.0, "spec": 0.0, "gen": 0.0}
    assert doc2["spec_smooth"] == 0
    assert {r["smiles"] for r in doc2["structures"]} == {r["smiles"] for r in rows}
    assert len(simulated) == 3  # the second run read the simulation cache
    # with a 13C spectrum the pre-filter also weighs 13C line counts (aspirin's: 1 methyl, 6
    # aromatic and 2 carbonyl-region lines); --c13-weight 0 is the functional groups alone
    c13 = ["--c-nmr", str(EXAMPLES / "aspirin_c_nmr.csv")]
    picks = []
    for weight in ("0", "50"):
        out3 = tmp_path / f"out3-{weight}"
        assert main([*base, *c13, "--prefilter", "1", "--c13-weight", weight, "-o",
                     str(out3)]) == 0
        doc3 = json.loads((out3 / "structures.json").read_text())
        assert doc3["library"]["c13_weight"] == float(weight)
        picks.append(doc3["structures"][0]["smiles"])
    from mspectmol.structure.evidence.carbon_count import carbon_regions
    # closest C3H6O isomers to [1, 6, 2]: two sp2 carbons and one sp3 (e.g. allyl alcohol);
    # the functional groups alone keep another one
    assert carbon_regions(picks[1]).tolist() == [1, 2, 0] != carbon_regions(picks[0]).tolist()


def test_benchmark_row_planning():
    from mspectmol.structure.benchmark.qm9_rows import (
        QM9_DEFAULTS,
        ROW,
        ROW_C13,
        ROW_H1,
        plan_rows,
    )

    opts = {"rerank_n": 50, "only": "", **QM9_DEFAULTS}
    ctx = {"opts": opts, "quick": True, "rerank_subset": np.arange(0, 100, 2)}
    assert plan_rows(ctx, {}) == []  # --quick: only when asked for
    ctx["opts"] = {**opts, "only": "library_qm9", "library_qm9_n": 3}
    [(name, info, _, mces_k, key), (name13, info13, _, _, key13),
     (name1, info1, _, _, key1)] = plan_rows(ctx, {"seed": 0})
    assert name == ROW and "not de novo" in info["method"] and mces_k == (1, 10)
    assert key["subset"] == [0, 2, 4] and key["prefilter"] == 200 and key["seed"] == 0
    # each row keys its own weights; the functional-group row's key does not change with them
    assert name13 == ROW_C13 and "13C" in info13["method"] and "c13_weight" not in key
    assert key13 == {**key, "c13_weight": QM9_DEFAULTS["c13_weight"]}
    assert name1 == ROW_H1 and "1H integrals" in info1["method"]
    assert key1 == {**key13, "h1_weight": QM9_DEFAULTS["h1_weight"]}
    ctx["opts"] = {**opts, "only": "library_qm9", "h1_weight": 0.0}
    assert [r[0] for r in plan_rows(ctx, {})] == [ROW, ROW_C13]
    ctx["opts"] = {**opts, "only": "library_qm9", "c13_weight": 0.0}
    assert [r[0] for r in plan_rows(ctx, {})] == [ROW]
    for bad in ({"c13_weight": -1.0}, {"h1_weight": float("nan")}, {"prefilter": 0}):
        ctx["opts"] = {**opts, "only": "library_qm9", **bad}
        with pytest.raises(MspectmolError, match=next(iter(bad))):
            plan_rows(ctx, {})


def test_fast_nmr_spectra_remember_failures(tmp_path, monkeypatch):
    from mspectmol.data.simulator.errors import SimulationError
    from mspectmol.structure.ranking import simulation

    monkeypatch.setenv("MSPECTMOL_CACHE", str(tmp_path))
    calls = []

    def failing(smiles, settings=None):
        calls.append(smiles)
        raise SimulationError("conformers", "toy failure", smiles)

    monkeypatch.setattr(simulation, "simulate_nmr_fast", failing)
    sim = first_stage.fast_nmr_spectra({"h_nmr": np.linspace(0, 12, 600)})
    assert sim.fast_nmr and sim.get("C1CC2CC12") is None and sim.get("C1CC2CC12") is None
    assert calls == ["C1CC2CC12"] and sim.stats["failed"] == 2  # simulated once
    again = first_stage.fast_nmr_spectra({"h_nmr": np.linspace(0, 12, 600)})
    assert again.get("C1CC2CC12") is None and calls == ["C1CC2CC12"]  # remembered on disk
    assert "toy failure" in next(tmp_path.rglob("*.failed")).read_text()
