"""The web app runs a PA-IB model on NumPy (``engine="auto"``) and answers as the torch module
does: the same JSON document, numbers equal to float rounding."""

import math
import warnings

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # newer Starlette asks for httpx2; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

from mspectmol.web import create_app  # noqa: E402

SMILES = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture(scope="module")
def answers(aspirin):
    """``{engine: (model class name, JSON of all three spectra, JSON of IR alone)}``."""
    out = {}
    for engine in ("auto", "torch"):
        with TestClient(create_app(engine=engine)) as client:
            full = client.post("/api/predict", files=aspirin(), data={"smiles": SMILES})
            ir = client.post("/api/predict", files=aspirin("ir"))
            assert full.status_code == ir.status_code == 200, (full.text[:300], ir.text[:300])
            name = type(client.app.state.predictor.model).__name__
            out[engine] = (name, full.json(), ir.json())
    return out


def test_auto_runs_the_packaged_model_on_numpy(answers):
    assert answers["auto"][0] == "NumpyPAIB" and answers["torch"][0] == "PAIBModel"


@pytest.mark.parametrize("which", [1, 2], ids=["three spectra", "ir alone"])
def test_numpy_and_torch_answer_the_same(answers, which, same_document):
    got, want = answers["auto"][which], answers["torch"][which]
    assert want["calls"] and want["call_regions"]
    same_document(got, want)
    for a, b in zip(got["groups"], want["groups"], strict=True):
        assert math.isclose(a["probability"], b["probability"], rel_tol=1e-4, abs_tol=1e-7)
