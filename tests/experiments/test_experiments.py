"""The paper-reproduction scripts in experiments/ on tiny budgets: every arm trains and is evaluated,
a rerun skips finished runs, an interrupted run resumes, the plots are written."""

import argparse
import importlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sahit.training.config import config_from_dict, load_preset, merge, parse_overrides

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SCRIPTS = ("attention_placement", "stabilization", "hit_ingredients")
TINY = ["--steps", "4", "--seeds", "0", "--batch-size", "4", "--eval-n", "16", "--eval-points", "2",
        "--features-steps", "2"]
TINY_WIDTH = {"attention_placement": ["--width", "8"], "stabilization": ["--width", "8"],
              "hit_ingredients": ["--width", "16", "--sagan-width", "8", "--seconds", "0.5"]}
PNG = b"\x89PNG\r\n\x1a\n"


def load(name: str):
    """The module experiments/NAME.py (the repository root is on sys.path: pytest's ``pythonpath``)."""
    return importlib.import_module(f"experiments.{name}")


def run(script: str, *args: str, timeout: float = 300) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", f"experiments.{script}", *args], check=False, capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=EXPERIMENTS.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def experiment(script: str, tmp_path: Path, *extra: str) -> tuple[dict, str]:
    out = run(script, *TINY, *TINY_WIDTH[script], "--out", str(tmp_path / "runs"),
              "--json", str(tmp_path / f"{script}.json"), *extra)
    return json.loads((tmp_path / f"{script}.json").read_text()), out


def check_payload(payload: dict, arm_names: list[str]) -> None:
    assert payload["complete"] and payload["n_failed"] == 0
    assert list(payload["arms"]) == arm_names
    assert payload["machine"]["torch"] and payload["machine"]["cpu_model"]
    assert payload["budget"]["steps"] == 4 and payload["budget"]["seeds"] == [0]
    for name, arm in payload["arms"].items():
        (record,) = arm["runs"]
        assert record["status"] == "ok", (name, record)
        for key in ("fid", "symmetry_error", "train_seconds"):
            assert math.isfinite(record[key]) and record[key] >= 0, (name, key, record[key])
        assert math.isfinite(arm["fid"]["mean"]) and arm["fid"]["std"] == 0.0
        assert record["g_params"] > 0 and record["d_params"] > 0
        assert arm["config"]["seed"] == 0
        if arm["seconds_budget"] is None:
            assert record["steps"] == 4
            assert [s for s, _ in record["fid_curve"]] == [2, 4]  # FID during training, eval_points 2
        else:  # a wall-clock arm: steps from the measured step time
            assert record["steps"] == max(1, int(arm["seconds_budget"] / record["probe_sec_per_step"]))


@pytest.mark.parametrize("real", [False, True], ids=["shapes", "cifar10"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_arm_is_a_valid_training_config(script, real, tmp_path):
    """Every arm at the default and at the tiny sizes, on the shapes and on CIFAR-10, passes the trainer's own
    config validation."""
    module = load(script)
    common = load("common")
    setting = common.cifar10_setting(tmp_path) if real else common.SHAPES
    sizes = {"attention_placement": [(32,), (8,)], "stabilization": [(32,), (8,)],
             "hit_ingredients": [(128, 32, 200.0), (16, 8, 0.5)]}[script]
    for size in sizes:
        arms = module.arms(*size, real) if script == "hit_ingredients" else module.arms(*size, setting)
        assert len({a.name for a in arms}) == len(arms)
        for arm in arms:
            overrides = parse_overrides([*arm.overrides, "seed=1", "steps=4", "batch_size=4"])
            cfg = config_from_dict(merge(load_preset(arm.preset), overrides))
            assert cfg.seed == 1


def test_cifar10_attention_arms_place_attention_at_8_16_and_32(tmp_path):
    module, common = load("attention_placement"), load("common")
    arms = {a.name: a for a in module.arms(32, common.cifar10_setting(tmp_path))}
    assert list(arms) == ["none", "attn8", "attn16", "attn32", "res16"]
    sizes = {}
    for name, arm in arms.items():
        cfg = config_from_dict(merge(load_preset(arm.preset), parse_overrides(arm.overrides)))
        sizes[name] = (cfg.model_args["g_attn_res"], cfg.model_args["d_attn_res"], cfg.model_args.get("attn_block"))
        assert arm.preset == "cifar10-small" and cfg.model_args["g_width"] == 32 and not cfg.data_in_memory
    assert sizes["attn32"][:2] == ([32], []) and sizes["attn8"][:2] == ([8], [8])
    assert sizes["res16"] == ([16], [16], "residual") and sizes["none"][:2] == ([], [])


def fake_cifar(root: Path, per_class: int = 8) -> Path:
    """A CIFAR-10-like ImageFolder: 10 classes of random 32x32 PNGs, each class a different mean colour."""
    import torch
    from torchvision.io import write_png

    gen = torch.Generator().manual_seed(0)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            image = (torch.rand(3, 32, 32, generator=gen) * 128 + c * 12).to(torch.uint8)
            write_png(image, str(root / f"class{c}" / f"{i:03d}.png"))
    return root


def test_cifar10_setting_holds_images_out_and_scores_accuracy_and_intra_fid(tmp_path):
    """--cifar10: 32 px runs that never see the held-out images, every FID against them, class accuracy
    and intra-FID beside FID, and the plot's bars and table follow the metrics."""
    data = fake_cifar(tmp_path / "cifar")
    payload, out = experiment("attention_placement", tmp_path, "--cifar10", str(data), "--holdout", "40",
                              "--eval-n", "40", "--arms", "none")
    assert payload["experiment"] == "attention_placement_cifar10" and payload["resolution"] == 32
    assert payload["holdout"] == 40 and payload["metrics"] == ["fid", "acc", "ifid"]
    assert 0 <= payload["extractor"]["info"]["holdout_accuracy"] <= 1 and payload["extractor"]["holdout"] == 40
    (record,) = payload["arms"]["none"]["runs"]
    assert record["status"] == "ok" and math.isfinite(record["fid"]) and math.isfinite(record["ifid"])
    assert 0 <= record["acc"] <= 1 and record["reference_n"] == 40 and "symmetry_error" not in record
    config = payload["arms"]["none"]["config"]
    assert config["data_holdout"] == 40 and config["model"] == "sagan-32"  # 32 px (the model preset once called sagan-cifar10)
    run_dir = tmp_path / "runs" / "attention_placement_cifar10" / "none" / "seed0"
    assert (run_dir / "summary.json").is_file() and "acc" in out
    run("plot", str(tmp_path / "attention_placement.json"), "--out", str(tmp_path / "figs"), "--markdown")
    assert (tmp_path / "figs" / "repro-attention_placement_cifar10.png").read_bytes()[:8] == PNG
    plot = load("plot")
    header = plot.markdown_table(payload).splitlines()[0]
    assert header == "| arm | what | FID | class accuracy | intra-FID | G steps | wall s per run |"


def test_cifar10_flag_refuses_a_missing_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "experiments.stabilization", "--cifar10", str(tmp_path / "nope")],
                          check=False, capture_output=True, text=True, cwd=EXPERIMENTS.parent, timeout=120)
    assert proc.returncode != 0 and "is not a folder" in proc.stderr and "Traceback" not in proc.stderr


def test_curves_and_spread():
    common = load("common")
    log = [{"step": 2, "fid": 9.0}, {"step": 3, "loss_d": 1.0}, {"step": 4, "fid": 8.0}, {"step": 4, "fid": 7.5}]
    assert common.fid_curve(log) == [[2, 9.0], [4, 7.5]]  # step 4 evaluated again after a resume: the last
    runs = [{"status": "ok", "fid": 10.0}, {"status": "ok", "fid": 12.0}, {"status": "failed"}]
    summary = common.summarize(runs)
    assert summary["fid"] == {"mean": 11.0, "std": math.sqrt(2.0), "min": 10.0, "max": 12.0, "n": 2}
    assert summary["n_ok"] == 2 and summary["n_failed"] == 1


def test_a_failed_run_is_recorded_and_not_retried_unless_asked(tmp_path, monkeypatch):
    common = load("common")
    calls = []

    def fake_train(run_dir, preset, data, overrides, root):  # a trainer that starts, then diverges
        calls.append(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text("model: quickstart\n")
        (run_dir / "experiment.log").write_text("sahit train: error: training diverged: ...\n")
        return 2

    monkeypatch.setattr(common, "train_subprocess", fake_train)
    monkeypatch.setattr(common, "check_settings", lambda *a: None)
    monkeypatch.setattr(common, "ensure_extractor", lambda *a: tmp_path / "features")
    monkeypatch.setattr(common, "_extractor_info", lambda *a: {})
    args = argparse.Namespace(steps=4, seeds=[0], batch_size=4, eval_n=16, eval_points=0, arms=None,
                              out=str(tmp_path / "runs"), json=str(tmp_path / "x.json"), features_steps=2,
                              retry_failed=False)
    arms = [common.Arm("a", "quickstart", [], "an arm")]
    payload = common.run_experiment("exp", "a claim", arms, args, budget={})
    (record,) = payload["arms"]["a"]["runs"]
    assert payload["complete"] and payload["n_failed"] == 1
    assert record["status"] == "failed" and "diverged" in record["error"] and len(calls) == 1
    assert json.loads((tmp_path / "x.json").read_text())["arms"]["a"]["n_failed"] == 1
    common.run_experiment("exp", "a claim", arms, args, budget={})
    assert len(calls) == 1  # not retried
    args.retry_failed = True
    common.run_experiment("exp", "a claim", arms, args, budget={})
    assert len(calls) == 2


def test_stabilization_end_to_end_skip_resume_and_plot(tmp_path):
    """Two arms (every arm of every script: the slow test below), run, rerun, killed and resumed, plotted."""
    names = ["sn_d_5to1", "sn_gd_ttur"]
    payload, _ = experiment("stabilization", tmp_path, "--arms", ",".join(names))
    check_payload(payload, names)
    arms = payload["arms"]
    five, ttur = arms["sn_d_5to1"]["config"], arms["sn_gd_ttur"]["config"]
    assert five["n_dis"] == 5 and not five["model_args"]["g_spectral_norm"] and five["lr_d"] == 1e-4
    assert ttur["lr_d"] == 4e-4 and ttur["lr_g"] == 1e-4 and ttur["model_args"].get("g_spectral_norm", True)
    runs = tmp_path / "runs" / "stabilization"
    assert (tmp_path / "runs" / "features").is_dir() and (tmp_path / "runs" / "cache" / "stats").is_dir()

    # A rerun trains nothing: no new session, summaries untouched.
    before = {p: p.stat().st_mtime_ns for p in runs.glob("*/seed0/summary.json")}
    sessions = {p: p.read_text() for p in runs.glob("*/seed0/experiment_sessions.jsonl")}
    payload, out = experiment("stabilization", tmp_path, "--arms", ",".join(names))
    assert out.count("not retrained") == 2 and "training 4 steps" not in out
    assert {p: p.stat().st_mtime_ns for p in runs.glob("*/seed0/summary.json")} == before
    assert {p: p.read_text() for p in runs.glob("*/seed0/experiment_sessions.jsonl")} == sessions
    assert not any(r["trained_now"] for a in payload["arms"].values() for r in a["runs"])

    # A run killed after its step-2 checkpoint (no later checkpoint, no summary, no export) resumes from step 2.
    killed = runs / "sn_gd_ttur" / "seed0"
    for ckpt in (killed / "checkpoints").glob("ckpt-*.pt"):
        if int(ckpt.stem.split("-")[1]) > 2:
            ckpt.unlink()
    (killed / "summary.json").unlink()
    shutil.rmtree(killed / "export")
    payload, out = experiment("stabilization", tmp_path, "--arms", ",".join(names))
    check_payload(payload, names)
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["resumed"] and summary["steps_this_session"] == 2
    assert out.count("not retrained") == 1
    record = payload["arms"]["sn_gd_ttur"]["runs"][0]
    assert record["trained_now"] and record["sessions"] == 2

    run("plot", str(tmp_path / "stabilization.json"), "--out", str(tmp_path / "figs"))
    for name in ("repro-stabilization.png", "repro-stabilization-fid.png"):
        assert (tmp_path / "figs" / name).read_bytes()[:8] == PNG


# Every arm of the two SAGAN scripts adds two minutes to the suite; their arms are validated by the
# fast config test and their runner by the stabilization end-to-end test. Opt in with SAHIT_LONG_TESTS=1.
LONG = pytest.mark.skipif(not os.environ.get("SAHIT_LONG_TESTS"), reason="set SAHIT_LONG_TESTS=1 to run")


@pytest.mark.slow
@pytest.mark.parametrize("script, names", [
    pytest.param("stabilization", ["sn_d_1to1", "sn_d_5to1", "sn_gd_1to1", "sn_gd_ttur"], marks=LONG),
    pytest.param("attention_placement", ["none", "attn8", "attn16", "res8", "res16"], marks=LONG),
    ("hit_ingredients", ["multi_axis", "regional", "dilated", "no_cross", "hit_time", "sagan_time"]),
])
def test_every_arm_of_every_script(tmp_path, script, names):
    payload, _ = experiment(script, tmp_path)
    check_payload(payload, names)
    if script == "attention_placement":
        assert payload["arms"]["res16"]["runs"][0]["g_params"] == payload["arms"]["attn16"]["runs"][0]["g_params"]
        assert payload["arms"]["none"]["runs"][0]["g_params"] < payload["arms"]["attn16"]["runs"][0]["g_params"]
    elif script == "hit_ingredients":
        probes = json.loads((tmp_path / "runs" / "hit_ingredients" / "probes.json").read_text())
        assert {p["arm"] for p in probes.values()} == {"hit_time", "sagan_time"}
    run("plot", str(tmp_path / f"{script}.json"), "--out", str(tmp_path / "figs"))
    assert (tmp_path / "figs" / f"repro-{script}.png").read_bytes()[:8] == PNG


@pytest.mark.slow
def test_sigterm_stops_the_runner_with_a_checkpoint_and_the_rerun_resumes(tmp_path):
    args = [sys.executable, "-m", "experiments.stabilization", *TINY, "--width", "8", "--steps", "400",
            "--eval-points", "0", "--arms", "sn_gd_ttur", "--out", str(tmp_path / "runs"),
            "--json", str(tmp_path / "s.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=EXPERIMENTS.parent)
    ckpts = tmp_path / "runs" / "stabilization" / "sn_gd_ttur" / "seed0" / "checkpoints"
    deadline = time.monotonic() + 120
    while not list(ckpts.glob("ckpt-*.pt")) and time.monotonic() < deadline:  # the first checkpoint: step 80
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    run_dir = ckpts.parent
    assert not (run_dir / "summary.json").exists()
    stopped_at = max(int(p.stem.split("-")[1]) for p in ckpts.glob("ckpt-*.pt"))
    assert 0 < stopped_at < 400
    run("stabilization", *args[3:])  # without python -m experiments.stabilization
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed"] and summary["steps_this_session"] == 400 - stopped_at


def test_markdown_table_shows_mean_spread_and_each_seed():
    plot = load("plot")
    runs = [{"status": "ok", "fid": 10.0, "symmetry_error": 0.1, "steps": 50, "train_seconds": 20.0},
            {"status": "ok", "fid": 12.0, "symmetry_error": 0.3, "steps": 50, "train_seconds": 22.0},
            {"status": "failed"}]
    arm = {"label": "an arm", "runs": runs, **load("common").summarize(runs)}
    table = plot.markdown_table({"arms": {"a": arm, "b": {"label": "all failed", "runs": [{"status": "failed"}]}}})
    _header, _rule, row_a, row_b = table.splitlines()
    assert row_a == "| `a` | an arm | 11.00 ± 1.41 (10.00, 12.00) | 0.200 ± 0.141 (0.100, 0.300) | 50 | 20, 22 |"
    assert row_b.startswith("| `b` | all failed | failed | failed |")


def test_two_invocations_with_other_seeds_share_one_json(tmp_path, monkeypatch):
    """One process per seed, side by side: the JSON holds both seeds' runs and is complete once both are in."""
    common = load("common")

    def fake_run_arm(root, name, arm, seed, args, *rest):
        return {"seed": seed, "status": "ok", "fid": 10.0 + seed, "steps": 4}

    monkeypatch.setattr(common, "run_arm", fake_run_arm)
    monkeypatch.setattr(common, "ensure_extractor", lambda *a: tmp_path / "features")
    monkeypatch.setattr(common, "_extractor_info", lambda *a: {})
    arms = [common.Arm("a", "quickstart", [], "an arm"), common.Arm("b", "quickstart", [], "another")]

    def invoke(seeds, budget):
        args = argparse.Namespace(steps=4, seeds=seeds, batch_size=4, eval_n=16, eval_points=0, arms=None,
                                  out=str(tmp_path / "runs"), json=str(tmp_path / "x.json"), features_steps=2,
                                  retry_failed=False)
        return common.run_experiment("exp", "a claim", arms, args, budget=budget)

    first = invoke([0], {"width": 8})
    assert first["complete"] and [r["seed"] for r in first["arms"]["a"]["runs"]] == [0]
    both = invoke([1], {"width": 8})
    assert both["complete"] and both["budget"]["seeds"] == [0, 1]
    for arm in both["arms"].values():
        assert [r["seed"] for r in arm["runs"]] == [0, 1] and arm["fid"]["mean"] == 10.5
    other = invoke([2], {"width": 16})  # another budget: the old runs are not this experiment's
    assert [r["seed"] for r in other["arms"]["a"]["runs"]] == [2]


@pytest.mark.parametrize("family", ["sagan", "hit"])
def test_cpu_recipe_arms_train_at_the_batch_and_rates_they_name(family, tmp_path):
    """Each arm's run config has the batch size and learning rates of its label: the preset's batch unless the
    arm sets one (a default --batch-size of 64 once trained HiT's batch-32 arms at 64), and rates that stay
    put when a winner becomes the preset's."""
    cpu_recipe, common = load("cpu_recipe"), load("common")
    preset_batch = config_from_dict(load_preset(cpu_recipe.PRESETS[family])).batch_size
    args = cpu_recipe.argparse.Namespace(batch_size=None, eval_points=2, eval_n=16)
    expected = {"sagan": {"base": (64, 1e-4, 4e-4), "lr2x": (64, 2e-4, 8e-4), "batch32": (32, 1e-4, 4e-4),
                          "batch32_lr2x": (32, 2e-4, 8e-4)},
                "hit": {"base": (32, 2e-4, 2e-4), "lr2x": (32, 4e-4, 4e-4), "batch64": (64, 2e-4, 2e-4)}}[family]
    assert {arm.name for arm in cpu_recipe.arms(family)} == set(expected)
    for arm in cpu_recipe.arms(family):
        overrides = common.run_overrides(arm, 0, 10, args, tmp_path)
        cfg = config_from_dict(merge(load_preset(arm.preset), parse_overrides(overrides)))
        assert (cfg.batch_size, cfg.lr_g, cfg.lr_d) == expected[arm.name], arm.name
        assert arm.name.startswith("batch") or cfg.batch_size == preset_batch
    args.batch_size = 16  # an explicit --batch-size still applies to every arm without its own
    base = cpu_recipe.arms(family)[0]
    assert "batch_size=16" in common.run_overrides(base, 0, 10, args, tmp_path)


def test_cifar10_reproductions_keep_the_rates_their_results_were_measured_with(tmp_path):
    """The CIFAR-10 presets took the CPU recipe's doubled rates; the committed reproductions name the old ones."""
    common = load("common")
    setting = common.cifar10_setting(tmp_path)
    runs = [*load("attention_placement").arms(32, setting), *load("hit_ingredients").arms(128, 32, 200.0, True)]
    for arm in runs:  # none of these arms compares learning rates (stabilization's set their own)
        cfg = config_from_dict(merge(load_preset(arm.preset), parse_overrides(arm.overrides)))
        expected = (2e-4, 2e-4) if arm.preset == "hit-cifar10-small" else (1e-4, 4e-4)
        assert (cfg.lr_g, cfg.lr_d) == expected, arm.name


def test_cpu_recipe_budget_is_the_baselines_whichever_arms_run():
    """Invocations with other arms share one JSON only if their budgets match: it must not depend on the arms
    chosen (a batch64-only invocation once replaced the base and lr2x runs' JSON)."""
    cpu_recipe = load("cpu_recipe")
    assert cpu_recipe.baseline_steps("sagan", 10) == 2098 and cpu_recipe.baseline_steps("hit", 10) == 4451
    assert cpu_recipe.baseline_steps("sagan", 40) == 8395
