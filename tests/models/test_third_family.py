"""A third model family, registered from this file alone, works with every command (docs/adding-a-model.md).

TinySNGAN has no attention: a small conv G and D on the base classes, registered with the
registry's public API. Nothing in sahit names it, yet train, sample, attention (a clear message),
report and eval run on it through the real command-line entry point.
"""

import dataclasses
import json
from dataclasses import dataclass

import pytest
import torch
from PIL import Image
from torch import nn

from sahit.cli import main
from sahit.models import Discriminator, Generator, build
from sahit.models.registry import Family, register_family, register_preset, unregister_family


@dataclass
class TinySNGANConfig:
    resolution: int = 16
    z_dim: int = 8
    width: int = 8
    num_classes: int = 0

    def to_dict(self) -> dict:
        return {"family": "tiny-sngan", **dataclasses.asdict(self)}


class TinySNGenerator(Generator):
    def __init__(self, cfg: TinySNGANConfig) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.resolution, self.width = cfg.z_dim, cfg.num_classes, cfg.resolution, cfg.width
        self.config = cfg.to_dict()  # JSON-able, with "family": enough for sahit.load to rebuild G
        self.fc = nn.Linear(cfg.z_dim, cfg.width * 4 * 4)
        self.net = nn.Sequential(
            nn.Upsample(scale_factor=cfg.resolution // 4), nn.BatchNorm2d(cfg.width), nn.ReLU(),
            nn.Conv2d(cfg.width, 3, 3, padding=1), nn.Tanh(),
        )
        self.embed = nn.Embedding(cfg.num_classes, cfg.z_dim) if cfg.num_classes else None

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = self.check_labels(y, z.shape[0])
        if self.embed is not None:
            z = z + self.embed(y)
        return self.net(self.fc(z).view(-1, self.width, 4, 4))


class TinySNDiscriminator(Discriminator):
    def __init__(self, cfg: TinySNGANConfig) -> None:
        super().__init__()
        self.num_classes, self.resolution = cfg.num_classes, cfg.resolution
        sn = nn.utils.parametrizations.spectral_norm
        self.net = nn.Sequential(sn(nn.Conv2d(3, cfg.width, 4, 2, 1)), nn.LeakyReLU(0.1),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), sn(nn.Linear(cfg.width, 1)))
        self.embed = nn.Embedding(cfg.num_classes, cfg.width) if cfg.num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = self.check_labels(y, x.shape[0])
        return self.net(x).squeeze(1)


@pytest.fixture(scope="module", autouse=True)
def tiny_sngan_family():
    """The third family, registered with the registry's public API for this module's tests only."""
    register_family(Family("tiny-sngan", TinySNGANConfig, TinySNGenerator, TinySNDiscriminator,
                           recipe={"loss": "hinge", "lr_g": 2e-4, "lr_d": 2e-4, "class_conditional": False},
                           recipe_name="a test's own recipe"))
    register_preset("tiny-sngan-16", "tiny-sngan", "16x16 SNGAN-like test model without attention", width=8)
    yield
    unregister_family("tiny-sngan")


TRAIN = ["steps=2", "batch_size=8", "data_length=32", "progress=false", "log_every=1", "sample_every=2",
         "ckpt_every=2", "sample_cols=2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("third") / "run"
    assert main(["train", "--preset", "tiny-sngan-16", "--out", str(out), *TRAIN]) == 0
    return out


def test_build_uses_the_registered_family():
    G, D = build("tiny-sngan-16", z_dim=4)
    assert isinstance(G, TinySNGenerator) and isinstance(D, TinySNDiscriminator) and G.z_dim == 4
    assert G.attention_layer_names() == [] and D.attention_layer_names() == []


def test_train_and_sample(run, tmp_path):
    assert json.loads((run / "export" / "config.json").read_text())["model"]["family"] == "tiny-sngan"
    out = tmp_path / "grid.png"
    assert main(["sample", "--run", str(run), "--n", "4", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 16


def test_attention_says_there_is_none(run, tmp_path, capsys):
    assert main(["attention", "--run", str(run), "--out", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no self-attention layers" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "a.png").exists()


def test_report(run, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "--run", str(run), "--out", str(out), "--no-truncation"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "tiny-sngan" in page and "this generator has no self-attention layers" in page


def test_eval(run, tmp_path, monkeypatch):
    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    ext, out = tmp_path / "ext", tmp_path / "metrics.json"
    assert main(["features", "fit", "--data", "builtin", "--out", str(ext), "--steps", "2", "--resolution", "16"]) == 0
    assert main(["eval", "--run", str(run), "--features", str(ext), "--ref", "builtin", "--ref-n", "20", "--n", "10",
                 "--metrics", "fid,kid", "--out", str(out), "--batch-size", "10"]) == 0
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"fid", "kid"} and results["fid"]["n_samples"] == 10


def test_presets_lists_it(capsys):
    assert main(["presets"]) == 0
    assert "tiny-sngan-16" in capsys.readouterr().out


def test_precision_auto_asks_the_family(monkeypatch):
    from sahit.training import precision

    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",))
    cpu = torch.device("cpu")
    assert precision.resolve_precision("auto", cpu, "tiny-sngan") == "fp32"  # declares bf16_faster_on_cpu=False
    assert precision.resolve_precision("auto", cpu, "sagan") == "bf16"  # declares True
