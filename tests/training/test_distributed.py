"""Distributed data-parallel training: shards of each batch, and 2-process gloo runs on the CPU.

The 2-process test starts its processes with :func:`mspectmol.training.distributed.launch`
(torch.multiprocessing spawn, rendezvous on a free port), the code path of
``mspectmol train --devices 2``, and takes about 35 s on a busy 2-core machine.
"""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mspectmol.cli.main import main
from mspectmol.data.batches import augment_rng, iterate_batches, make_split, shard_positions
from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.checkpoint import Checkpointer
from mspectmol.spectra.augmentation import Augmenter
from mspectmol.training import distributed
from mspectmol.training.config import TrainConfig
from mspectmol.training.pipeline import run_training

SMALL = {"channels": [4, 8], "head_hidden": 16, "gate_hidden": 4}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, random_dataset):
    return random_dataset(tmp_path_factory.mktemp("dataset"), n=120, seed=1, prefix="d")


def _config(dataset_dir, out, **kw):
    base = {"model": "pa_ib", "model_config": SMALL, "split": "random", "epochs": 2,
            "batch_size": 16, "max_train": 48, "threads": 1, "progress": False,
            "data": str(dataset_dir), "out": str(out), "devices": 2}
    return TrainConfig(**{**base, **kw})


def _split(n=11):
    rng = np.random.default_rng(0)
    x = rng.random((n, 32)).astype(np.float32)
    return make_split([f"m{i}" for i in range(n)], (rng.random((n, 3)) < 0.5).astype(int),
                      {"ir": x, "h_nmr": x[::-1].copy()})


def test_ranks_share_each_global_batch_with_weights_for_the_global_mean():
    rows, weight = shard_positions(5, 1, 2)
    assert rows.tolist() == [1, 3] and weight == pytest.approx(0.8)
    assert shard_positions(5, 0, 2)[0].tolist() == [0, 2, 4]
    assert shard_positions(1, 1, 2)[1] == 0.0  # a filler row that counts for 0
    data, order = _split(), np.random.default_rng(1).permutation(11)
    aug = Augmenter("shift+noise")
    single = list(iterate_batches(data, 4, order=order, augmenter=aug, rng=augment_rng(0, 1)))
    shards = [list(iterate_batches(data, 4, order=order, augmenter=aug, rng=augment_rng(0, 1),
                                   rank=r, world_size=3)) for r in range(3)]
    assert all(len(s) == len(single) == 3 for s in shards)  # the same steps on every rank
    for step, whole in enumerate(single):
        parts = [s[step] for s in shards]
        counted = [p for p in parts if p.weight > 0]
        assert sum(p.n_rows for p in parts) == len(whole)
        assert sum(p.weight for p in parts) == pytest.approx(3)  # DDP divides by 3
        for r, part in enumerate(counted):  # rows r::3 of the batch, augmented as one batch
            for m in ("ir", "h_nmr"):
                assert torch.equal(part.spectra[m], whole.spectra[m][r::3])
            assert torch.equal(part.labels, whole.labels[r::3])
    assert [p.weight for p in (s[2] for s in shards)] == [1.0, 1.0, 1.0]  # 3 rows, 3 ranks
    with pytest.raises(ConfigError, match="rank"):
        next(iterate_batches(data, 4, rank=2, world_size=2))


def test_outside_a_process_group_the_helpers_are_plain():
    assert not distributed.is_active() and distributed.world_size() == 1
    assert distributed.rank() == 0 and distributed.is_main()
    assert distributed.sum_values({"a": 1.5}) == {"a": 1.5}
    assert distributed.broadcast_object([1]) == [1]
    out = distributed.gather_rows(lambda rows: np.ones((rows.size, 2)) * rows[:, None], 3, 2)
    assert out.tolist() == [[0, 0], [1, 1], [2, 2]]
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, torch.device("cpu")) is model
    assert distributed.unwrap(model) is model
    assert distributed.backend_for("cpu") == "gloo"
    with pytest.raises(ConfigError, match="use device cuda"):
        TrainConfig(devices=2, device="cuda:1")
    with pytest.raises(ConfigError, match="devices must be >= 1"):
        TrainConfig(devices=0)


def _state_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _train_and_hash(config: TrainConfig, folder: str, stop_after_saves: int | None) -> str:
    """One rank: train (optionally failing after some checkpoints) and record a weight hash."""
    if stop_after_saves is not None:
        save = Checkpointer.save
        calls = []

        def failing_save(self, state):
            path = save(self, state)
            calls.append(path)
            if len(calls) == stop_after_saves:
                raise MspectmolError("stopped on purpose")
            return path

        Checkpointer.save = failing_save
    result = run_training(config)
    rank = distributed.rank()
    Path(folder, f"hash-{rank}.txt").write_text(_state_hash(result.train.model))
    Path(folder, f"rank-{rank}.json").write_text(json.dumps(
        {"world": distributed.world_size(), "run_dir": str(result.run_dir),
         "micro_f1": result.metrics["test"]["at_0.5"]["micro_f1"]}))
    return str(result.run_dir)


@pytest.mark.slow
def test_two_processes_train_identical_weights_and_write_one_run(dataset_dir, tmp_path, capsys):
    out = tmp_path / "runs"
    config = _config(dataset_dir, out, checkpoint_every=1)
    run_dir = distributed.launch(_train_and_hash, 2, (config, str(tmp_path), None))
    hashes = [(tmp_path / f"hash-{r}.txt").read_text() for r in (0, 1)]
    assert hashes[0] == hashes[1]
    infos = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert infos[0] == infos[1] and infos[0]["world"] == 2 and infos[0]["run_dir"] == run_dir
    (only,) = out.iterdir()
    assert str(only) == run_dir
    assert {p.name for p in only.iterdir()} == {"config.json", "splits.json", "log.csv",
                                                "model", "metrics.json"}
    rows = list(csv.DictReader((only / "log.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    metrics = json.loads((only / "metrics.json").read_text())
    assert metrics["training"]["processes"] == 2
    assert json.loads((only / "config.json").read_text())["devices"] == 2

    # Interrupted after 4 of its 6 steps, the run resumes with one process and, through the
    # CLI, with two; either way it ends with the same epochs and a complete folder.
    out2 = tmp_path / "stopped"
    with pytest.raises(MspectmolError, match="stopped on purpose"):
        distributed.launch(_train_and_hash, 2, (_config(dataset_dir, out2, checkpoint_every=1),
                                                str(tmp_path), 4))
    (stopped,) = out2.iterdir()
    assert (stopped / "checkpoint" / "last.safetensors").is_file()
    assert len(list(csv.DictReader((stopped / "log.csv").open()))) == 1
    capsys.readouterr()
    assert main(["-q", "train", "--resume", str(stopped), "--devices", "2",
                 "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(stopped)
    assert (stopped / "metrics.json").is_file() and not (stopped / "checkpoint").exists()
    resumed = list(csv.DictReader((stopped / "log.csv").open()))
    assert [r["epoch"] for r in resumed] == ["1", "2"]
    assert resumed[1]["train_loss"] == rows[1]["train_loss"]  # the same losses on 2 ranks
    assert resumed[1]["val_micro_f1"] == rows[1]["val_micro_f1"]


def test_classical_models_and_torchrun_with_devices_are_refused(dataset_dir, tmp_path,
                                                                 monkeypatch, capsys):
    with pytest.raises(ConfigError, match="fitted in one step"):
        run_training(_config(dataset_dir, tmp_path, model="logistic", model_config={}))
    for key, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(key, value)
    assert main(["train", "--data", str(dataset_dir), "--devices", "2"]) == 2
    assert "under torchrun leave devices at 1" in capsys.readouterr().err
