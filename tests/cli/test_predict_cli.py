"""``mspectmol predict`` through main(): tiny saved models and spectrum files written here."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mspectmol
from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.cli.main import main
from mspectmol.models.io import ModelMeta, grid_info, save_model
from mspectmol.models.registry import get_model_spec
from mspectmol.predict.common import DEFAULT_ROWS
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_csv, write_jcamp

N_POINTS = 120
MODS = ("ir", "h_nmr", "c_nmr")
N_CALLS = 4
EXAMPLES = Path(mspectmol.__file__).parent / "data" / "examples"


def _meta(name, config, thresholds):
    return ModelMeta(model_name=name, config=config, label_names=GROUP_NAMES,
                     modalities={m: grid_info(m, canonical_grid(m, N_POINTS)) for m in MODS},
                     primary="ir", auxiliary=("h_nmr", "c_nmr"), thresholds=thresholds,
                     temperature=1.3)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    spec = get_model_spec("pa_ib")
    config = spec.make_config({"channels": [4, 8], "gate_hidden": 4, "head_hidden": 8},
                              primary="ir", auxiliary=("h_nmr", "c_nmr"), n_points=N_POINTS,
                              n_labels=len(GROUP_NAMES))
    torch.manual_seed(0)
    # untrained: probabilities near 0.5, so thresholds 0.01 / 0.99 make exactly N_CALLS calls
    thresholds = [0.01] * N_CALLS + [0.99] * (len(GROUP_NAMES) - N_CALLS)
    save_model(root / "run" / "model", spec.build(config).eval(),
               _meta("pa_ib", config, thresholds))
    prev = get_model_spec("prevalence")
    pconfig = prev.make_config({}, primary="ir", auxiliary=("h_nmr", "c_nmr"),
                               n_points=N_POINTS, n_labels=len(GROUP_NAMES))
    labels = np.zeros((4, len(GROUP_NAMES)))
    labels[:3, GROUP_NAMES.index("Ketone")] = 1
    x = {m: np.random.default_rng(0).random((4, N_POINTS)) for m in MODS}
    save_model(root / "prevalence", prev.build(pconfig).fit(x, labels),
               _meta("prevalence", pconfig, None))
    return {"run": root / "run", "prevalence": root / "prevalence"}


def _ir(path, centre=1715.0):
    wn = np.arange(3990.0, 410.0, -4.0)
    absorb = 0.05 + 0.1 * (wn - 400) / 3600 + 0.9 / (1 + ((wn - centre) / 12.0) ** 2)
    return write_jcamp(path, Spectrum(wn, 100 * 10.0 ** -absorb, "ir", "1/cm", "%T",
                                      {"title": "sample"}))


def _h(path, solvent="CDCl3"):
    ppm = np.linspace(-1.0, 10.0, 2201)
    y = sum(h / (1 + ((ppm - c) / 0.01) ** 2) for c, h in ((2.1, 1.0), (7.26, 2.0)))
    p = write_jcamp(path, Spectrum(ppm, y, "h_nmr", "ppm", "arbitrary", {"title": "h"}))
    if solvent:
        p.write_text(p.read_text().replace("##ORIGIN=", f"##.SOLVENT NAME={solvent}\n##ORIGIN="))
    return p


def _c(path):
    ppm = np.linspace(-10.0, 220.0, 2301)
    y = sum(1 / (1 + ((ppm - c) / 0.5) ** 2) for c in (206.0, 30.0, 77.16))
    return write_csv(path, ppm, y, "c_nmr")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("spectra")
    return {"ir": _ir(root / "s1_ir.jdx"), "h_nmr": _h(root / "s1_h_nmr.jdx"),
            "c_nmr": _c(root / "s1_c_nmr.csv")}


def _single(files):
    return ["--ir", str(files["ir"]), "--h-nmr", str(files["h_nmr"]), "--c-nmr",
            str(files["c_nmr"])]


def test_single_sample_prints_table_and_writes_json_and_html(models, files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(models["run"]), *_single(files), "--smiles", "CC(C)=O",
                 "-o", str(out), "--no-progress", "--regions", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("sample s1: model pa_ib")
    lines = text.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.strip().startswith("group"))
    table = [ln for ln in lines[head + 1:] if ln.rstrip().endswith(("yes", "-"))]
    doc = json.loads((out / "s1.json").read_text())     # every group, by probability
    last_call = max(i for i, g in enumerate(doc["groups"]) if g["call"])
    shown = max(DEFAULT_ROWS, last_call + 1)    # default: 10 rows or down to the last call
    assert len(table) == shown < len(GROUP_NAMES)
    probs = [float(row.split()[-3]) for row in table]
    assert probs == sorted(probs, reverse=True)
    assert sum(row.endswith("yes") for row in table) == N_CALLS
    assert f"{len(GROUP_NAMES) - shown} less probable groups not listed" in lines[head + 1 + shown]
    regions = text.split("spectral regions behind each call")[1]
    assert regions.count("      IR: ") == N_CALLS and regions.count("      13C NMR: ") == N_CALLS
    assert sorted(p.name for p in out.iterdir()) == ["s1.html", "s1.json"]
    assert doc["spectra_used"] == list(MODS) and len(doc["calls"]) == N_CALLS
    h_steps = doc["spectra"]["h_nmr"]["preprocessing"]
    assert "from the file metadata" in h_steps[0]
    assert any(s.startswith("solvent peaks removed (CDCl3") for s in h_steps)
    ir_steps = doc["spectra"]["ir"]["preprocessing"]
    assert ir_steps[0] == "y: %T -> absorbance" and any("baseline: ALS" in s for s in ir_steps)
    html = (out / "s1.html").read_text()
    assert html.count('src="data:image/png;base64,') == 1 and "CC(C)=O" in html  # molecule
    assert html.count('<svg class="spectra"') == 1 and html.count('<g class="panel"') == 3


@pytest.mark.parametrize(("top", "rows"), [("3", 3), ("all", len(GROUP_NAMES)),
                                           ("0", len(GROUP_NAMES))])
def test_top_sets_the_rows_of_the_table_not_the_json(models, files, tmp_path, capsys, top,
                                                     rows):
    out = tmp_path / "out"
    assert main(["predict", str(models["run"]), *_single(files), "-o", str(out),
                 "--no-progress", "--top", top, "--format", "table", "--format", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.strip().startswith("group"))
    table = [ln for ln in lines[head + 1:] if ln.rstrip().endswith(("yes", "-"))]
    assert len(table) == rows
    assert any("not listed" in ln for ln in lines) == (rows < len(GROUP_NAMES))
    doc = json.loads((out / "s1.json").read_text())
    assert len(doc["groups"]) == len(GROUP_NAMES)


def test_top_refuses_other_values(models, files, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(models["run"]), *_single(files), "--top", "-2"])
    assert "expected a positive number or 'all'" in capsys.readouterr().err


def _manifest(tmp_path, files, extra_rows=()):
    """Three samples; s3 lacks its 13C spectrum; paths relative to the manifest."""
    root = files["ir"].parent
    path = root / f"manifest_{tmp_path.name}.csv"
    rows = ["sample,ir,h_nmr,c_nmr,smiles,solvent",
            f"s1,{files['ir'].name},{files['h_nmr'].name},{files['c_nmr'].name},CC(C)=O,",
            f"s2,{files['ir']},{files['h_nmr'].name},{files['c_nmr'].name},,DMSO-d6",
            f"s3,{files['ir'].name},{files['h_nmr'].name},,,", *extra_rows]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_manifest_of_three_samples_one_missing_an_auxiliary(models, files, tmp_path, capsys):
    out = tmp_path / "out"
    manifest = _manifest(tmp_path, files)
    assert main(["predict", str(models["run"]), "--manifest", str(manifest), "-o", str(out),
                 "--format", "json", "--no-progress", "--batch-size", "2"]) == 0
    text = capsys.readouterr().out
    assert "group" not in text and "3 sample(s) predicted" in text   # no table asked for
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["sample"] for r in rows] == ["s1", "s2", "s3"]
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert rows[2]["missing"] == "c_nmr" and rows[2]["used"] == "ir;h_nmr"
    s3 = json.loads((out / "s3.json").read_text())
    assert s3["spectra_missing"] == ["c_nmr"] and not s3["spectra"]["c_nmr"]["used"]
    s2 = json.loads((out / "s2.json").read_text())
    assert s2["spectra"]["h_nmr"]["solvent"] == "DMSO-d6"          # the column wins
    assert json.loads((out / "s1.json").read_text())["smiles"] == "CC(C)=O"
    assert not list(out.glob("*.html"))


def test_folder_mode(models, files, tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    _ir(folder / "a_ir.jdx")
    _h(folder / "a_h_nmr.jdx", solvent=None)
    _ir(folder / "b_ir.jdx", centre=2250.0)
    _c(folder / "b_c_nmr.csv")
    (folder / "notes.txt").write_text("not a spectrum")
    out = tmp_path / "out"
    assert main(["predict", str(models["run"]), "--folder", str(folder), "-o", str(out),
                 "--format", "json", "--format", "table", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "sample a: " in text and "sample b: " in text
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["sample"], r["missing"]) for r in rows] == [("a", "c_nmr"), ("b", "h_nmr")]
    assert sorted(p.name for p in out.glob("*.json")) == ["a.json", "b.json"]


def test_bad_file_in_a_manifest_is_named_and_the_rest_predicted(models, files, tmp_path,
                                                                capsys):
    broken = files["ir"].parent / "broken_ir.jdx"
    broken.write_text("##TITLE=x\n##JCAMP-DX=4.24\n##XYDATA=(X++(Y..Y))\n1 2\n")
    manifest = _manifest(tmp_path, files, [f"s4,{broken.name},,,,"])
    out = tmp_path / "out"
    assert main(["predict", str(models["run"]), "--manifest", str(manifest), "-o", str(out),
                 "--format", "json", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "broken_ir.jdx" in err and "1 of 4 samples could not be predicted" in err
    assert "Traceback" not in err
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error"]
    assert "broken_ir.jdx" in rows[3]["error"]
    assert sorted(p.name for p in out.glob("*.json")) == ["s1.json", "s2.json", "s3.json"]


@pytest.mark.parametrize("argv, message", [
    (["--ir", "{tmp}/broken.jdx"], "broken.jdx"),
    (["--h-nmr", "{h_nmr}"], "needs its primary ir spectrum"),
    (["--ir", "{tmp}/nowhere.jdx"], "nowhere.jdx"),
    ([], "give one sample's files"),
    (["--ir", "{ir}", "--folder", "{tmp}"], "only one of them"),
    (["--ir", "{ir}", "--solvent", "xylene"], "unknown NMR solvent 'xylene'"),
    (["--ir", "{ir}", "--smiles", "C1CC"], "C1CC"),
    (["--manifest", "{tmp}/bad.csv"], "bad.csv: unknown column(s) 'colour'"),
    (["--folder", "{tmp}/nothing"], "folder not found"),
])
def test_bad_requests_and_bad_files_give_clear_errors(models, files, tmp_path, capsys, argv,
                                                      message):
    (tmp_path / "broken.jdx").write_text("##TITLE=x\n##JCAMP-DX=4.24\n##XYDATA=(X++(Y..Y))\n")
    (tmp_path / "bad.csv").write_text(f"sample,ir,colour\na,{files['ir']},red\n")
    args = [a.format(tmp=tmp_path, **files) for a in argv]
    assert main(["predict", str(models["run"]), *args, "-o", str(tmp_path / "o"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_shipped_examples(models, tmp_path, capsys):
    smiles = dict(line.split()[::-1] for line in
                  (EXAMPLES / "molecules.smi").read_text().splitlines() if line.strip())
    out = tmp_path / "out"
    assert main(["predict", str(models["run"]), "--ir", str(EXAMPLES / "aspirin_ir.jdx"),
                 "--h-nmr", str(EXAMPLES / "aspirin_h_nmr.jdx"), "--c-nmr",
                 str(EXAMPLES / "aspirin_c_nmr.csv"), "--smiles", smiles["aspirin"],
                 "-o", str(out), "--format", "html", "--no-progress"]) == 0
    html = (out / "aspirin.html").read_text()
    assert html.count("data:image/png;base64,") == 1 and "aspirin_h_nmr.jdx" in html
    assert '<svg class="spectra"' in html and '<polyline class="spectrum"' in html
    assert "x: Hz -&gt; ppm" in html and "y: %T -&gt; absorbance" in html


def test_classical_model_gives_probabilities_without_regions(models, files, tmp_path, capsys):
    assert main(["predict", str(models["prevalence"]), "--ir", str(files["ir"]),
                 "-o", str(tmp_path), "--format", "table", "--no-progress"]) == 0
    text = capsys.readouterr().out
    ketone = next(ln for ln in text.splitlines() if ln.strip().startswith("Ketone "))
    calibrated = 1 / (1 + (1 / 0.75 - 1) ** (1 / 1.3))   # prevalence 3/4 at temperature 1.3
    assert ketone.split()[1:] == [f"{calibrated:.3f}", "0.500", "yes"]
    assert "a classical model: no spectral regions" in text and "missing: h_nmr, c_nmr" in text


ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
ASPIRIN_MGF = ("BEGIN IONS\nTITLE=aspirin\nPEPMASS=181.0495\nCHARGE=1+\n93.0335 12\n"
               "121.0284 100\n139.0390 45\n150.0 5\n163.0390 30\n181.0495 20\nEND IONS\n")


def _mgf(path):
    path.write_text(ASPIRIN_MGF)
    return path


def test_ms_file_adds_formulas_and_explained_peaks_to_every_report(models, files, tmp_path,
                                                                   capsys):
    out = tmp_path / "out"
    mgf = _mgf(tmp_path / "s1_ms.mgf")
    assert main(["predict", str(models["run"]), *_single(files), "--ms", str(mgf),
                 "--smiles", ASPIRIN, "-o", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "ignoring --ms" not in captured.err          # used, not ignored
    text = captured.out
    assert f"  mass spectrum {mgf}: ion m/z 181.04950 ([M+H]+" in text
    assert "assumed [M+H]+ (set it with --ms-adduct)" in text
    rank1 = next(ln for ln in text.splitlines() if ln.split()[:2] == ["1", "C9H8O4"])
    assert rank1.startswith("         1  C9H8O4")
    assert "peaks explained by CC(=O)Oc1ccccc1C(=O)O (C9H8O4, rank 1 of the formulas)" in text
    explained = {ln.split()[0]: ln.split()[2] for ln in text.splitlines()
                 if re.match(r"\s+\d+\.\d{4}\s+\d", ln)}
    assert explained == {"163.0390": "C9H7O3+", "150.0000": "unexplained",
                         "139.0390": "C7H7O3+", "121.0284": "C7H5O2+", "93.0335": "C6H5O+"}
    doc = json.loads((out / "s1.json").read_text())
    assert doc["status"] == "predicted" and len(doc["calls"]) == N_CALLS
    assert "ms" not in doc["ignored_files"]
    assert doc["formulas"]["candidates"][0]["formula"] == "C9H8O4"
    assert set(doc["formulas"]) == {"source", "ion_mz", "adduct", "ppm", "ion", "nominal_mass",
                                    "isotopes", "notes", "candidates"}
    peaks = doc["explained_peaks"]
    assert peaks["structure_formula_rank"] == 1 and peaks["explained_peaks"] == 4
    assert {p["formula"] for p in peaks["peaks"] if p["status"] == "explained"} == {
        "C9H7O3+", "C7H7O3+", "C7H5O2+", "C6H5O+"}
    html = (out / "s1.html").read_text()
    assert "<h2>Molecular formula from the mass spectrum</h2>" in html
    assert '<svg class="ms-peaks"' in html and '<table class="explained">' in html
    assert "not a model input: read for the molecular formula" in html


def test_ms_without_smiles_gives_formulas_only_and_options_apply(models, files, tmp_path,
                                                                 capsys):
    out = tmp_path / "out"
    mgf = _mgf(tmp_path / "s1_ms.mgf")
    assert main(["predict", str(models["run"]), "--ir", str(files["ir"]), "--ms", str(mgf),
                 "--ms-adduct", "M+H", "--ms-ppm", "20", "--ms-elements", "CHNO",
                 "-o", str(out), "--no-progress", "--format", "json"]) == 0
    doc = json.loads((out / "s1.json").read_text())
    assert doc["explained_peaks"] is None and doc["formulas"]["notes"] == []
    assert doc["formulas"]["ppm"] == 20.0
    found = {c["formula"] for c in doc["formulas"]["candidates"]}
    assert "C9H8O4" in found and all(set(re.findall(r"[A-Z][a-z]?", f)) <= set("CHNO")
                                     for f in found)


def test_ms_file_alone_gives_the_formulas_and_says_why_no_groups(models, tmp_path, capsys):
    out = tmp_path / "out"
    mgf = _mgf(tmp_path / "aspirin_ms.mgf")
    assert main(["predict", str(models["run"]), "--ms", str(mgf), "--smiles", ASPIRIN,
                 "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("sample aspirin: model pa_ib")
    assert lines[1] == ("  functional groups not predicted: the model needs its primary IR "
                        "spectrum and was not trained without it; the mass spectrum gives "
                        "the molecular formula only")
    assert "peaks explained by" in text and "threshold" not in text   # no group table
    assert "1 with molecular formulas only: no ir spectrum" in text
    doc = json.loads((out / "aspirin.json").read_text())
    assert doc["status"] == "formulas only" and doc["groups"] == [] and doc["calls"] == []
    assert "needs its primary IR spectrum" in doc["not_predicted"]
    assert doc["formulas"]["candidates"][0]["formula"] == "C9H8O4"
    assert doc["explained_peaks"]["explained_share"] > 0.8
    html = (out / "aspirin.html").read_text()
    assert "Functional groups not predicted" in html and "data:image/png" not in html


def test_manifest_and_folder_with_mass_spectra(models, files, tmp_path, capsys):
    mgf = _mgf(tmp_path / "a_ms.mgf")
    manifest = tmp_path / "samples.csv"
    manifest.write_text("sample,ir,ms,smiles\n"
                        f"a,{files['ir']},{mgf.name},{ASPIRIN}\n"
                        f"b,,{mgf.name},\n"
                        f"c,{files['ir']},,\n")
    out = tmp_path / "out"
    assert main(["predict", str(models["run"]), "--manifest", str(manifest), "-o", str(out),
                 "--format", "json", "--no-progress"]) == 0
    rows = {r["sample"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert [rows[s]["status"] for s in "abc"] == ["ok", "formulas only", "ok"]
    assert [rows[s]["best_formula"] for s in "abc"] == ["C9H8O4", "C9H8O4", ""]
    assert "needs its primary IR spectrum" in rows["b"]["error"]
    assert json.loads((out / "a.json").read_text())["explained_peaks"]["explained_peaks"] == 4
    assert json.loads((out / "c.json").read_text())["formulas"] is None
    folder = tmp_path / "folder"
    folder.mkdir()
    _mgf(folder / "x_ms.mgf")
    _ir(folder / "y_ir.jdx")
    assert main(["predict", str(models["run"]), "--folder", str(folder), "-o", str(out),
                 "--format", "json", "--no-progress"]) == 0
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["sample"], r["status"], r["best_formula"]) for r in rows] == [
        ("x", "formulas only", "C9H8O4"), ("y", "ok", "")]


def test_mass_spectrum_errors_are_one_line(models, files, tmp_path, capsys):
    mgf = _mgf(tmp_path / "s1_ms.mgf")
    broken = tmp_path / "broken_ms.mgf"
    broken.write_text("BEGIN IONS\nTITLE=x\nEND IONS\n")
    for argv, message in [(["--ms", str(broken)], "broken_ms.mgf"),
                          (["--ms", str(mgf), "--ms-adduct", "[M+Xe]+"], "unknown adduct"),
                          (["--ms", str(mgf), "--ms-ppm", "0"], "--ms-ppm and --fragment-ppm"),
                          (["--ms", str(mgf), "--ms-elements", "CHXx"],
                           "--ms-elements: unsupported element 'Xx'"),
                          (["--ms", str(mgf), "--ir", str(files["ir"]), "--smiles", "C1CC"],
                           "C1CC")]:
        assert main(["predict", str(models["run"]), *argv, "-o", str(tmp_path / "o"),
                     "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert main(["predict", str(models["run"]), "--ir", str(files["ir"]), "--ms-adduct", "M+H",
                 "-o", str(tmp_path / "o"), "--no-progress", "--format", "json"]) == 0
    assert "--ms-adduct: no sample has a mass spectrum" in capsys.readouterr().err


def _modules(argv):
    code = (f"from mspectmol.cli.main import main\nassert main({argv!r}) == 0\n"
            "import sys\nprint('\\n'.join(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_mass_code_loads_only_with_a_mass_spectrum(models, files, tmp_path):
    """pyteomics (and with it pandas) only for a mass spectrum; never matplotlib for JSON."""
    base = ["predict", str(models["run"]), "--ir", str(files["ir"]), "--format", "json",
            "--no-progress", "-o", str(tmp_path / "o")]
    without = _modules(base)
    assert "pyteomics" not in without and "mspectmol.predict.mass" not in without
    mgf = _mgf(tmp_path / "s1_ms.mgf")
    with_ms = _modules([*base, "--ms", str(mgf), "--smiles", ASPIRIN])
    assert "mspectmol.predict.mass" in with_ms and "matplotlib" not in with_ms
