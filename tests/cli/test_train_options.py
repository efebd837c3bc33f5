"""``mspectmol train``'s options come from TrainConfig; its default is the recommended recipe."""

import argparse
import dataclasses
import logging
import re

import pytest

from mspectmol.cli import train
from mspectmol.cli.main import build_parser, main
from mspectmol.models.registry import available_models
from mspectmol.training.config import TrainConfig, resolve_config

#: Every option ``mspectmol train`` had before its options were generated from TrainConfig.
EARLIER_FLAGS = ("--config", "--model", "--primary", "--auxiliary", "--split", "--seed",
                 "--epochs", "--patience", "--batch-size", "--lr", "--augment", "--threads",
                 "--device", "--devices", "--modality-dropout", "--amp", "--max-train",
                 "--out", "--data", "--set", "--checkpoint-every", "--resume",
                 "--no-progress")


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def _config(argv: list[str]) -> TrainConfig:
    """The config ``mspectmol train ARGV`` would train with (nothing is trained)."""
    args = build_parser().parse_args(["train", *argv])
    options = {key: getattr(args, key) for key in train.option_fields()}
    return resolve_config(train.config_path(args.config), options, args.overrides)


def test_every_field_but_tables_has_an_option_with_help():
    parser = _train_parser()
    by_dest = {a.dest: a for a in parser._actions if a.help != argparse.SUPPRESS}
    helps = train.field_help()
    for f in dataclasses.fields(TrainConfig):
        assert f.name in helps and helps[f.name], f"{f.name} has no docstring entry"
        if f.name in ("model_config", "render_settings"):  # tables, set with --set
            assert f.name not in by_dest
            continue
        assert f.name in by_dest, f"no option for {f.name}"
        assert by_dest[f.name].help.startswith(helps[f.name].replace("%", "%%"))


def test_earlier_flags_still_parse():
    strings = {s for a in _train_parser()._actions for s in a.option_strings}
    assert set(EARLIER_FLAGS) <= strings
    args = build_parser().parse_args(
        ["train", "--config", "quick", "--model", "cnn_late", "--primary", "ir", "--auxiliary",
         "--split", "size", "--seed", "2", "--epochs", "3", "--patience", "2", "--batch-size",
         "16", "--lr", "0.001", "--augment", "shift", "--threads", "1", "--device", "auto",
         "--devices", "2", "--modality-dropout", "0.1", "--amp", "--max-train", "50", "--out",
         "runs2", "--data", "d", "--set", "calibrate=false", "--checkpoint-every", "5",
         "--no-progress"])
    assert (args.model, args.auxiliary, args.split, args.seed, args.lr) == (
        "cnn_late", [], "size", 2, 0.001)
    assert args.amp is True and args.progress is False and args.out == "runs2"
    assert args.devices == 2 and args.checkpoint_every == 5 and args.modality_dropout == 0.1


def test_options_reach_the_config_and_set_comes_last():
    config = _config(["--no-calibrate", "--points", "300", "--eval-batch-size", "64",
                      "--render", "none", "--transfer", "t.parquet", "--lr", "0.002",
                      "--set", "lr=0.003", "-o", "elsewhere"])
    assert (config.calibrate, config.n_points, config.eval_batch_size) == (False, 300, 64)
    assert config.render == "none" and config.transfer == "t.parquet"
    assert config.lr == 0.003 and config.out == "elsewhere"


def test_default_is_the_recommended_recipe_and_eq14_is_named():
    default = _config([])
    assert (default.model, default.primary, default.auxiliary) == ("pa_ib", "ir",
                                                                    ("h_nmr", "c_nmr"))
    assert default.model_config == {"mi1_weight": 0.0, "beta": 0.0, "label_weighting": "sqrt",
                                    "primary_head_alone": True}
    assert default.modality_dropout == 0.3 and default.render == "randomised"
    assert default.mix == 0.5 and default.prior_correction == 0.5
    eq14 = _config(["--config", "eq14"])
    assert eq14.model_config["mi1_weight"] == 1.0 and eq14.model_config["beta"] == 1e-6
    assert eq14.model_config["label_weighting"] == "none"
    assert eq14.modality_dropout == 0.0 and eq14.render == "none"
    assert dataclasses.replace(eq14, model_config={}) == dataclasses.replace(
        TrainConfig(seed=0), model_config={})          # the paper's settings otherwise


def test_another_model_drops_the_configs_model_settings(caplog):
    with caplog.at_level(logging.INFO, logger="mspectmol.training"):
        cnn = _config(["--model", "cnn_early", "--set", "model_config.width_scale=0.1"])
    assert cnn.model == "cnn_early" and cnn.model_config == {"width_scale": 0.1}
    assert cnn.modality_dropout == 0.3                # the rest of the recipe stays
    assert "its model_config is for pa_ib" in caplog.text
    assert _config(["--set", "model=cnn_late"]).model_config == {}
    assert _config(["--model", "PA_IB"]).model_config["label_weighting"] == "sqrt"


def test_help_lists_models_defaults_and_packaged_configs(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in available_models())
    assert "(default: 0.3)" in text and "(default: randomised)" in text
    assert "eq14" in text and "recommended" in text
    assert re.search(r"--out(?!put)", text) is None and "-o DIR, --output DIR" in text


def test_deprecated_out_still_works_with_a_warning(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": 0}')
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "WARNING: --out is deprecated; use --output" in err
    assert "epochs must be >= 1" in err
