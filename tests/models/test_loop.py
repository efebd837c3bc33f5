"""The shared training loop: best state, patience, time budget, log lines, checkpoints."""

import csv
import logging

import numpy as np
import pytest
import torch
from torch import nn

from mspectmol.errors import MspectmolError
from mspectmol.models.checkpoint import Checkpointer, load_checkpoint
from mspectmol.models.loop import (
    LoopSettings,
    optimizer_step,
    run_loop,
    seed_everything,
    training_device,
)

FINGERPRINT = {"config": {"toy": 1}, "train": "abc"}


class Toy:
    """A linear regression trained by the loop; ``scores`` replaces its validation loss."""

    def __init__(self, scores=None, crash_at=None):
        seed_everything(0)
        self.model = nn.Linear(3, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, 1, gamma=0.5)
        gen = np.random.default_rng(0)
        self.x = torch.as_tensor(gen.normal(size=(12, 3)), dtype=torch.float32)
        self.y = self.x.sum(1, keepdim=True)
        self.scores, self.crash_at = scores, crash_at
        self.rng = np.random.default_rng(1)

    def epoch(self, epoch, state, on_step):
        if state.carry.get("rng"):
            self.rng.bit_generator.state = state.carry["rng"]
        order = self.rng.permutation(12)
        sums = dict(state.sums)
        for step in range(state.step, 3):
            if (epoch, step) == self.crash_at:
                raise KeyboardInterrupt
            rows = order[step * 4:(step + 1) * 4]
            loss = ((self.model(self.x[rows]) - self.y[rows]) ** 2).mean()
            optimizer_step(loss, self.optimizer, clip=(self.model.parameters(), 10.0))
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            on_step(step + 1, sums)
        self.scheduler.step()
        state.carry["rng"] = self.rng.bit_generator.state
        return {"lr": self.optimizer.param_groups[0]["lr"], "train_loss": sums["loss"] / 3}

    def validate(self, epoch):
        if self.scores is not None:
            return {"val_loss": self.scores[epoch - 1]}
        return {"val_loss": float(((self.model(self.x) - self.y) ** 2).mean())}

    def checkpointer(self, folder, every=None):
        return Checkpointer(folder, every, 3, model=self.model, optimizer=self.optimizer,
                            scheduler=self.scheduler, fingerprint=FINGERPRINT)


def test_best_state_is_restored_and_patience_stops(caplog):
    toy = Toy(scores=[3.0, 1.0, 2.0, 2.5, 0.5])
    seen = {}

    def validate(epoch):
        seen[epoch] = {k: v.clone() for k, v in toy.model.state_dict().items()}
        return toy.validate(epoch)

    with caplog.at_level(logging.INFO, logger="mspectmol.training"):
        state = run_loop(toy.model, toy.epoch, validate,
                         LoopSettings(epochs=5, patience=2, progress=False))
    assert [r["improved"] for r in state.history] == [1, 1, 0, 0]
    assert state.stopped_early and state.stop_reason == "early stop" and state.best_epoch == 2
    for key, value in toy.model.state_dict().items():
        assert torch.equal(value, seen[2][key])
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("epoch 1/5: loss ") and ", val loss 3.0000, " in lines[0]
    assert lines[-1] == "early stop after epoch 4 (best 2)"


def test_higher_is_better_and_no_validation_keeps_the_last_state():
    toy = Toy(scores=[0.2, 0.9, 0.4])
    state = run_loop(toy.model, toy.epoch, lambda e: {"val_f1": toy.scores[e - 1]},
                     LoopSettings(epochs=3, monitor="val_f1", mode="max"))
    assert state.best_epoch == 2 and state.best_score == 0.9 and not state.stopped_early
    toy = Toy()
    state = run_loop(toy.model, toy.epoch, None, LoopSettings(epochs=2))
    last = toy.model.state_dict()
    assert all("improved" not in r for r in state.history) and state.best_epoch == 0
    assert torch.equal(last["weight"], toy.model.state_dict()["weight"])


def test_time_budget_stops_after_the_epoch_that_passes_it(tmp_path):
    toy = Toy()
    state = run_loop(toy.model, toy.epoch, toy.validate,
                     LoopSettings(epochs=10, max_minutes=1e-9), log_path=tmp_path / "log.csv")
    assert len(state.history) == 1 and state.stop_reason == "time budget of 1e-09 min"
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "val_loss", "seconds", "improved"]


@pytest.mark.parametrize("crash_at, every", [((2, 0), None), ((3, 2), 2)])
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, crash_at, every):
    settings = LoopSettings(epochs=4)
    whole = Toy()
    expected = run_loop(whole.model, whole.epoch, whole.validate, settings)

    toy = Toy(crash_at=crash_at)
    with pytest.raises(KeyboardInterrupt):
        run_loop(toy.model, toy.epoch, toy.validate, settings,
                 checkpointer=toy.checkpointer(tmp_path, every))
    again = Toy()
    state = load_checkpoint(tmp_path).restore(again.model, again.optimizer, again.scheduler,
                                              FINGERPRINT)
    assert (state.epoch, state.step) == ((2, 0) if every is None else (3, 2))
    done = run_loop(again.model, again.epoch, again.validate, settings, state=state,
                    checkpointer=again.checkpointer(tmp_path, every))
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in expected.history]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in done.history] == strip
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key


def test_settings_and_devices_are_checked():
    with pytest.raises(MspectmolError, match="epochs must be >= 1"):
        LoopSettings(epochs=0)
    with pytest.raises(MspectmolError, match="mode must be"):
        LoopSettings(epochs=1, mode="best")
    with pytest.raises(MspectmolError, match="unknown training device 'abacus'"):
        training_device("abacus")
    assert training_device("cpu").type == "cpu"
