"""The config in sections: every value in the new spelling and the flat one, each section checking itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from sahit.training.config import (
    SECTIONS,
    ConfigError,
    TrainConfig,
    config_from_dict,
    flatten,
    load_preset,
    merge,
    parse_overrides,
)
from sahit.training.config.reference import markdown
from sahit.training.config.spelling import FLAT, PATHS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_committed_reference_is_the_generated_one():
    assert DOC.read_text() == markdown(), "run: python tools/config_reference.py > docs/configuration.md"


def test_every_flat_name_is_one_field_and_back():
    assert len(PATHS) == len(FLAT) == sum(len(c.__dataclass_fields__) for c in SECTIONS.values())
    assert all(FLAT[f"{section}.{name}"] == flat for flat, (section, name) in PATHS.items())


@pytest.mark.parametrize("flat", sorted(PATHS))
def test_every_value_overrides_in_both_spellings(flat):
    section, name = PATHS[flat]
    base = config_from_dict(load_preset("quickstart"))
    value = _another_value(flat, getattr(getattr(base, section), name))
    extra = parse_overrides(NEEDS.get(flat, []))  # what a value needs beside it (a valid config)
    new = {**parse_overrides([f"{section}.{name}={value}"]), **extra}
    old = {**parse_overrides([f"{flat}={value}"]), **extra}
    assert new == old
    cfg = config_from_dict(merge(load_preset("quickstart"), new))
    assert getattr(getattr(cfg, section), name) != getattr(getattr(base, section), name)
    assert getattr(cfg, flat) == getattr(getattr(cfg, section), name) or flat in SECTIONS


NEEDS = {"accum_steps": ["reuse_fake=false"], "ema_rampup": ["ema_kimg=10"], "init_classes": ["init_from=zoo:x"],
         "eval_every": ["eval_features=inception"]}


def _another_value(flat: str, current):
    """A valid value different from ``current``, written as on the command line."""
    special = {"model": "sagan-32", "model_args": "{g_width: 16}", "data": "/some/folder", "loss": "logistic",
               "update": "alternating" if current == "simultaneous" else "simultaneous",
               "data_crop": "random", "data_interpolation": "bicubic", "ema_spectral_norm": "power_iteration",
               "precision": "bf16", "device": "cpu", "augment": "diffaug:color", "bcr_policy": "color",
               "eval_features": "inception", "init_from": "zoo:x", "init_classes": "reinit", "license": "mit",
               "class_conditional": "false", "betas_g": "[0.5, 0.99]", "betas_d": "[0.5, 0.99]",
               "data_crop_fraction": "0.5", "lr_decay_start": "0.5", "ema_decay": "0.5", "ema_rampup": "0.05",
               "ema_kimg": "10", "data_in_memory": "true", "n_dis": "2", "accum_steps": "2",
               "reuse_fake": "false", "data_root": "/r"}
    if flat in special:
        return special[flat]
    if isinstance(current, bool):
        return str(not current).lower()
    if isinstance(current, (int, float)):
        return str(current + 2)
    return "x"


def test_the_new_spelling_reads_as_the_flat_one():
    new = config_from_dict({"model": {"name": "quickstart", "args": {"g_width": 16}}, "optim": {"lr_g": 2e-4},
                            "data.holdout": 5, "model.g_attn_res": []})
    old = config_from_dict({"model": "quickstart", "model_args": {"g_width": 16}, "lr_g": 2e-4, "data_holdout": 5,
                            "model.g_attn_res": []})
    assert new == old
    assert (new.optim.lr_g, new.data.holdout, new.model.args) == (2e-4, 5, {"g_width": 16, "g_attn_res": []})
    assert (new.lr_g, new.data_holdout, new.model_args) == (2e-4, 5, {"g_width": 16, "g_attn_res": []})


def test_flat_names_read_and_set_the_section_field():
    cfg = TrainConfig()
    cfg.lr_d = 0.5
    cfg.model_args["z_dim"] = 8
    assert cfg.optim.lr_d == 0.5 and cfg.model.args == {"z_dim": 8}
    with pytest.raises(AttributeError):
        cfg.no_such_key  # noqa: B018


@pytest.mark.parametrize("values, match", [
    ({"optim.stpes": 3}, "unknown config key 'optim.stpes'; did you mean 'optim.steps'"),
    ({"optim": {"lr_g": -1}}, "optim.lr_g must be a positive number"),
    ({"data.holdout": -1}, "data.holdout must be >= 0"),
    ({"ema.decay": 1.5}, r"ema.decay must be in \[0, 1\)"),
    ({"log.eval_every": 5}, "log.eval_every needs log.eval_features"),
    ({"runtime.precision": "fp8"}, "runtime.precision must be one of fp32, bf16, fp16, auto"),
    ({"objective.loss": "hing"}, "did you mean 'hinge'"),
    ({"finetune.init_classes": [3]}, "set init_from too"),
    ({"update": "simultaneous", "n_dis": 2}, "needs optim.n_dis=1"),
    ({"schema": 2, "emma": {"decay": 0.5}}, "unknown config key 'emma'"),
])
def test_each_section_refuses_bad_values_in_one_line(values, match):
    with pytest.raises(ConfigError, match=match) as exc:
        config_from_dict(values)
    assert "\n" not in str(exc.value)


def test_flatten_keeps_preset_file_keys_and_merges_model_options():
    assert flatten({"base": "sagan", "model": {"name": "x", "g_width": 8}, "model.z_dim": 4}) == {
        "base": "sagan", "model": "x", "model_args": {"g_width": 8, "z_dim": 4}}


def test_make_dataset_takes_the_data_section():
    from sahit.data import make_dataset

    cfg = config_from_dict({"data": {"source": "builtin", "length": 12, "holdout": 0}})
    by_section = make_dataset(cfg.data, 16, seed=3)
    by_keywords = make_dataset("builtin", 16, seed=3, length=12)
    assert len(by_section) == len(by_keywords) == 12
    assert (by_section[5][0] == by_keywords[5][0]).all() and by_section[5][1] == by_keywords[5][1]
    with pytest.raises(TypeError, match="not both"):
        make_dataset(cfg.data, 16, length=3)


def test_recipe_fields_carry_their_flat_name_as_the_recipe_key():
    import dataclasses

    keys = {f.metadata["recipe"]: flat for flat, (section, name) in PATHS.items()
            for f in dataclasses.fields(SECTIONS[section]) if f.name == name and "recipe" in f.metadata}
    assert keys and all(key == flat for key, flat in keys.items())


def test_run_readers_get_the_flat_names_of_a_sectioned_config_yaml(tmp_path):
    import yaml

    from sahit.runs import read_config

    cfg = config_from_dict({"data.source": "/x", "data.holdout": 7, "optim.lr_g": 0.5})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    assert read_config(tmp_path) == cfg.flat()
