"""experiments/attention_effect.py on tiny runs: one JSON from the runs, then markdown from that JSON alone."""

from __future__ import annotations

import json

import pytest
import torch

from experiments import attention_effect
from sahit.metrics.domain import DomainConfig, DomainExtractor, save_domain_extractor
from sahit.training import Trainer, prepare_run

TINY = ["model.g_width=16", "model.d_width=16", "model.z_dim=16", "batch_size=8", "progress=false", "steps=4",
        "log_every=1", "sample_every=100", "ckpt_every=2", "data_length=64"]


def _train(folder, *extra):
    cfg, run_dir = prepare_run("quickstart", out=folder, overrides=[*TINY, *extra])
    Trainer(cfg, run_dir).fit()
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("effect")
    attn = _train(root / "attn")
    old = _train(root / "old")  # as if trained before attention logging: the curves come from its checkpoints
    log = old / "log.jsonl"
    log.write_text("".join(json.dumps({k: v for k, v in json.loads(line).items() if not k.startswith("attention/")})
                           + "\n" for line in log.read_text().splitlines()))
    noattn = _train(root / "noattn", "model.g_attn_res=[]", "model.d_attn_res=[]")
    torch.manual_seed(0)
    features = save_domain_extractor(DomainExtractor(DomainConfig(num_classes=10, resolution=16, width=4)),
                                     root / "features")
    return {"attn": attn, "old": old, "noattn": noattn, "features": features, "root": root}


@pytest.mark.slow
def test_measures_every_run_then_renders_markdown_from_the_json(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "attention_effect.json"
    assert attention_effect.main([
        "--run", f"quick={runs['attn']}", "--run", f"old={runs['old']}",
        "--placement", f"attn={runs['attn']}", "--placement", f"noattn={runs['noattn']}",
        "--features", str(runs["features"]), "--ref", "builtin", "--ref-n", "40", "--n", "20", "--stats-n", "4",
        "--batch-size", "10", "--device", "cpu", "--json", str(out), "--grids", str(tmp_path / "docs"),
    ]) == 0
    payload = json.loads(out.read_text())
    quick, old = payload["runs"]["quick"], payload["runs"]["old"]
    assert quick["weight"]["source"] == "log.jsonl" and old["weight"]["source"] == "checkpoints"
    layer = quick["ablation"]["layers"][0]
    assert [p[0] for p in quick["weight"]["points"][f"attention/G/{layer}/gamma"]] == [1, 2, 3, 4]
    assert [p[0] for p in old["weight"]["points"][f"attention/G/{layer}/gamma"]] == [2, 4]
    d_keys = sorted(k for k in old["weight"]["points"] if k.startswith("attention/D/"))
    assert d_keys and d_keys == sorted(k for k in quick["weight"]["points"] if k.startswith("attention/D/"))
    # the checkpoint of step 4 holds the G and D the log measured at step 4, measured the same way
    for key in (f"attention/G/{layer}/ratio", d_keys[0]):
        assert old["weight"]["points"][key][-1][1] == pytest.approx(quick["weight"]["points"][key][-1][1], rel=1e-5)
    assert quick["reach"]["layers"][0]["layer"] == layer
    assert quick["ablation"]["arms"][1]["fid"] is not None and (tmp_path / "docs" / "attention-effect-quick.png").is_file()
    placement = payload["placement"]
    assert [s for s, _ in placement["attn"]["checkpoint_fid"]] == [2, 4]
    assert placement["noattn"]["final_step"] == 4

    capsys.readouterr()
    assert attention_effect.main(["--markdown", "--json", str(out), "--grids", str(tmp_path / "docs")]) == 0
    markdown = capsys.readouterr().out
    for heading in ("## Attention's weight over training", "## Attention's reach", "## Knock-outs",
                    "## Attention placement at equal steps"):
        assert heading in markdown
    assert f"`{layer}`" in markdown and "| final step | 4 | 4 |" in markdown
    fid = quick["ablation"]["arms"][1]["fid_vs_intact"]
    assert format(fid, ".4g") in markdown  # the tables are the JSON's numbers
    assert (tmp_path / "docs" / "attention-effect-weight-quick.png").is_file()

    # --add measures one more run into the same JSON and keeps the others untouched
    assert attention_effect.main([
        "--add", "--run", f"later={runs['attn']}", "--features", str(runs["features"]), "--ref", "builtin",
        "--ref-n", "40", "--n", "20", "--stats-n", "4", "--batch-size", "10", "--device", "cpu",
        "--json", str(out), "--grids", str(tmp_path / "docs"),
    ]) == 0
    added = json.loads(out.read_text())
    assert list(added["runs"]) == ["quick", "old", "later"] and added["runs"]["quick"] == quick
    assert added["placement"] == placement and len(added["added"]) == 1
    assert added["runs"]["later"]["ablation"]["arms"] == quick["ablation"]["arms"]  # same G, latents and seed
    capsys.readouterr()
    assert attention_effect.main(["--markdown", "--json", str(out), "--grids", str(tmp_path / "docs")]) == 0
    assert "### later (" in capsys.readouterr().out


def test_arguments_and_missing_json_give_one_line(tmp_path, capsys):
    assert attention_effect.main(["--json", str(tmp_path / "x.json")]) == 2
    assert "nothing to measure" in capsys.readouterr().err
    assert attention_effect.main(["--markdown", "--json", str(tmp_path / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert attention_effect.main(["--run", "nameless", "--json", str(tmp_path / "x.json")]) == 2
    assert "takes NAME=RUN" in capsys.readouterr().err
    assert attention_effect.per_run(["a=x", "y"], ["a", "b"]) == {"a": "x", "b": "y"}


def test_add_refuses_other_settings_and_a_missing_json(tmp_path):
    """--add keeps one set of settings per JSON: a table of 5,000-sample and 500-sample FIDs would mislead."""
    base = {"command": "first", "n": 5000, "stats_n": 256, "seed": 0, "runs": {"a": {"x": 1}}, "placement": {}}
    path = tmp_path / "effect.json"
    with pytest.raises(FileNotFoundError, match="measure first"):
        attention_effect.add_to(path, base)
    path.write_text(json.dumps(base))
    with pytest.raises(ValueError, match="n=5000, this with 500"):
        attention_effect.add_to(path, {**base, "n": 500})
    merged = attention_effect.add_to(path, {**base, "command": "second", "runs": {"b": {"y": 2}, "a": {"x": 3}}})
    assert merged["runs"] == {"a": {"x": 3}, "b": {"y": 2}} and merged["added"] == ["second"]
    assert "added by `second`" in attention_effect.render_markdown({**merged, "runs": {}})


def test_add_refuses_other_settings_before_measuring(tmp_path, monkeypatch, capsys):
    """A mismatch is refused at once: no run is loaded or measured first."""
    path = tmp_path / "effect.json"
    path.write_text(json.dumps({"command": "first", "n": 5000, "stats_n": 256, "seed": 0, "runs": {}, "placement": {}}))
    monkeypatch.setattr(attention_effect, "measure", lambda args: pytest.fail("measured before refusing"))
    assert attention_effect.main(["--add", "--run", "x=zoo:shapes", "--n", "500", "--json", str(path)]) == 2
    assert "n=5000, this with 500" in capsys.readouterr().err


def test_ref_holdout_measures_against_the_held_out_images(monkeypatch):
    """--ref-holdout 5000: FID against the images the zoo's CIFAR-10 runs never saw, all of them."""
    calls = []
    monkeypatch.setattr("sahit.metrics.evaluate.cached_reference_stats",
                        lambda data, resolution, extractor, **kw: calls.append(kw) or "stats")
    assert attention_effect.reference_stats("cifar", 32, None, 100, "cpu", holdout=5000) == "stats"
    assert calls[-1]["holdout"] == 5000 and calls[-1]["n"] is None
    attention_effect.reference_stats("cifar", 32, None, 100, "cpu")
    assert calls[-1]["holdout"] == 0 and calls[-1]["n"] == 100
    run = {"ref": "cifar", "ref_holdout": 5000}
    assert attention_effect._ref(run) == "the 5,000 images held out of `cifar`"


def test_the_doc_tables_are_what_markdown_prints_from_the_committed_json():
    """docs/attention-effect.md's numbers come from experiments/results/attention_effect.json, unedited."""
    from pathlib import Path

    repo = Path(attention_effect.__file__).resolve().parent.parent
    doc = (repo / "docs" / "attention-effect.md").read_text()
    start, end = "<!-- generated: python -m experiments.attention_effect --markdown -->", "<!-- end generated -->"
    assert start in doc and end in doc
    block = doc.split(start, 1)[1].split(end, 1)[0].strip()
    payload = json.loads(attention_effect.DEFAULT_JSON.read_text())
    assert block == attention_effect.render_markdown(payload).strip()


def test_the_weight_figure_draws_only_the_values_a_family_has(tmp_path):
    """HiT has no gamma: its figure is the ratio panel alone, SAGAN's has both (G solid, D dashed)."""
    from PIL import Image

    hit = {"weight": {"points": {"attention/G/stages.0.layers.0/ratio": [[50, 0.1], [100, 0.2]],
                                 "attention/G/stages.0.cross/ratio": [[50, 0.3], [100, 0.4]]}}}
    sagan = {"weight": {"points": {"attention/G/attention.1/gamma": [[50, 0.0], [100, 0.1]],
                                   "attention/D/attention.0/ratio": [[50, 0.0], [100, 0.2]]}}}
    one = attention_effect.weight_figure("hit", hit, tmp_path / "hit.png")
    two = attention_effect.weight_figure("sagan", sagan, tmp_path / "sagan.png")
    assert Image.open(two).width == 2 * Image.open(one).width
    with pytest.raises(ValueError, match="no gamma or ratio"):
        attention_effect.weight_figure("none", {"weight": {"points": {}}}, tmp_path / "none.png")
