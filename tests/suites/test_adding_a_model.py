"""A classifier added as one module plus its :data:`PLUGIN_MODULES` entry is everywhere.

The module below is all a new model needs: it registers itself with name, builder, config
class and title. Listed in ``PLUGIN_MODULES``, it becomes a model name, a titled column of
the benchmark tables and a model the benchmark harness trains (a suite file naming it is
configuration, not code).
"""

import contextlib
import io
import json
import sys
import uuid

import pytest

from mspectmol.cli.main import main
from mspectmol.models import registry
from mspectmol.models.registry import available_models, get_model_spec, unregister_model
from mspectmol.suites.cells import TableLine, model_title
from mspectmol.suites.definitions import is_role_aware
from mspectmol.suites.tables import results_table

TOY_MODULE = '''"""A linear classifier over the concatenated spectra, registered on import."""

from dataclasses import dataclass

import torch
from torch import nn

from mspectmol.models.registry import register_model


@dataclass
class ToyConfig:
    modalities: tuple = ("ir",)
    n_points: int = 600
    n_labels: int = 37


class ToyModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.modalities = tuple(config.modalities)
        self.linear = nn.Linear(len(self.modalities) * config.n_points, config.n_labels)

    def forward(self, spectra, available=None):
        return self.linear(torch.cat([spectra[m] for m in self.modalities], dim=1))


register_model("toy_linear", "neural", ToyModel, ToyConfig, title="Toy linear",
               description="a linear layer over the concatenated spectra")
'''


@pytest.fixture
def toy_model(tmp_path, monkeypatch):
    """The toy module on ``sys.path`` and in ``PLUGIN_MODULES``; the model's name.

    Each test gets a module of its own name, so the registry imports it afresh.
    """
    module = f"toy_plugin_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(TOY_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "PLUGIN_MODULES", (*registry.PLUGIN_MODULES, module))
    yield "toy_linear"
    unregister_model("toy_linear")
    sys.modules.pop(module, None)


def test_the_module_registers_a_model_name_with_its_title(toy_model):
    assert toy_model in available_models()
    spec = get_model_spec(toy_model)
    assert (spec.kind, spec.title, spec.config_cls.__name__) == ("neural", "Toy linear",
                                                                 "ToyConfig")
    assert not is_role_aware(toy_model)  # no primary field: one run per modality set


def test_tables_title_the_column_from_the_registration(toy_model):
    assert model_title(toy_model) == "Toy linear (`toy_linear`)"
    assert model_title(toy_model, {toy_model: "Renamed"}) == "Renamed (`toy_linear`)"
    rows = [{"model": toy_model, "split": "random", "modalities": "ir", "role_aware": False,
             "primary": "", "micro_f1": 0.5}]
    table = results_table(rows, [TableLine("IR", "ir", "ir")], [toy_model, "pa_ib"], "random")
    assert table.splitlines()[0] == (
        "| Spectrum config. | Toy linear (`toy_linear`) | MSpecTmol (`pa_ib`) |")


def test_every_registered_model_has_a_title():
    assert all(get_model_spec(m).title for m in available_models())
    assert model_title("not_registered") == "`not_registered`"


def test_the_benchmark_harness_trains_it(toy_model, tmp_path, random_dataset):
    data = random_dataset(tmp_path, n=60, seed=3, prefix="t")
    suite = tmp_path / "toy.json"
    suite.write_text(json.dumps({
        "name": "toy", "description": "a new model", "configurations": [["ir"]],
        "models": [toy_model, "prevalence"], "seeds": [0], "splits": ["scaffold"],
        "epochs": 1, "patience": 1, "max_train": 32}), encoding="utf-8")
    out = tmp_path / "out"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["-q", "benchmark", "--suite", str(suite), "--data", str(data),
                       "--out", str(out), "--threads", "1"])
    assert status == 0, buffer.getvalue()
    assert "toy: 2 runs planned, 0 already finished, 2 to train" in buffer.getvalue()
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))
    (toy,) = [r for r in rows if r["model"] == toy_model]
    assert toy["key"].startswith("toy__toy_linear__ir__any__scaffold__seed0__")
    assert 0.0 <= toy["micro_f1"] <= 1.0 and toy["parameters"] == 600 * 37 + 37
    table = (out / "table.md").read_text(encoding="utf-8")
    assert "| Toy linear (`toy_linear`) | Prevalence (`prevalence`) |" in table
