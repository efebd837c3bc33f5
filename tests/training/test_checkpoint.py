"""Training checkpoints: round trip, atomic writes, refusals, and kill-and-resume of the CLI."""

import csv
import json
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from mspectmol import fileio
from mspectmol.cli.main import main
from mspectmol.errors import MspectmolError
from mspectmol.fileio import OutputError
from mspectmol.models.checkpoint import (
    LAST_NAME,
    Checkpointer,
    LoopState,
    load_checkpoint,
    save_checkpoint,
)

FINGERPRINT = {"config": {"seed": 0, "epochs": 5}, "train": "a" * 64, "val": "b" * 64}


def _parts(seed=0, width=8):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(width, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
    return model, optimizer, scheduler


def _train(model, optimizer, scheduler, steps):
    x = torch.from_numpy(np.random.default_rng(7).normal(size=(16, 6)).astype(np.float32))
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
    scheduler.step()


def _state(model, **kw):
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return LoopState(best_state=best, **kw)


def _same(a, b):
    """Nested states equal, tensors exactly."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def load_file_metadata(path):
    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata())


def _draws():
    return random.random(), float(np.random.rand()), torch.rand(3)  # noqa: NPY002


def test_round_trip_restores_everything(tmp_path):
    model, optimizer, scheduler = _parts()
    _train(model, optimizer, scheduler, 3)
    state = _state(model, epoch=2, step=3, sums={"loss": 1.5, "kl": float("nan")},
                   step_state=np.random.default_rng(5).bit_generator.state,
                   best_score=0.25, best_epoch=1, waited=1, seconds=1.5,
                   history=[{"epoch": 1, "lr": 0.01, "train_loss": 0.3, "improved": 1}])
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    path = save_checkpoint(tmp_path / "ckpt" / LAST_NAME, model=model, optimizer=optimizer,
                           scheduler=scheduler, state=state, fingerprint=FINGERPRINT)
    expected = _draws()
    _train(model, optimizer, scheduler, 1)  # moves on; the checkpoint must not

    model2, optimizer2, scheduler2 = _parts(seed=9)
    random.seed(0)
    loaded = load_checkpoint(path.parent)
    assert loaded.position == (2, 3)
    got = loaded.restore(model2, optimizer2, scheduler2, FINGERPRINT)
    assert _same(_draws(), expected)
    assert _same(got.progress(), state.progress()) and _same(got.best_state, state.best_state)
    assert got.step_state["state"]["state"] == state.step_state["state"]["state"]

    model, optimizer, scheduler = _parts()
    _train(model, optimizer, scheduler, 3)
    assert _same(model2.state_dict(), model.state_dict())
    assert _same(optimizer2.state_dict(), optimizer.state_dict())
    assert scheduler2.state_dict() == scheduler.state_dict()
    torch.manual_seed(4)
    _train(model, optimizer, scheduler, 2)
    torch.manual_seed(4)
    _train(model2, optimizer2, scheduler2, 2)
    assert _same(model2.state_dict(), model.state_dict())
    # Nothing but tensors and JSON: safetensors reads the file without mspectmol.
    assert "model/0.weight" in load_file(path) and "rng/torch" in load_file(path)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer, scheduler = _parts()
    saver = Checkpointer(tmp_path, None, 4, model=model, optimizer=optimizer,
                         scheduler=scheduler, fingerprint=FINGERPRINT)
    saver.save(_state(model, epoch=1, step=2))

    def crash(src, dst):
        raise OSError("simulated crash between the write and the replace")

    monkeypatch.setattr(fileio.os, "replace", crash)
    with pytest.raises(OutputError, match=f"{LAST_NAME}: cannot write the checkpoint "
                                          r"\(simulated crash"):
        saver.save(_state(model, epoch=3, step=1))
    monkeypatch.undo()
    assert load_checkpoint(tmp_path).position == (1, 2)
    assert [p.name for p in tmp_path.iterdir()] == [LAST_NAME]

    # what kills mid-write leave behind: removed once their process is gone (or after an hour)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    old = time.time() - 120
    strays = [tmp_path / f".{LAST_NAME}.abc123de.tmp",
              tmp_path / f".{LAST_NAME}.{dead}-0a1b2c3d.tmp"]
    live = tmp_path / f".{LAST_NAME}.{os.getpid()}-0a1b2c3d.tmp"  # a write in progress
    for stray in (*strays, live):
        stray.write_bytes(b"partial")
        os.utime(stray, (old, old))
    os.utime(strays[0], (old - 3600, old - 3600))
    Checkpointer(tmp_path, 2, 4, model=model, optimizer=optimizer, scheduler=scheduler,
                 fingerprint=FINGERPRINT)
    assert not any(s.exists() for s in strays) and live.exists()
    assert load_checkpoint(tmp_path).position == (1, 2)


def test_disk_full_keeps_the_previous_checkpoint(tmp_path, monkeypatch, small_disk):
    model, optimizer, scheduler = _parts(width=64)
    disk = small_disk("256k")
    saver = Checkpointer(disk.path, None, 4, model=model, optimizer=optimizer,
                         scheduler=scheduler, fingerprint=FINGERPRINT)
    saver.save(_state(model, epoch=1, step=2))
    before = (disk.path / LAST_NAME).read_bytes()
    disk.fill(leave=4096)
    with pytest.raises(OutputError, match=f"{LAST_NAME}: cannot write the checkpoint "
                                          r"\(no space left on the device\)"):
        saver.save(_state(model, epoch=2, step=1))
    assert disk.files() == {LAST_NAME: len(before)}
    assert (disk.path / LAST_NAME).read_bytes() == before


def test_flipped_byte_or_bad_size_is_refused(tmp_path, caplog):
    model, optimizer, scheduler = _parts()
    path = save_checkpoint(tmp_path / LAST_NAME, model=model, optimizer=optimizer,
                           scheduler=scheduler, state=_state(model), fingerprint=FINGERPRINT)
    data = bytearray(path.read_bytes())
    flipped = tmp_path / "flipped.safetensors"
    for where in (len(data) - 100, len(data) // 2):  # inside the tensor data
        bad = bytearray(data)
        bad[where] ^= 0x10
        flipped.write_bytes(bytes(bad))
        with pytest.raises(MspectmolError, match=r"flipped\.safetensors: corrupt checkpoint: "
                                                 "its content hash differs"):
            load_checkpoint(flipped)
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(bytes(data) + b"\0" * 64)
    with pytest.raises(MspectmolError, match="header declares"):
        load_checkpoint(padded)
    # a checkpoint of an earlier mspectmol (no hash) still loads, with a warning
    meta = load_file_metadata(path)
    del meta["mspectmol.sha256"]
    older = tmp_path / "older.safetensors"
    save_file(load_file(path), older, metadata=meta)
    assert load_checkpoint(older).position == (1, 0)
    assert "without a content hash" in caplog.text


def test_oversized_checkpoint_is_refused_before_reading(tmp_path, monkeypatch):
    model, optimizer, scheduler = _parts()
    path = save_checkpoint(tmp_path / LAST_NAME, model=model, optimizer=optimizer,
                           scheduler=scheduler, state=_state(model), fingerprint=FINGERPRINT)
    with path.open("r+b") as fh:
        fh.truncate(3 * 1024**3)  # sparse: 3 GB on paper, nothing on disk

    def no_reading(self):
        raise AssertionError("read before its size was checked")

    monkeypatch.setattr(type(path), "read_bytes", no_reading)
    with pytest.raises(MspectmolError, match=r"header declares \d+ bytes, the file has 3221225472"):
        load_checkpoint(path)


def test_checkpoint_steps(tmp_path):
    model, optimizer, scheduler = _parts()
    saver = Checkpointer(tmp_path, 3, 4, model=model, optimizer=optimizer, scheduler=scheduler,
                         fingerprint=FINGERPRINT)
    due = [(e, s) for e in (1, 2, 3) for s in range(1, 5) if saver.due(e, s)]
    assert due == [(1, 3), (2, 2), (3, 1)]  # global steps 3, 6, 9; 12 ends an epoch
    saver.every = None
    assert not any(saver.due(1, s) for s in range(1, 5))


def test_corrupt_and_mismatched_checkpoints_are_refused(tmp_path):
    model, optimizer, scheduler = _parts()
    path = save_checkpoint(tmp_path / LAST_NAME, model=model, optimizer=optimizer,
                           scheduler=scheduler, state=_state(model), fingerprint=FINGERPRINT)
    data = path.read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(MspectmolError, match=r"truncated\.safetensors: corrupt"):
        load_checkpoint(bad)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MspectmolError, match=r"truncated\.safetensors: corrupt"):
        load_checkpoint(bad)
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, plain)
    with pytest.raises(MspectmolError, match=r"plain\.safetensors: not an mspectmol"):
        load_checkpoint(plain)
    with pytest.raises(MspectmolError, match="nowhere.*not found"):
        load_checkpoint(tmp_path / "nowhere")

    other = {**FINGERPRINT, "config": {"seed": 0, "epochs": 7}}
    with pytest.raises(MspectmolError, match=rf"{LAST_NAME}: .*different settings.*epochs 5 "):
        load_checkpoint(path).restore(*_parts(), other)
    with pytest.raises(MspectmolError, match="different train data"):
        load_checkpoint(path).restore(*_parts(), {**FINGERPRINT, "train": "c" * 64})
    with pytest.raises(MspectmolError, match=r"different model.*0\.weight"):
        load_checkpoint(path).restore(*_parts(width=5), FINGERPRINT)


def test_unstorable_values_are_refused(tmp_path):
    model, optimizer, scheduler = _parts()
    state = _state(model, history=[{"epoch": object()}])
    with pytest.raises(MspectmolError, match="cannot store a object"):
        save_checkpoint(tmp_path / LAST_NAME, model=model, optimizer=optimizer,
                        scheduler=scheduler, state=state, fingerprint=FINGERPRINT)
    assert not any(tmp_path.iterdir())


SMALL_MODEL = ["--set", "model_config.channels=[4,8]", "--set", "model_config.head_hidden=16",
               "--set", "model_config.gate_hidden=4"]


def _rows(run_dir):
    with (run_dir / "log.csv").open() as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _metrics(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["training"].pop("seconds")
    return metrics


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, random_dataset):
    (tmp_path / "data").mkdir()
    data = random_dataset(tmp_path / "data", n=120, seed=0)
    argv = ["-q", "train", "--data", str(data), "--model", "pa_ib", "--split", "random",
            "--epochs", "8", "--patience", "8", "--batch-size", "8", "--max-train", "64",
            "--seed", "3", "--augment", "shift+noise", "--no-progress", "--threads", "1",
            "--checkpoint-every", "3", *SMALL_MODEL]
    killed_out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mspectmol", *argv, "--out", str(killed_out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    position, deadline = None, time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            found = list(killed_out.glob(f"*/checkpoint/{LAST_NAME}"))
            if found:
                position = load_checkpoint(found[0]).position
                if position >= (2, 1):  # inside or after the second epoch
                    break
            time.sleep(0.005)
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == -9, f"the run ended before it was killed: {err.decode()[-2000:]}"
    (run_dir,) = killed_out.iterdir()
    assert not (run_dir / "metrics.json").exists()
    position = load_checkpoint(run_dir / "checkpoint").position
    assert (2, 1) <= position <= (9, 0)

    assert main(["-q", "train", "--resume", str(run_dir), "--no-progress"]) == 0
    assert not (run_dir / "checkpoint").exists()
    ref_out = tmp_path / "reference"
    assert main([*argv, "--out", str(ref_out)]) == 0
    (ref_dir,) = ref_out.iterdir()

    assert [r["epoch"] for r in _rows(run_dir)] == [str(e) for e in range(1, 9)]
    assert _rows(run_dir) == _rows(ref_dir)
    assert _metrics(run_dir) == _metrics(ref_dir)
    resumed, reference = (load_file(d / "model" / "model.safetensors") for d in (run_dir, ref_dir))
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)  # bitwise
