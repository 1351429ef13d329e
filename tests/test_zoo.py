"""The model zoo: entries made from a run load by name everywhere a model is taken, and nothing writes into them."""

import itertools
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import sahit
from sahit import zoo
from sahit.cli import main

REPO = Path(__file__).resolve().parent.parent


def train_tiny(preset: str, out: Path, steps: int) -> Path:
    """``steps`` steps of ``preset`` at one thread, with a checkpoint at the end."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "--preset", preset, "--out", str(out), f"steps={steps}", f"ckpt_every={steps}",
                     f"sample_every={steps}", f"log_every={max(1, steps // 2)}", "progress=false"]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 4-step quickstart run (attention in G and D) with a checkpoint, trained once for the module."""
    return train_tiny("quickstart", tmp_path_factory.mktemp("run") / "qs", 4)


@pytest.fixture
def tiny_zoo(tiny_run, tmp_path, monkeypatch):
    """A zoo of one entry, ``tiny``, made from ``tiny_run`` by tools/zoo.py, in place of the shipped one."""
    from tools import zoo as zoo_tool

    monkeypatch.setattr(zoo, "ROOT", tmp_path / "zoo")
    monkeypatch.setattr(zoo, "FEATURES", tmp_path / "zoo" / "features")
    zoo_tool.add(str(tiny_run), "tiny", "a 4-step quickstart")
    return tmp_path / "zoo" / "tiny"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_an_entry_loads_as_the_run_in_half_precision(tiny_run, tiny_zoo):
    G = sahit.load("zoo:tiny")
    original = sahit.load(tiny_run)
    for (name, a), b in zip(G.state_dict().items(), original.state_dict().values()):
        expected = b.half().to(b.dtype) if b.is_floating_point() else b
        assert torch.equal(a, expected), name
    card = zoo.card("tiny")
    assert card["steps"] == 4 and card["family"] == "sagan" and card["resolution"] == 16
    assert card["num_classes"] == 10 and card["data"] == "builtin" and card["train_minutes"] >= 0


def test_the_discriminator_ships_with_the_entry(tiny_run, tiny_zoo):
    from sahit.runs import CHECKPOINTS, latest_checkpoint
    from sahit.viz.run_files import load_discriminator

    assert not (tiny_zoo / CHECKPOINTS).exists()  # no optimiser state in the zoo: D comes from the export
    D = load_discriminator("zoo:tiny")
    trained = latest_checkpoint(tiny_run / CHECKPOINTS)["D"]
    for name, value in D.state_dict().items():
        expected = trained[name].half().to(trained[name].dtype) if trained[name].is_floating_point() else trained[name]
        assert torch.equal(value, expected), name


def test_commands_take_zoo_names_and_write_nothing_into_the_entry(tiny_zoo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tiny_zoo)
    assert main(["sample", "--run", "zoo:tiny", "--classes", "3", "--n", "16", "--out", "x.png"]) == 0
    assert (tmp_path / "x.png").is_file()
    assert main(["attention", "--run", "zoo:tiny", "--n", "1", "--d", "--out", "attn.png"]) == 0
    assert main(["interpolate", "--run", "zoo:tiny", "--steps", "3", "--out", "interp.png"]) == 0
    assert main(["report", "--run", "zoo:tiny", "--no-truncation", "--no-attention"]) == 0
    assert (tmp_path / "report-tiny.html").is_file()  # in the current folder, not in the package
    assert snapshot(tiny_zoo) == before


def test_sahit_zoo_lists_entries_with_their_scores(tiny_zoo, capsys):
    card = json.loads((tiny_zoo / zoo.CARD).read_text())
    card["scores"] = {"fid": 1.2345, "acc": 0.875, "ifid": 2.5}
    (tiny_zoo / zoo.CARD).write_text(json.dumps(card))
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("tiny "))
    assert "1.234" in row and "0.875" in row and "2.500" in row and "quickstart" not in row
    assert row.rstrip().endswith("builtin")
    card["data_name"] = "toy shapes"  # what `tools.zoo add --data-name` writes where the path says little
    (tiny_zoo / zoo.CARD).write_text(json.dumps(card))
    assert main(["zoo"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("tiny "))
    assert row.rstrip().endswith("toy shapes")


def test_an_unknown_name_gets_one_line_with_the_names(tiny_zoo, capsys):
    assert main(["sample", "--run", "zoo:nope", "--n", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no zoo model named 'nope'" in err and "tiny" in err
    with pytest.raises(ValueError, match="the zoo has: tiny"):
        sahit.load("zoo:nope")
    assert main(["zoo", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no zoo model named 'nope'" in err and "tiny" in err


def test_sahit_zoo_name_prints_the_whole_card(tiny_zoo, capsys):
    card = json.loads((tiny_zoo / zoo.CARD).read_text())
    card["scores"] = {"fid": 1.5, "per_class": {"disk": {"acc": 0.25, "ifid": 7.0}, "ring": {"acc": 1.0}}}
    (tiny_zoo / zoo.CARD).write_text(json.dumps(card))
    assert main(["zoo", "zoo:tiny"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"command: {card['command']}" in lines and f"steps: {card['steps']}" in lines
    assert "scores: fid 1.5" in lines and "per class:" in lines
    assert "  disk  class acc 0.250, intra-FID 7.000" in lines and "  ring  class acc 1.000" in lines


def test_scores_per_class_go_by_class_name(tmp_path):
    from types import SimpleNamespace

    from sahit.data import CLASS_NAMES
    from tools import zoo as zoo_tool

    for name in ("cat", "airplane"):
        (tmp_path / name).mkdir()
    assert zoo_tool._class_names(str(tmp_path), 2) == ["airplane", "cat"]  # ImageFolder's order
    assert zoo_tool._class_names(str(tmp_path), 3) == ["0", "1", "2"]  # folders that are not the classes
    assert zoo_tool._class_names("builtin", 3) == list(CLASS_NAMES[:3])
    results = {"fid": SimpleNamespace(details={}), "acc": SimpleNamespace(details={"per_class": {"0": 0.5, "1": 1}}),
               "ifid": SimpleNamespace(details={"per_class": {"0": 3.0, "1": 2.25}})}
    assert zoo_tool._per_class(results, ["airplane", "cat"]) == {"airplane": {"acc": 0.5, "ifid": 3.0},
                                                                   "cat": {"acc": 1.0, "ifid": 2.25}}


def test_torch_hub_loads_a_zoo_entry(tiny_zoo):
    G = torch.hub.load(str(REPO), "zoo", name="tiny", source="local")
    assert torch.equal(G.sample(2, seed=0), sahit.load("zoo:tiny").sample(2, seed=0))


def test_a_hit_entry_loads_samples_and_draws_attention(tmp_path, monkeypatch, capsys):
    """zoo:cifar10-hit is a HiT: an entry made from a HiT run loads as the run did and draws its attention."""
    from tools import zoo as zoo_tool

    run = train_tiny("hit-quickstart", tmp_path / "hit", 2)
    monkeypatch.setattr(zoo, "ROOT", tmp_path / "zoo")
    zoo_tool.add(str(run), "tinyhit", "2 steps of hit-quickstart")
    G = sahit.load("zoo:tinyhit")
    assert type(G).__name__ == "HiTGenerator" and zoo.card("tinyhit")["family"] == "hit"
    expected = sahit.load(run)
    for (name, a), b in zip(G.state_dict().items(), expected.state_dict().values()):
        assert torch.equal(a, b.half().to(b.dtype) if b.is_floating_point() else b), name
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "--run", "zoo:tinyhit", "--classes", "3", "--n", "4", "--out", "x.png"]) == 0
    assert main(["attention", "--run", "zoo:tinyhit", "--n", "1", "--out", "attn.png"]) == 0
    assert (tmp_path / "x.png").is_file() and (tmp_path / "attn.png").is_file()


def test_training_time_adds_every_session_of_a_resumed_run(tmp_path):
    """A resumed run's log restarts its clock: the card's time is the sum of the sessions, not the last one."""
    from tools import zoo as zoo_tool

    times = [(50, 10.0), (100, 20.0), (150, 30.0), (150, 4.0), (200, 14.0), (250, 24.0), (250, None)]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"step": s, **({"time": t} if t else {"fid": 1.0})}) + "\n"
                                                for s, t in times))
    assert zoo_tool._train_seconds(tmp_path) == pytest.approx(30.0 + 24.0)


def test_zoo_feature_extractors_resolve_by_name(tmp_path, monkeypatch):
    from sahit.metrics import fit_domain_extractor, load_extractor, save_domain_extractor

    from .metrics.conftest import ToyShapes

    monkeypatch.setattr(zoo, "FEATURES", tmp_path / "features")
    extractor = fit_domain_extractor(ToyShapes(8), 2, 16, steps=1, width=2, progress=False)
    save_domain_extractor(extractor, tmp_path / "features" / "toy")
    assert load_extractor("zoo:toy").weights_hash == extractor.weights_hash
    with pytest.raises(ValueError, match="no zoo feature extractor named 'other'; the zoo has: toy"):
        load_extractor("zoo:other")


# ------------------------------------------------------------------------------------ the shipped zoo
SHIPPED = zoo.names()


@pytest.mark.parametrize("name", SHIPPED or [pytest.param("none", marks=pytest.mark.skip("no zoo entries yet"))])
def test_every_shipped_entry_samples_and_has_scores(name):
    card = zoo.card(name)
    assert {"fid", "acc", "ifid"} <= set(card["scores"]) or card["num_classes"] == 0
    G = sahit.load(f"zoo:{name}")
    images = G.sample(2, seed=0)
    assert images.shape[-1] == card["resolution"] and torch.isfinite(images).all()


def test_the_zoo_holds_the_promised_entries():
    """The README and docs/zoo.md promise these four: the SAGAN, its twin without attention, the HiT, the quickstart."""
    assert {"cifar10-sagan", "cifar10-sagan-noattn", "cifar10-hit", "shapes"} <= set(SHIPPED)
    assert zoo.card("cifar10-hit")["family"] == "hit" and zoo.card("cifar10-sagan-noattn")["family"] == "sagan"


def test_the_cifar10_entries_trained_for_the_same_quiet_time(tmp_path):
    """cifar10-hit was given cifar10-sagan's wall time: on the curves' time axis both end at about 95 minutes."""
    from tools import zoo as zoo_tool

    sagan, hit = zoo_tool.fid_minutes("cifar10-sagan"), zoo_tool.fid_minutes("cifar10-hit")
    assert 90 < sagan[-1][0] < 100 and abs(hit[-1][0] - sagan[-1][0]) < 2  # the last logged FIDs, 20,000 and 42,000
    assert all(b[0] > a[0] for a, b in itertools.pairwise(hit))
    assert zoo_tool.curves(["cifar10-sagan", "cifar10-hit"], tmp_path / "c.png").stat().st_size > 0


def test_the_zoo_fits_its_size_limit():
    total = sum(p.stat().st_size for p in zoo.ROOT.rglob("*.safetensors")) if zoo.ROOT.is_dir() else 0
    assert total <= 25e6


def test_git_ignores_no_zoo_file():
    """A clean clone has every zoo file: none of them is ignored (the *.safetensors rule once hid the weights)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "-C", str(REPO), "ls-files", "--others", "--ignored", "--exclude-standard",
                              "--", "src/sahit/zoo_models"], capture_output=True, text=True, check=True).stdout.split()
    assert [p for p in ignored if "__pycache__" not in p] == []


@pytest.mark.slow
def test_a_wheel_carries_the_zoo(tmp_path):
    """The zoo ships in the wheel, not only in an editable install: every entry file is inside it."""
    pytest.importorskip("setuptools", reason="builds the wheel without build isolation: needs setuptools here")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True)
    wheel = next(tmp_path.glob("sahit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p for p in zoo.ROOT.rglob("*") if p.is_file()] if zoo.ROOT.is_dir() else []
    for path in shipped:
        assert f"sahit/{path.relative_to(zoo.ROOT.parent).as_posix()}" in names
    assert "sahit/zoo.py" in names
