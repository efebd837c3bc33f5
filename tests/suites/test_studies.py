"""The study suites: augment, stress, ablation, modalities (variants, size split, cost)."""

import contextlib
import csv
import io
import json
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest

from mspectmol.cli.main import main
from mspectmol.data.batches import make_split
from mspectmol.data.splits import size_split
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.spectra.augmentation import shift_rows
from mspectmol.suites.conditions import Condition, parse_conditions
from mspectmol.suites.cost import ResourceMonitor
from mspectmol.suites.definitions import load_suite
from mspectmol.suites.plan import (
    make_settings,
    model_overrides,
    plan_jobs,
    plan_runs,
    suite_extra,
    train_config,
)
from mspectmol.suites.robustness import apply_condition
from mspectmol.suites.rows import ROW_FIELDS
from mspectmol.suites.study import flat_cost

N_MOLECULES = 120


# --- size split ----------------------------------------------------------------------------

def test_size_split_tests_on_the_largest_tenth_without_splitting_a_size():
    atoms = np.repeat(np.arange(1, 11), 10)  # 10 molecules of each size 1..10
    parts = size_split(atoms, seed=0)
    assert set(atoms[parts == "test"]) == {10}  # exactly the largest 10%
    assert atoms[parts != "test"].max() < atoms[parts == "test"].min()
    assert (parts == "val").sum() == 9 and (parts == "train").sum() == 81
    assert np.array_equal(parts, size_split(atoms, seed=0))
    assert not np.array_equal(parts, size_split(atoms, seed=1))  # validation draw is seeded
    # Ties at the boundary stay together: the closest share to 10% is taken.
    skewed = np.array([1] * 70 + [2] * 25 + [3] * 5)
    assert (size_split(skewed) == "test").sum() == 5
    with pytest.raises(MspectmolError, match="different sizes"):
        size_split(np.full(20, 7))
    with pytest.raises(MspectmolError, match="whole numbers"):
        size_split(np.array([1.5, 2.0]))


# --- shift condition -----------------------------------------------------------------------

def _split(n=6, points=40, seed=0):
    rng = np.random.default_rng(seed)
    spectra = {"ir": rng.random((n, points)).astype(np.float32),
               "c_nmr": rng.random((n, points)).astype(np.float32)}
    spectra["c_nmr"][1] = np.nan  # an unavailable row
    return make_split([f"m{i}" for i in range(n)], np.zeros((n, 37), np.uint8), spectra, points)


def test_shift_condition_moves_every_available_spectrum_reproducibly():
    (c,) = parse_conditions({"shift_3": {"shift": 3}})
    assert c == Condition("shift_3", shift=3) and not c.is_clean
    assert c.to_dict() == {"shift": 3} and c.title() == "shift ≤ 3 points"
    data = _split()
    moved = apply_condition(data, c, seed=0)
    assert np.array_equal(moved.spectra["ir"], apply_condition(data, c, seed=0).spectra["ir"])
    for m in ("ir", "c_nmr"):
        for i in range(len(data)):
            if not data.available[m][i]:
                assert not moved.spectra[m][i].any() and not moved.available[m][i]
                continue
            # Each row is the original shifted by a whole number of points in [-3, 3].
            assert any(np.allclose(moved.spectra[m][i], shift_rows(data.spectra[m][i], s))
                       for s in range(-3, 4))
    assert not np.array_equal(moved.spectra["ir"], data.spectra["ir"])
    # The noise conditions of the existing suites keep their spec (and so their keys).
    assert Condition("n", noise=0.05).to_dict() == {"noise": 0.05}
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="shift"):
            parse_conditions({"x": {"shift": bad}})


# --- variants and planning -----------------------------------------------------------------

def test_ablation_variants_are_columns_with_their_own_configs_and_keys():
    suite = load_suite("ablation")
    assert suite.models[0] == "pa_ib-full" and len(suite.models) == 15
    runs = plan_runs(suite)
    assert len(runs) == 45 and {r.registered for r in runs} == {"pa_ib"}
    settings = make_settings(suite, overrides=["pa_ib.dropout=0.3", "pa_ib-t_2.0.dropout=0.1"])
    jobs = plan_jobs(suite, settings, "/tmp/none", "fp")
    first = {j.run.model: j for j in jobs if j.run.seed == 0}
    assert len({j.hash for j in first.values()}) == 15  # every variant trains differently
    assert all(k.startswith(f"ablation__{m}__ir+c_nmr+h_nmr__ir__scaffold__seed0__")
               for m, k in ((m, j.key) for m, j in first.items()))
    no_mi2 = first["pa_ib-no_mi2"].config.model_config
    assert no_mi2["alpha"] == 0.0 and no_mi2["beta"] == 1e-6 and no_mi2["dropout"] == 0.3
    # A variant's own --set beats its model's, which beats nothing of the variant's config.
    assert model_overrides("pa_ib-t_2.0", settings)["dropout"] == 0.1
    assert model_overrides("pa_ib-t_2.0", settings)["temperature"] == 2.0
    ident = first["pa_ib-laplace"].run.identity()
    assert ident["model"] == "pa_ib-laplace" and ident["base_model"] == "pa_ib"
    assert ident["group"] == "prior (appendix L)" and ident["title"] == "Laplace prior"


def test_augment_variants_set_training_augmentation_and_conditions_enter_the_hash():
    suite = load_suite("augment")
    settings = make_settings(suite)
    runs = [r for r in plan_runs(suite) if r.seed == 0 and r.split == "scaffold"]
    augments = {r.model: train_config(r, settings, "/tmp/none").augment for r in runs}
    assert augments == {"pa_ib-original": "none", "pa_ib-shift": "shift",
                        "pa_ib-noise": "noise", "pa_ib-smooth": "smooth",
                        "pa_ib-shift_smooth": "shift+smooth",
                        "pa_ib-noise_smooth": "noise+smooth"}
    assert suite_extra(suite)["conditions"]["shift_5"] == {"shift": 5}
    for name in ("table1", "fusion", "symmetric"):  # the old suites add nothing new
        assert suite_extra(load_suite(name)) is None and not load_suite(name).variants


@pytest.mark.parametrize("variant, match", [
    ({"pa_ib": {"model": "pa_ib"}}, "registered"),
    ({"a__b": {"model": "pa_ib"}}, "without '__'"),
    ({"v": {"model": "nope"}}, "nope"),
    ({"v": {"model": "pa_ib", "train": {"seed": 3}}}, "seed"),
    ({"v": {"model": "pa_ib", "colour": 1}}, "expected an object"),
])
def test_bad_variants_are_refused_naming_the_file(tmp_path, variant, match):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "mine", "configurations": [["ir"]],
                                "models": list(variant), "variants": variant}))
    with pytest.raises(ConfigError, match=f"mine.json.*{match}"):
        load_suite(path)


def test_stress_plans_the_size_split_and_modalities_measures_cost():
    stress = load_suite("stress")
    runs = plan_runs(stress)
    assert {r.split for r in runs} == {"size", "random"} and len(runs) == 90
    config = train_config(runs[0], make_settings(stress), "/tmp/none")
    assert config.split == "size"
    quick = load_suite("stress", quick=True)
    assert quick.splits == ("size",)
    modalities = load_suite("modalities")
    assert [len(c.modalities) for c in modalities.configurations] == [1, 2, 3, 4]
    assert suite_extra(modalities)["measure"]["heavy_atom_bins"] == [[1, 9], [10, 12], [13, 16]]


def test_resource_monitor_sees_memory_allocated_inside_the_block():
    import mmap

    size = 40 * 2**20
    # fresh anonymous pages (a numpy array may reuse heap memory the allocator kept)
    with ResourceMonitor(interval=0.005) as monitor:
        block = mmap.mmap(-1, size)
        for offset in range(0, size, mmap.PAGESIZE):
            block[offset] = 1  # touch every page
    block.close()
    assert monitor.peak_mb >= monitor.increase_mb >= 30
    assert flat_cost({"cost": {"peak_rss_mb": 5.0, "bins": {"1-9": {"seconds": 2.0}}}}) == {
        "cost:peak_rss_mb": 5.0, "cost:bin:1-9:seconds": 2.0}


# --- end to end (--quick on a tiny dataset) ------------------------------------------------

@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, random_dataset):
    """A tiny dataset folder whose molecules have 4 to 16 heavy atoms."""
    root = random_dataset(tmp_path_factory.mktemp("dataset"), n=N_MOLECULES, seed=2,
                          prefix="s")
    index = pq.read_table(root / "index.parquet")
    atoms = np.random.default_rng(0).integers(4, 17, N_MOLECULES)
    index = index.set_column(index.schema.get_field_index("heavy_atoms"), "heavy_atoms",
                             [atoms.astype(np.int64)])
    pq.write_table(index, root / "index.parquet")
    return root


def run_suite(dataset_dir, out, suite, *extra):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["-q", "benchmark", "--suite", suite, "--quick", "--data",
                       str(dataset_dir), "--out", str(out), "--threads", "1", *extra])
    assert status == 0, buffer.getvalue()
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))
    table = (out / "table.md").read_text(encoding="utf-8")
    with (out / "results.csv").open(encoding="utf-8") as fh:
        fields = csv.DictReader(fh).fieldnames
    assert tuple(fields[:len(ROW_FIELDS)]) == ROW_FIELDS
    return buffer.getvalue(), rows, table, fields


def section(table, title):
    """Header and lines of the Markdown table under ``## title``."""
    block = table.split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return block[0], block[2:]


def test_quick_augment_suite(dataset_dir, tmp_path):
    stdout, rows, table, fields = run_suite(dataset_dir, tmp_path / "a", "augment")
    assert "2 runs planned, 0 already finished, 2 to train" in stdout
    assert {r["model"]: r["settings"]["augment"] for r in rows} == {
        "pa_ib-original": "none", "pa_ib-shift_smooth": "shift+smooth"}
    header, lines = section(table, "Scaffold split: test micro-F1")
    assert "Original (`pa_ib-original`)" in header and "Shift + smoothing" in header
    assert [li.split(" | ")[0] for li in lines] == [
        "| **IR** + (13C-NMR, 1H-NMR): " + t
        for t in ("unperturbed", "σ = 0.05 × max", "shift ≤ 5 points")]
    assert all("–" not in li for li in lines)
    assert "shift_5:micro_f1" in fields
    assert (tmp_path / "a" / "figure-scaffold.png").stat().st_size > 1000
    # Variant runs are found again by their keys: a rerun has nothing to train.
    stdout, *_ = run_suite(dataset_dir, tmp_path / "a", "augment", "--dry-run")
    assert "2 runs planned, 2 already finished, 0 to train" in stdout
    stdout, *_ = run_suite(dataset_dir, tmp_path / "a", "augment", "--dry-run", "--set",
                           "pa_ib-shift_smooth.dropout=0.1")
    assert "2 runs planned, 1 already finished, 1 to train" in stdout


def test_quick_stress_suite_tests_on_larger_molecules(dataset_dir, tmp_path):
    stdout, rows, table, _ = run_suite(dataset_dir, tmp_path / "s", "stress",
                                       "--splits", "size", "random")
    assert "8 runs planned" in stdout
    assert {r["split"] for r in rows} == {"size", "random"}
    assert {r["model"] for r in rows} == {"cnn_concat", "pa_ib"}
    atoms = pq.read_table(dataset_dir / "index.parquet").column("heavy_atoms").to_numpy()
    expected = (size_split(atoms) == "test").sum()
    assert {r["n_test"] for r in rows if r["split"] == "size"} == {expected} != {20}
    assert {r["n_test"] for r in rows if r["split"] == "random"} == {20}
    header, lines = section(table, "Stress test: test micro-F1 on the largest molecules and "
                                   "on the random split")
    assert header == ("| Spectrum config. | Model | largest 10% (size split) | random split "
                      "| Difference |")
    assert len(lines) == 4 and all("–" not in li for li in lines)
    pa_ib = {r["split"]: r["micro_f1"] for r in rows
             if r["model"] == "pa_ib" and r["modalities"] == "ir"}
    assert lines[1].startswith("| IR | MSpecTmol (`pa_ib`) |")
    assert lines[1].endswith(f" | {pa_ib['size'] - pa_ib['random']:+.3f} |")
    header, lines = section(table, "Size split: test micro-F1")
    assert "1D-CNN" in header and "MSpecTmol" in header
    assert [li.split(" | ")[0] for li in lines] == ["| IR", "| **IR** + (13C-NMR, 1H-NMR)"]
    run_dir = tmp_path / "s" / next(r for r in rows if r["split"] == "size")["run_dir"]
    assert json.loads((run_dir / "splits.json").read_text())["scheme"] == "size"


def test_quick_ablation_suite(dataset_dir, tmp_path):
    stdout, rows, table, _ = run_suite(dataset_dir, tmp_path / "b", "ablation")
    assert "4 runs planned" in stdout
    configs = {r["model"]: r["settings"]["model_config"] for r in rows}
    assert configs["pa_ib-no_mi2"]["alpha"] == 0.0 and configs["pa_ib-full"]["alpha"] == 1e-6
    assert configs["pa_ib-t_2.0"]["temperature"] == 2.0
    assert configs["pa_ib-laplace"]["prior"] == "laplace"
    assert all(c["channels"] == [8, 16] for c in configs.values())  # quick sizes reach them
    header, lines = section(table, "Scaffold split: test micro-F1")
    for title in ("Full loss (eq. 14)", "w/o L_MI2", "t = 2.0", "Laplace prior"):
        assert title in header
    assert len(lines) == 1 and "–" not in lines[0]
    assert (tmp_path / "b" / "figure-scaffold.png").is_file()


def test_quick_modalities_suite_reports_cost(dataset_dir, tmp_path):
    _, rows, table, fields = run_suite(dataset_dir, tmp_path / "m", "modalities")
    assert len(rows) == 4
    for r in rows:
        cost = r["cost"]
        assert cost["peak_rss_mb"] > 0 and cost["seconds_per_epoch"] > 0
        assert set(cost["bins"]) <= {"1-9", "10-12", "13-16"} and cost["bins"]
        assert len({b["molecules"] for b in cost["bins"].values()}) == 1
    header, lines = section(table, "Scaffold split: cost and test micro-F1 by number of "
                                   "modalities")
    assert header.startswith("| Model | # Mod. | Spectra | Parameters | Time per epoch")
    assert [li.split(" | ")[:2] for li in lines] == [
        ["| 1D-CNN (`cnn_concat`)", "1"], ["| 1D-CNN (`cnn_concat`)", "3"],
        ["| MSpecTmol (`pa_ib`)", "1"], ["| MSpecTmol (`pa_ib`)", "3"]]
    header, lines = section(table, "Training time by heavy-atom count (one epoch, equal "
                                   "molecules per bin)")
    assert "10-12 heavy atoms (s / 1000 mol.)" in header and len(lines) == 4
    assert "cost:peak_rss_mb" in fields and "cost:bin:10-12:seconds" in fields
    assert not list((tmp_path / "m").glob("*.png"))  # no figure in the paper


def test_model_train_changes_only_its_models_training_and_keys(tmp_path):
    suite = load_suite("table1")
    assert suite.model_train["transformer"] == {"batch_size": 32, "lr": 1e-3}
    plain = replace(suite, model_train={})
    runs = [r for r in plan_runs(suite) if r.seed == 0 and r.split == "scaffold"
            and r.configuration.primary == "ir" and not r.configuration.auxiliary]
    jobs = {j.run.model: j for j in plan_jobs(suite, make_settings(suite), tmp_path, "fp")
            if j.run in runs}
    before = {j.run.model: j for j in plan_jobs(plain, make_settings(plain), tmp_path, "fp")
              if j.run in runs}
    changed = {m for m in jobs if jobs[m].key != before[m].key}
    assert changed == {"transformer", "patch_transformer", "linear_patch_transformer"}
    assert jobs["transformer"].config.batch_size == 32 and jobs["transformer"].config.lr == 1e-3
    assert jobs["pa_ib"].config.batch_size == 128 and jobs["pa_ib"].config.epochs == suite.epochs
    # Options given on the command line apply to every model, over the suite's own.
    settings = make_settings(suite, epochs=3, overrides=["lr=5e-4"])
    config = train_config(jobs["transformer"].run, settings, tmp_path)
    assert (config.epochs, config.lr, config.batch_size) == (3, 5e-4, 32)
    # --quick keeps its tiny budget; the paper profile has no per-model training.
    quick = load_suite("table1", quick=True)
    assert all("epochs" not in t for t in quick.model_train.values())


def test_model_train_epochs_and_bad_settings(tmp_path):
    path = tmp_path / "mine.json"
    body = {"name": "mine", "configurations": [["ir"]], "models": ["logistic", "pa_ib"],
            "epochs": 7, "model_train": {"pa_ib": {"epochs": 2, "max_train": None}}}
    path.write_text(json.dumps(body))
    suite = load_suite(path)
    settings = make_settings(suite)
    configs = {r.model: train_config(r, settings, tmp_path) for r in plan_runs(suite)}
    assert configs["pa_ib"].epochs == 2 and configs["pa_ib"].max_train is None
    assert configs["logistic"].epochs == 7 and configs["logistic"].max_train == 2048
    for bad, match in (({"pa_ib": {"seed": 1}}, "seed"), ({"nope": {}}, "nope"),
                       ({"pa_ib": 3}, "object")):
        path.write_text(json.dumps({**body, "model_train": bad}))
        with pytest.raises(ConfigError, match=f"mine.json.*{match}"):
            load_suite(path)
