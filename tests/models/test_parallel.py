"""Whole batches on threads for CPU inference (mspectmol.models.parallel)."""

import threading

import numpy as np
import pytest
import torch

from mspectmol.data.batches import SplitData
from mspectmol.errors import ConfigError
from mspectmol.models.inference import predict_logits
from mspectmol.models.pa_ib import PAIBConfig, PAIBModel
from mspectmol.models.parallel import batch_workers, map_batches


def test_map_batches_keeps_order_and_restores_the_thread_count():
    before = torch.get_num_threads()
    seen = []

    def fn(i):
        seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled(),
                     threading.current_thread().name))
        return i * i

    assert map_batches(fn, 7, workers=2) == [i * i for i in range(7)]
    assert torch.get_num_threads() == before
    assert all(threads == 1 and inference for threads, inference, _ in seen)
    assert all(name.startswith("mspectmol-batch") for _, _, name in seen)


def test_map_batches_with_one_worker_runs_on_the_callers_thread():
    names = map_batches(lambda i: threading.current_thread().name, 3, workers=1)
    assert names == [threading.current_thread().name] * 3
    assert map_batches(lambda i: i, 0, workers=2) == []


def test_map_batches_passes_errors_on_and_restores_threads():
    before = torch.get_num_threads()

    def fn(i):
        if i == 2:
            raise ValueError("bad batch")
        return i

    with pytest.raises(ValueError, match="bad batch"):
        map_batches(fn, 4, workers=2)
    assert torch.get_num_threads() == before


def test_batch_workers():
    assert batch_workers(3, 10) == 3
    assert batch_workers(4, 2) == 2  # never more threads than batches
    assert batch_workers(None, 10) == min(torch.get_num_threads(), 10)
    assert batch_workers(4, 10, "meta") == 1  # not the CPU
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert batch_workers(4, 10) == 1  # a new thread would not inherit autocast
    with pytest.raises(ConfigError, match="workers"):
        batch_workers(0, 3)
    with pytest.raises(ConfigError, match="workers"):
        map_batches(lambda i: i, 3, workers=0)


def test_predict_logits_same_on_threads_as_one_after_the_other():
    torch.manual_seed(0)
    model = PAIBModel(PAIBConfig(n_points=64, channels=(4, 8), kernel_size=5, gate_hidden=8,
                                 head_hidden=16, n_labels=5, auxiliary=("h_nmr",)))
    model.train()
    rng = np.random.default_rng(0)
    n = 45
    spectra = {m: rng.random((n, 64), dtype=np.float32) for m in ("ir", "h_nmr")}
    avail = {"ir": np.ones(n, bool), "h_nmr": rng.random(n) < 0.6}
    data = SplitData(np.arange(n), np.zeros((n, 5), np.float32), spectra, avail)
    one = predict_logits(model, data, batch_size=8, workers=1)
    many = predict_logits(model, data, batch_size=8, workers=3)
    assert one.shape == (n, 5)
    np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-6)
    assert model.training  # switched back after the prediction
    with pytest.raises(ConfigError, match="batch_size"):
        predict_logits(model, data, batch_size=0)
