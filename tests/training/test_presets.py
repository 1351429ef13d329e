"""Training presets state only what differs from their base; a family's recipe is the one place its values live."""

from __future__ import annotations

import pytest

from sahit.models import presets as model_presets
from sahit.models.registry import families, family_of
from sahit.training.config import (
    BASE,
    DATA_NEEDED,
    LEGACY_PRESETS,
    ConfigError,
    available_presets,
    base_values,
    config_from_dict,
    flatten,
    load_preset,
    preset_chain,
    preset_yaml,
)
from sahit.training.config.spelling import coerce


@pytest.mark.parametrize("preset", available_presets())
def test_no_preset_key_restates_its_bases_value(preset):
    own = flatten(preset_yaml(preset))  # in any spelling (sections, section.field, flat names)
    base = base_values(own.pop(BASE), own.get("model"))
    assert base.get(DATA_NEEDED) != own.get(DATA_NEEDED, object())
    own.pop(DATA_NEEDED, None)
    resolved = config_from_dict(base).flat()
    for key, value in own.items():
        if key == "model_args":
            restated = [k for k, v in value.items() if resolved["model_args"].get(k) == v]
            assert not restated, f"{preset}: model.{restated} restate the base's values"
            continue
        # as the config reads it (1e-4 and 0.0001, [0, 0.9] and [0.0, 0.9] are the same value)
        assert coerce(key, value) != resolved[key], f"{preset}: {key} restates its base's value"


@pytest.mark.parametrize("preset", available_presets())
def test_every_preset_names_a_base(preset):
    chain = preset_chain(preset)
    assert chain[0] == preset and len(set(chain)) == len(chain)
    root = preset_yaml(chain[-1])[BASE]
    assert family_of(root) is not None and family_of(root).name == root


def test_a_family_recipe_change_reaches_every_preset_built_on_it(monkeypatch):
    for family in families():
        recipe = family_of(family).recipe
        members = [p for p in available_presets() if preset_chain(p) and
                   preset_yaml(preset_chain(p)[-1])[BASE] == family]
        assert members, family
        for key in recipe:
            patched = {"lr_g": 0.123, "steps": 4242, "loss": "x-loss", "flip": "x-flip"}.get(key, f"x-{key}")
            monkeypatch.setitem(recipe, key, patched)
            for preset in members:
                stated = any(key in flatten(preset_yaml(p)) for p in preset_chain(preset))
                value = load_preset(preset)[key]
                assert (value != patched) if stated else (value == patched), (family, key, preset)
            monkeypatch.undo()


def test_model_and_training_presets_have_distinct_names():
    training = set(available_presets())
    assert not training & set(model_presets()), "a name is both a training and a model preset"
    assert not training & set(families())
    assert not training & set(LEGACY_PRESETS)


@pytest.mark.parametrize("old, new", sorted(LEGACY_PRESETS.items()))
def test_earlier_training_preset_names_still_resolve(old, new):
    assert load_preset(old) == load_preset(new)


@pytest.mark.parametrize("old", ["quickstart", "sagan-cifar10", "sagan-imagenet128", "sagan-imagenet128-tf"])
def test_earlier_model_preset_names_are_the_same_model(old):
    from dataclasses import asdict

    from sahit.models import model_config

    cfg = config_from_dict({"model": old})
    assert cfg.model.name != old and asdict(model_config(cfg.model.name)) == asdict(model_config(old))


def test_a_users_yaml_builds_on_a_preset(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: quickstart\nsteps: 7\n")
    values = load_preset(str(path))
    assert values["steps"] == 7 and {k: v for k, v in values.items() if k != "steps"} == {
        k: v for k, v in load_preset("quickstart").items() if k != "steps"}


def test_bad_bases_are_one_line_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: quickstrat\n")
    with pytest.raises(ConfigError, match="unknown base 'quickstrat'.*did you mean 'quickstart'"):
        load_preset(str(path))
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"base: {loop}\n")
    with pytest.raises(ConfigError, match="cycle of bases"):
        load_preset(str(loop))
