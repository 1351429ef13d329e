"""HiT models: parameter parity with the official code, shapes, decoder mode, R1, configs."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from sahit.models import build, build_generator_from_config, model_config, presets

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hit_autoencoder.py"


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "name, g_millions, d_millions",
    [  # google-research/hit-gan, counted from its Keras models
        ("hit-128", 32.87, 23.88),
        ("hit-256", 46.22, 28.86),
        ("hit-L-256", 97.46, 28.86),
        ("hit-1024", 88.22, 29.01),
    ],
)
def test_parameter_parity_with_official_code(name, g_millions, d_millions):
    with torch.device("meta"):  # count without allocating or initialising
        G, D = build(name)
    assert n_params(G) == pytest.approx(g_millions * 1e6, rel=0.005)
    assert n_params(D) == pytest.approx(d_millions * 1e6, rel=0.005)


def test_official_stage_layout():
    with torch.device("meta"):
        G, _ = build("hit-256")
    assert [s.kind for s in G.stages] == ["multi_axis"] * 4 + ["mlp"] * 2
    assert [s.size for s in G.stages] == [8, 16, 32, 64, 128, 256]
    assert sorted(G.to_rgb) == ["4", "5"]
    assert G.num_latents == 16 and G.z_dim == 512
    assert G.config["family"] == "hit"


def tiny_generator_overrides(n_stages):
    return {"widths": [16] * n_stages, "heads": [2] * n_stages}


@pytest.mark.parametrize("name", sorted(n for n, p in presets().items() if p.family == "hit"))
def test_every_preset_runs_forward_backward(name):
    torch.manual_seed(0)
    res = presets()[name].kwargs["resolution"]
    if res > 64:  # huge presets run only at tiny width and with a tiny D
        n = len(model_config(name).widths)
        overrides = dict(tiny_generator_overrides(n), d_channel_base=256, d_channel_max=16)
        if res > 256:
            pytest.skip("1024 px is covered by the parameter count only")
    else:
        overrides = {}
    G, D = build(name, **overrides)
    x = G(torch.randn(2, G.z_dim))
    assert x.shape == (2, 3, res, res)
    logits = D(x)
    assert logits.shape == (2,)
    logits.sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    s = G.sample(3, seed=0)
    assert s.shape == (3, 3, res, res) and s.min() >= -1 and s.max() <= 1


def test_r1_double_backward_through_discriminator():
    torch.manual_seed(0)
    _, D = build("hit-32")
    real = torch.randn(4, 3, 32, 32, requires_grad=True)
    logits = D(real)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    penalty = 10.0 * grad.pow(2).flatten(1).sum(1).mean()
    grads = torch.autograd.grad(penalty, list(D.parameters()), allow_unused=True)
    flat = torch.cat([g.flatten() for g in grads if g is not None])
    assert torch.isfinite(flat).all() and flat.abs().sum() > 0
    # Every weight gets a penalty gradient (biases before a leaky ReLU only move its kinks: zero a.e.).
    for (name, p), g in zip(D.named_parameters(), grads):
        if p.dim() > 1:
            assert g is not None and g.abs().sum() > 0, name


def test_decoder_mode_equals_forward_and_accepts_any_latent_count():
    torch.manual_seed(0)
    G, _ = build("hit-32")
    G.eval()
    z = torch.randn(2, G.z_dim)
    grid, latents = G.tokens(z)
    assert grid.shape == (2, 8, 8, G.grid_dim) and latents.shape == (2, 16, G.latent_dim)
    with torch.no_grad():
        assert torch.allclose(G.decode(grid, latents), G(z))
        assert G.decode(grid, latents[:, :5]).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="grid tokens"):
        G.decode(grid.permute(0, 3, 1, 2), latents)
    with pytest.raises(ValueError, match="latent tokens"):
        G.decode(grid, latents[..., :3])


def test_attention_maps():
    torch.manual_seed(0)
    G, _ = build("hit-32")
    G.eval()
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        images, maps = G.attention_maps(z)
        assert torch.allclose(images, G(z), atol=1e-5)  # the explicit path gives the same images
    assert [m["kind"] for m in maps] == ["multi_axis", "multi_axis", "mlp"]
    assert maps[1]["cross"].shape == (2, 4, 16, 16, 16)  # (B, heads, H, W, latents)
    assert maps[1]["layers"][0]["regional"].shape == (2, 16, 2, 16, 16)
    assert torch.allclose(maps[2]["cross"].sum(-1), torch.ones(()), atol=1e-5)


def test_eval_mode_runs_mlp_stages_in_chunks_with_the_same_result(monkeypatch):
    from sahit.models.hit import generator as hit

    torch.manual_seed(0)
    G, _ = build("hit", resolution=64, z_dim=16, widths=[32, 16, 16, 8], depths=[1, 1, 2, 1], heads=[2, 2, 2, 2],
                 block_sizes=[4, 4, None, None])
    for m in G.modules():  # running statistics away from 0/1, so that eval-mode norms matter
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
    G.eval()
    z = torch.randn(2, 16)
    seen = []
    original = hit.HiTStage._per_token_chunks
    monkeypatch.setattr(hit.HiTStage, "_per_token_chunks",
                        lambda self, t, latents: seen.append(t.shape) or original(self, t, latents))
    monkeypatch.setattr(hit, "EVAL_CHUNK_ELEMENTS", 16 * 100)  # 100 tokens per chunk at width 16: 11 chunks
    with torch.no_grad():
        chunked = G(z)
        whole, _ = G.attention_maps(z)  # the un-chunked path
    assert [s[1] for s in seen] == [32 * 32, 64 * 64]  # both MLP-only stages, nothing else
    assert torch.allclose(chunked, whole, atol=1e-6)


def test_config_round_trip_rebuilds_the_same_generator():
    torch.manual_seed(0)
    G, _ = build("hit-32", num_classes=3, block_sizes=[2, 4, None])
    config = json.loads(json.dumps(G.config))
    G2 = build_generator_from_config(config)
    G2.load_state_dict(G.state_dict())
    G.eval(), G2.eval()
    z, y = torch.randn(2, G.z_dim), torch.tensor([0, 2])
    with torch.no_grad():
        assert torch.equal(G(z, y), G2(z, y))


def test_class_conditional_option():
    torch.manual_seed(0)
    G, D = build("hit-32", num_classes=4)
    G.eval()
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        assert not torch.allclose(G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 1])))
    assert D(G(z, torch.tensor([1, 3])), torch.tensor([1, 3])).shape == (2,)
    with pytest.raises(ValueError, match="class-conditional"):
        G(z)
    assert build("hit-32")[0].class_embed is None


def test_class_moves_latent_tokens_as_much_as_z_at_init():
    """The class embedding must not start negligible next to linear(z) (it did at HiT's 0.02 init)."""
    torch.manual_seed(0)
    G, _ = build("hit-32", num_classes=10)
    z, y = torch.randn(256, G.z_dim), torch.arange(256) % 10
    with torch.no_grad():
        _, latents = G.tokens(z, y)
        _, other_class = G.tokens(z, (y + 1) % 10)
        _, other_z = G.tokens(torch.randn(256, G.z_dim), y)
    class_effect = (other_class - latents).pow(2).mean()
    z_effect = (other_z - latents).pow(2).mean()
    assert class_effect > 0.5 * z_effect


def test_global_attention_variant_runs():
    G, _ = build("hit-32", attention="global", block_sizes=[1, 1, 1])
    assert [s.kind for s in G.stages] == ["global"] * 3
    assert G(torch.randn(2, G.z_dim)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"resolution": 48}, "power of two"),
        ({"resolution": 32, "widths": [32, 32]}, "one entry per stage"),
        ({"resolution": 32, "heads": [3, 4, 4]}, "do not divide|even"),
        ({"resolution": 32, "block_sizes": [3, 4, None]}, "block size"),
        ({"attention": "local"}, "attention must be"),
        ({"resolution": 2048}, "pass widths"),
    ],
)
def test_invalid_configs(overrides, match):
    with pytest.raises(ValueError, match=match):
        build("hit", **overrides)


def test_unknown_option_suggests():
    with pytest.raises(ValueError, match="did you mean 'block_sizes'"):
        build("hit-32", block_size=[4, 4, None])


def test_autoencoder_example_reduces_reconstruction_loss():
    spec = importlib.util.spec_from_file_location("hit_autoencoder", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    images = example.make_images(8, 32, torch.Generator().manual_seed(1))
    assert images.shape == (8, 3, 32, 32) and images.abs().max() <= 1
    losses = example.train(steps=8, images=images, widths=[32, 16, 8], heads=[2, 2, 2])
    assert losses[-1] < 0.95 * losses[0]
