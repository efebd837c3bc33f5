"""Weights files are size-checked before they are read; ``predict --hash`` prints hashes."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.cli.main import main
from mspectmol.conformers.io import PRETRAINED_DIR as CONFORMER_DIR
from mspectmol.conformers.io import load_conformer_model
from mspectmol.errors import ModelFileError
from mspectmol.models.integrity import check_weights_file
from mspectmol.models.io import ModelMeta, grid_info, load_model, save_model
from mspectmol.models.modelfile import model_paths
from mspectmol.models.registry import get_model_spec
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.structure.model.io import load_structure_model
from mspectmol.structure.pretrained import PRETRAINED_DIR as STRUCTURE_DIR

SPARSE = 3 * 1024**3  # 3 GB on paper, nothing on disk


@pytest.fixture
def model_dir(tmp_path):
    spec = get_model_spec("pa_ib")
    mods = ("ir", "h_nmr", "c_nmr")
    config = spec.make_config({"channels": [4, 8], "gate_hidden": 4, "head_hidden": 8},
                              primary="ir", auxiliary=("h_nmr", "c_nmr"), n_points=64,
                              n_labels=len(GROUP_NAMES))
    torch.manual_seed(0)
    save_model(tmp_path / "m", spec.build(config).eval(), ModelMeta(
        model_name="pa_ib", config=config, label_names=GROUP_NAMES, primary="ir",
        auxiliary=("h_nmr", "c_nmr"),
        modalities={m: grid_info(m, canonical_grid(m, 64)) for m in mods}))
    return tmp_path / "m"


@pytest.fixture
def no_reading(monkeypatch):
    """Fail the test if a weights file is read whole."""
    def refuse(self):
        raise AssertionError(f"{self} read before its size was checked")

    monkeypatch.setattr(Path, "read_bytes", refuse)


def _sparse(path):
    with path.open("r+b") as fh:
        fh.truncate(SPARSE)


def test_sparse_weights_are_refused_before_reading(model_dir, no_reading):
    weights, meta_path = model_paths(model_dir)
    size = weights.stat().st_size
    _sparse(weights)
    with pytest.raises(ModelFileError, match=f"truncated or altered file: {SPARSE} bytes, the "
                                             f"model description expects {size}"):
        load_model(model_dir)
    doc = json.loads(meta_path.read_text())
    doc["content_size"] = SPARSE  # a description edited to match
    meta_path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=r"3,221,225,472 bytes, more than the "
                                             r"2,147,483,648 .* refused without reading it"):
        load_model(model_dir)


@pytest.mark.parametrize("load, folder", [(load_conformer_model, CONFORMER_DIR),
                                          (load_structure_model, STRUCTURE_DIR / "default")])
def test_other_model_loaders_check_the_size_first(tmp_path, load, folder, no_reading):
    copy = shutil.copytree(folder, tmp_path / "model")
    _sparse(copy / "model.safetensors")
    with pytest.raises(ModelFileError, match=f"truncated or altered file: {SPARSE} bytes"):
        load(copy)


def test_the_header_must_describe_the_file(model_dir, tmp_path):
    weights, _ = model_paths(model_dir)
    data = weights.read_bytes()
    check_weights_file(weights, len(data))
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(data + b"\0" * 16)
    with pytest.raises(ModelFileError, match=f"header declares {len(data)} bytes, the file "
                                             f"has {len(data) + 16}"):
        check_weights_file(padded)
    for junk, problem in ((b"\xff" * 64, "header length"), (b"{}", "header length"),
                          ((20).to_bytes(8, "little") + b"not json at all!!!!!", "unreadable")):
        padded.write_bytes(junk)
        with pytest.raises(ModelFileError, match=f"padded.safetensors: not a safetensors file "
                                                 f".*{problem}"):
            check_weights_file(padded)


def test_predict_hash_prints_sha256sum_lines(model_dir, capsys):
    assert main(["predict", str(model_dir), "--hash"]) == 0
    lines = capsys.readouterr().out.splitlines()
    weights, meta_path = model_paths(model_dir)
    assert lines == [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p}"
                     for p in (weights, meta_path)]
    recorded = json.loads(meta_path.read_text())["content_hash"]
    assert lines[0].split()[0] == recorded
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert main(["predict", str(model_dir), "--hash"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{weights}: content hash mismatch" in err[0]
