"""docs/faithfulness.md is generated from the presets, and every preset's recipe equals the official values
except where the table says why it differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sahit.faithfulness import DEVIATIONS, markdown, preset_report, training_presets
from sahit.training.config import config_from_dict, load_preset

DOC = Path(__file__).resolve().parents[1] / "docs" / "faithfulness.md"


def test_committed_doc_is_the_generated_one():
    assert DOC.read_text() == markdown(), "run: python tools/faithfulness.py > docs/faithfulness.md"


@pytest.mark.parametrize("preset", training_presets())
def test_preset_recipe_equals_the_tables_values(preset):
    rows = preset_report(preset)
    unexplained = [r["key"] for r in rows if r["differs"] and not r["why"]]
    assert not unexplained, f"{preset} differs from the official code without a reason in DEVIATIONS: {unexplained}"
    same = [r["key"] for r in rows if r["key"] in DEVIATIONS.get(preset, {}) and not r["differs"]]
    assert not same, f"{preset}: DEVIATIONS lists values that equal the official ones: {same}"


def resolved(preset: str) -> dict:
    return config_from_dict(load_preset(preset)).flat()


@pytest.mark.parametrize("preset", ["hit-128", "hit-64"])
def test_hit_imagenet_recipe_is_the_official_one(preset):
    c = resolved(preset)
    assert (c["loss"], c["r1_gamma"], c["r1_every"], c["lr_g"], c["lr_d"]) == ("logistic", 10.0, 1, 1e-4, 1e-4)
    assert c["betas_g"] == c["betas_d"] == [0.0, 0.99]
    assert (c["update"], c["ema_decay"], c["ema_start"], c["bcr_weight"]) == ("simultaneous", 0.999, 10, 0.0)
    assert c["class_conditional"] is False
    assert (c["data_crop"], c["data_crop_fraction"], c["data_interpolation"]) == ("random", 0.875, "bicubic")


@pytest.mark.parametrize("preset", ["hit-256", "hit-L-256", "hit-1024"])
def test_hit_faces_recipe_is_the_official_one(preset):
    c = resolved(preset)
    assert (c["loss"], c["r1_gamma"], c["r1_every"], c["lr_g"], c["lr_d"]) == ("logistic", 10.0, 1, 5e-5, 5e-5)
    assert (c["update"], c["ema_decay"], c["bcr_weight"], c["class_conditional"]) == ("simultaneous", 0.999, 10.0,
                                                                                      False)
    assert (c["data_crop"], c["data_crop_fraction"]) == ("center", 1.0)


@pytest.mark.parametrize("preset", ["sagan-cifar10", "sagan-imagenet128", "sagan-imagenet128-tf"])
def test_sagan_recipe_is_the_official_codes(preset):
    c = resolved(preset)
    assert (c["loss"], c["lr_g"], c["lr_d"], c["n_dis"], c["update"]) == ("hinge", 1e-4, 4e-4, 1, "alternating")
    assert c["betas_g"] == c["betas_d"] == [0.0, 0.999]
    assert (c["reuse_fake"], c["d_sn_in_g_step"], c["flip"]) == (False, False, False)
