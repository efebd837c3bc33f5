"""One model-file format for every kind, one packaged-model lookup, version-1 files read."""

import hashlib
import json
import re
import shutil

import pytest
import torch

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.cli.main import main
from mspectmol.conformers.io import load_conformer_model, save_conformer_model
from mspectmol.conformers.model import ConformerConfig, ConformerDenoiser
from mspectmol.errors import ConfigError, ModelFileError
from mspectmol.models.io import ModelMeta, grid_info, load_model, save_model
from mspectmol.models.modelfile import (
    FORMAT_NAME,
    FORMAT_VERSION,
    model_kind,
    model_paths,
    read_document,
    write_model,
)
from mspectmol.models.packaged import (
    PACKAGED_DIRS,
    find_packaged,
    packaged_models,
    resolve_model,
)
from mspectmol.models.registry import get_model_spec
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.structure.model.decoder import StructureConfig, StructureDecoder
from mspectmol.structure.model.io import load_structure_model, save_structure_model
from mspectmol.structure.model.tokens import Vocabulary

#: Every packaged model: (kind, name).
PACKAGED = [(k, n) for k in PACKAGED_DIRS for n in packaged_models(k)]
LOADERS = {"classifier": load_model, "structure": load_structure_model,
           "conformers": load_conformer_model}


def _classifier(folder):
    spec = get_model_spec("pa_ib")
    mods = ("ir", "h_nmr", "c_nmr")
    config = spec.make_config({"channels": [4, 8], "gate_hidden": 4, "head_hidden": 8},
                              primary="ir", auxiliary=("h_nmr", "c_nmr"), n_points=64,
                              n_labels=len(GROUP_NAMES))
    torch.manual_seed(0)
    save_model(folder, spec.build(config).eval(), ModelMeta(
        model_name="pa_ib", config=config, label_names=GROUP_NAMES, primary="ir",
        auxiliary=("h_nmr", "c_nmr"),
        modalities={m: grid_info(m, canonical_grid(m, 64)) for m in mods}))
    return folder


def _structure(folder):
    vocab = Vocabulary.build(["CCO", "CC=O"])
    config = StructureConfig(vocab_size=len(vocab), n_features=5, n_modalities=2, n_tokens=1,
                             d_model=16, n_heads=2, n_encoder_layers=0, n_decoder_layers=1,
                             ff_dim=32, dropout=0.0, max_len=24)
    save_structure_model(folder, StructureDecoder(config), vocab, ["ir", "raman"],
                         training={"note": "test"})
    return folder


def _conformers(folder):
    config = ConformerConfig(spectrum_encoder="pa_ib", primary="ir", auxiliary=(),
                             n_points=64, channels=(4, 8), gate_hidden=8, spec_hidden=16,
                             hidden=32, n_global_layers=2, n_local_layers=2, n_gaussians=16,
                             n_steps=20, refine_t_start=3)
    save_conformer_model(folder, ConformerDenoiser(config))
    return folder


MAKERS = {"classifier": _classifier, "structure": _structure, "conformers": _conformers}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    return {kind: make(root / kind) for kind, make in MAKERS.items()}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_every_kind_is_written_in_the_one_format(saved, kind):
    weights, meta_path = model_paths(saved[kind])
    doc = json.loads(meta_path.read_text())
    assert (doc["format"], doc["format_version"], doc["kind"]) == (FORMAT_NAME,
                                                                    FORMAT_VERSION, kind)
    assert doc["content_hash"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert doc["content_size"] == weights.stat().st_size
    assert {"mspectmol", "torch", "safetensors"} <= set(doc["versions"]) and doc["created"]
    assert model_kind(saved[kind]) == kind
    LOADERS[kind](saved[kind])


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("other", list(MAKERS))
def test_a_model_of_another_kind_is_refused_naming_the_file_and_its_kind(saved, kind, other):
    if kind == other:
        return
    meta_path = model_paths(saved[other])[1]
    with pytest.raises(ModelFileError) as info:
        LOADERS[kind](saved[other])
    message = str(info.value)
    assert message.startswith(f"{meta_path}: a ") and f"(kind {other!r})" in message
    assert "\n" not in message


def test_a_command_given_a_model_of_another_kind_prints_one_line(saved, capsys):
    assert main(["predict", str(saved["structure"]), "--ir", "x.jdx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"{model_paths(saved['structure'])[1]}: a structure model (kind 'structure'), " \
           "not a classifier model" in err[0]


@pytest.mark.parametrize("kind, name", PACKAGED)
def test_packaged_models_load_as_written_with_their_weights_unchanged(kind, name):
    folder = find_packaged(kind, name)
    doc = read_document(folder, kind)
    assert doc.kind == kind and doc.format_version in (1, FORMAT_VERSION)
    digest = hashlib.sha256(doc.weights_path.read_bytes()).hexdigest()
    assert digest == doc.content_hash
    card = folder / "MODEL_CARD.md"
    if card.is_file() and "`model.safetensors`: `" in card.read_text():
        published = re.search(r"`model\.safetensors`: `([0-9a-f]{64})`", card.read_text())
        assert published.group(1) == digest
    LOADERS[kind](folder)


def test_version_1_classifier_files_keep_their_family(saved, tmp_path):
    folder = shutil.copytree(saved["classifier"], tmp_path / "v1")
    meta_path = model_paths(folder)[1]
    doc = json.loads(meta_path.read_text())
    family = doc.pop("family")
    doc.update(format_version=1, kind=family)
    meta_path.write_text(json.dumps(doc))
    _, meta = load_model(folder)
    assert meta.family == "neural" and read_document(folder).format_version == 1


@pytest.mark.parametrize("edit, message", [
    ({"kind": "spectrometer"}, "unknown model kind 'spectrometer'"),
    ({"format": "mspectmol-structure-model", "format_version": 2},
     "unsupported format version 2"),
    ({"content_size": -1}, "content_size must be a byte count"),
])
def test_bad_envelopes_are_refused(saved, tmp_path, edit, message):
    folder = shutil.copytree(saved["structure"], tmp_path / "bad")
    meta_path = model_paths(folder)[1]
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), **edit}))
    with pytest.raises(ModelFileError, match=message):
        read_document(folder)


def test_the_format_writes_its_own_fields(tmp_path):
    with pytest.raises(ConfigError, match="content_hash are written by the file format"):
        write_model(tmp_path, "structure", b"", {"content_hash": "x"})
    with pytest.raises(ConfigError, match="unknown model kind"):
        write_model(tmp_path, "spectrometer", b"", {})


def test_lookup_by_kind_and_name(saved, tmp_path, monkeypatch):
    assert resolve_model(None, "conformers") == PACKAGED_DIRS["conformers"]
    assert resolve_model("default", "conformers") == PACKAGED_DIRS["conformers"]
    if "prior" in packaged_models("structure"):
        assert resolve_model("prior", "structure") == PACKAGED_DIRS["structure"] / "prior"
    with pytest.raises(ModelFileError, match="no packaged structure model named 'nope'"):
        find_packaged("structure", "nope")
    with pytest.raises(ConfigError, match="unknown model kind"):
        resolve_model(None, "spectrometer")
    run = tmp_path / "run"
    shutil.copytree(saved["conformers"], run / "model")
    assert resolve_model(run, "conformers") == run / "model"
    monkeypatch.chdir(tmp_path)
    assert resolve_model("run", "conformers").resolve() == run / "model"
