"""Training configs: files, options and --set overrides; model registry config resolution."""

import json
from datetime import datetime

import pytest

from mspectmol.errors import ConfigError, MspectmolError
from mspectmol.models.baselines_nn import CNNConfig
from mspectmol.models.pa_ib import PAIBConfig
from mspectmol.models.registry import available_models, get_model_spec
from mspectmol.training.config import TrainConfig, resolve_config
from mspectmol.training.config_files import CONFIG_DIR, packaged_config, parse_override
from mspectmol.training.run_folder import make_run_dir


def test_defaults_follow_the_paper():
    cfg = TrainConfig()
    assert (cfg.model, cfg.primary, cfg.auxiliary) == ("pa_ib", "ir", ("h_nmr", "c_nmr"))
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.n_points) == (100, 128, 4e-4, 600)
    assert cfg.split == "scaffold" and cfg.modalities == ("ir", "h_nmr", "c_nmr")


def test_config_error_is_a_mspectmol_value_error():
    assert issubclass(ConfigError, MspectmolError) and issubclass(ConfigError, ValueError)


def test_file_then_options_then_set(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": "cnn_late", "epochs": 7, "seed": 3, "lr": 1e-3,
                                "auxiliary": ["13C"],
                                "model_config": {"width_scale": 0.1, "dropout": 0.2}}))
    cfg = resolve_config(path, {"epochs": 5, "seed": None, "primary": "Raman"},
                         ["lr=0.002", "model_config.dropout=0.3", "augment=shift+smooth",
                          "threads=2", "max_train=null"])
    assert cfg.model == "cnn_late" and cfg.auxiliary == ("c_nmr",)
    assert cfg.epochs == 5 and cfg.seed == 3 and cfg.primary == "raman"
    assert cfg.lr == 0.002 and cfg.augment == "shift+smooth" and cfg.threads == 2
    assert cfg.model_config == {"width_scale": 0.1, "dropout": 0.3}
    assert cfg.max_train is None
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_toml_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('model = "pa_ib"\nauxiliary = ["h_nmr"]\nsplit = "random"\npatience = 4\n'
                    "[model_config]\nmi1_weight = 0.3\nchannels = [8, 16]\n")
    cfg = resolve_config(path, overrides=["auxiliary=c_nmr,h_nmr"])
    assert cfg.split == "random" and cfg.patience == 4
    assert cfg.auxiliary == ("c_nmr", "h_nmr")
    assert cfg.model_config == {"mi1_weight": 0.3, "channels": [8, 16]}


@pytest.mark.parametrize("content, suffix, message", [
    ('{"epoch": 3}', ".json", "unknown setting.*epoch"),
    ('{"epochs": "many"}', ".json", "epochs: expected an integer"),
    ('{"epochs": 2.5}', ".json", "epochs: expected an integer"),
    ('{"lr": true}', ".json", "lr: expected a number"),
    ('{"auxiliary": [1, 2]}', ".json", "auxiliary: expected a list"),
    ('{"split": "temporal"}', ".json", "split must be one of"),
    ('{"primary": "xray"}', ".json", "bad modality"),
    ('{"primary": "ir", "auxiliary": ["infrared"]}', ".json", "distinct"),
    ('{"epochs": 0}', ".json", "epochs must be >= 1"),
    ('{"augment": "rotate"}', ".json", "unknown augmentation"),
    ('{"model": "gpt"}', ".json", "unknown model 'gpt'"),
    ('[1, 2]', ".json", "object of settings"),
    ('{"epochs": 3', ".json", "invalid JSON"),
    ("epochs = ", ".toml", "invalid TOML"),
])
def test_bad_config_files_name_the_file(tmp_path, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        resolve_config(path)
    assert str(path) in str(info.value)


def test_missing_file_and_bad_overrides(tmp_path):
    with pytest.raises(ConfigError, match="not found") as info:
        resolve_config(tmp_path / "none.json")
    assert "none.json" in str(info.value)
    with pytest.raises(ConfigError, match="key=value"):
        resolve_config(overrides=["epochs"])
    with pytest.raises(ConfigError, match="model_config"):
        resolve_config(overrides=["optimizer.lr=1"])
    with pytest.raises(ConfigError, match="patience must be >= 1"):
        resolve_config(overrides=["patience=0"])


def test_render_settings_from_a_file_and_set(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"render": "randomised",
                                "render_settings": {"ir_width": [5, 30], "h_solvent": 0}}))
    cfg = resolve_config(path, overrides=["render_settings.ir_hbond=0.5"])
    assert cfg.render_settings == {"ir_width": [5.0, 30.0], "h_solvent": 0.0, "ir_hbond": 0.5}
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    recommended = resolve_config(packaged_config("recommended"),
                                 overrides=["render_settings.ir_hbond=0.5"])
    assert recommended.render == "randomised" and recommended.render_settings == {
        "ir_hbond": 0.5}


@pytest.mark.parametrize("settings, message", [
    ({"ir_hbnd": 0.5}, r"render_settings: unknown setting\(s\) ir_hbnd; known: probability, "),
    ({"ir_width": [40, 4]}, r"render_settings.ir_width: expected a \(low, high\) pair"),
    ({"ir_width": [4, 40, 400]}, "render_settings.ir_width: expected a"),
    ({"ir_width": 4}, "render_settings.ir_width: expected a"),
    ({"ir_width": [0, 40]}, r"render_settings.ir_width: both ends must be > 0"),
    ({"ir_hbond": 1.5}, r"render_settings.ir_hbond: expected a probability in \[0, 1\]"),
    ({"ir_hbond": True}, "render_settings.ir_hbond: expected a probability"),
    ({"ir_gaussian": [0.0, 2.0]}, r"render_settings.ir_gaussian: both ends must be in"),
    ({"ir_shift": -1}, "render_settings.ir_shift: expected a number >= 0"),
])
def test_bad_render_settings_are_one_line_errors(tmp_path, settings, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"render": "randomised", "render_settings": settings}))
    with pytest.raises(ConfigError, match=message) as info:
        resolve_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_render_settings_need_randomised_rendering():
    with pytest.raises(ConfigError, match="render_settings \\(ir_hbond\\) apply to "
                                          "render=randomised"):
        TrainConfig(render="none", render_settings={"ir_hbond": 0.5})
    with pytest.raises(ConfigError, match="render_settings.<name> may be dotted"):
        resolve_config(overrides=["augment.x=1"])
    with pytest.raises(ConfigError, match="render_settings: expected a table"):
        resolve_config(overrides=["render=randomised", "render_settings=1"])
    assert TrainConfig(render="none").render_settings == {}


def test_parse_override_reads_json_else_string():
    assert parse_override("lr=1e-3") == ("lr", 1e-3)
    assert parse_override("auxiliary=[\"c_nmr\"]") == ("auxiliary", ["c_nmr"])
    assert parse_override("augment=noise+smooth") == ("augment", "noise+smooth")
    assert parse_override("data=null") == ("data", None)


def test_packaged_configs_resolve():
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    assert {"pa_ib", "cnn_early", "cnn_late", "quick"} <= set(names)
    for name in names:
        cfg = resolve_config(packaged_config(name))
        spec = get_model_spec(cfg.model)
        spec.make_config(cfg.model_config, primary=cfg.primary, auxiliary=cfg.auxiliary,
                         n_points=cfg.n_points)
    paper = resolve_config(packaged_config("pa_ib"))
    assert paper.model_config["aux_weight"] == 0.7 and paper.lr == 4e-4
    with pytest.raises(ConfigError, match="no packaged config"):
        packaged_config("nope")


def test_run_dir_name_and_collision(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5)
    first = make_run_dir(tmp_path / "runs", "pa_ib", "ir", now=now)
    second = make_run_dir(tmp_path / "runs", "pa_ib", "ir", now=now)
    assert first.name == "20260102-030405-pa_ib-ir" and first.is_dir()
    assert second.name == "20260102-030405-pa_ib-ir-2" and second.is_dir()


def test_registry_fills_harness_fields():
    assert {"pa_ib", "cnn", "cnn_early", "cnn_concat", "cnn_late"} <= set(available_models())
    cfg = get_model_spec("pa_ib").make_config({"mi1_weight": 0.3}, primary="ir",
                                              auxiliary=["1H"], n_points=120, n_labels=37)
    assert isinstance(cfg, PAIBConfig)
    assert (cfg.primary, cfg.auxiliary, cfg.n_points, cfg.mi1_weight) == \
        ("ir", ("h_nmr",), 120, 0.3)
    cnn = get_model_spec("cnn_late").make_config({}, primary="ir", auxiliary=("c_nmr",))
    assert isinstance(cnn, CNNConfig)
    assert cnn.modalities == ("ir", "c_nmr") and cnn.fusion == "late"
    assert get_model_spec("cnn").make_config({"fusion": "concat"}).fusion == "concat"


@pytest.mark.parametrize("name, overrides, message", [
    ("cnn_late", {"fusion": "early"}, "fixes fusion='late'"),
    ("pa_ib", {"primary": "raman"}, "contradicts the training setting"),
    ("pa_ib", {"chanels": [4, 8]}, "unknown config key.*chanels"),
    ("pa_ib", {"kernel_size": 4}, "kernel_size must be odd"),
    ("cnn", {"fusion": "middle"}, "fusion must be one of"),
])
def test_registry_refuses_bad_model_configs(name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        get_model_spec(name).make_config(overrides, primary="ir", auxiliary=("h_nmr",))


def test_same_value_for_a_harness_field_is_accepted():
    cfg = get_model_spec("pa_ib").make_config({"primary": "IR", "auxiliary": ["h_nmr"]},
                                              primary="ir", auxiliary=("h_nmr",))
    assert cfg.primary == "ir"
