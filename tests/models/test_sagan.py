"""SAGAN models: parameter parity with reference implementations, shapes, errors."""

import pytest
import torch

from sahit.models import build, presets


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "name, g_count, d_count",
    [
        ("sagan-cifar10", 4_386_308, 1_075_586),  # PyTorch-StudioGAN CIFAR-10 SAGAN
        ("sagan-imagenet128", 42_017_412, 39_448_258),  # StudioGAN SAGAN-256 / BigGAN-PyTorch SAGAN script
        ("sagan-imagenet128-tf", 42_078_852, 39_463_618),  # the official TF code's layout (attention at 32)
    ],
)
def test_parameter_parity(name, g_count, d_count):
    G, D = build(name)
    assert n_params(G) == g_count
    assert n_params(D) == d_count


def test_tf_layout_variant_has_attention_at_32():
    G, D = build("sagan-imagenet128-tf")
    assert len(G.attention) == 1 and len(D.attention) == 1
    (ga,) = G.attention.values()
    assert ga.channels == 256  # G block output at 32x32 has 4 * 64 channels
    (da,) = D.attention.values()
    assert da.channels == 128  # D block output at 32x32 has 2 * 64 channels


@pytest.mark.parametrize("name", sorted(n for n, p in presets().items() if p.family == "sagan"))
def test_every_preset_runs_forward_backward(name):
    torch.manual_seed(0)
    overrides = {"g_width": 8, "d_width": 8} if "imagenet" in name else {}
    G, D = build(name, **overrides)
    b = 2
    z = torch.randn(b, G.z_dim)
    y = torch.randint(0, max(G.num_classes, 1), (b,)) if G.num_classes else None
    x = G(z, y)
    assert x.shape == (b, 3, G.resolution, G.resolution)
    assert x.min() >= -1 and x.max() <= 1
    logits = D(x, y)
    assert logits.shape == (b,)
    logits.sum().backward()
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad and p.dim() > 1)


def test_full_size_imagenet_preset_forward_backward():
    G, D = build("sagan-imagenet128")
    z = torch.randn(1, G.z_dim)
    y = torch.tensor([999])
    D(G(z, y), y).sum().backward()


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_unconditional_variant(resolution):
    G, D = build("sagan", resolution=resolution, g_width=4 if resolution > 32 else 16, d_width=8 if resolution > 32 else 16,
                 num_classes=0, attn_res=[16])
    assert D.embed is None
    assert not any("gain" in n for n, _ in G.named_parameters())
    x = G(torch.randn(2, G.z_dim))
    assert D(x).shape == (2,)


def test_projection_term_matches_hand_computation():
    torch.manual_seed(0)
    _, D = build("sagan-cifar10", d_width=16)
    D.eval()
    x = torch.randn(3, 3, 32, 32)
    y = torch.tensor([1, 4, 9])
    with torch.no_grad():
        h = D.features(x)
        hand = h @ D.linear.weight[0] + D.linear.bias[0] + (D.embed.weight[y] * h).sum(1)
        assert torch.allclose(D(x, y), hand, atol=1e-4, rtol=1e-5)
        # The class changes the logit only through the projection term.
        diff = D(x, torch.tensor([2, 2, 2])) - D(x, y)
        expected = ((D.embed.weight[2] - D.embed.weight[y]) * h).sum(1)
        assert torch.allclose(diff, expected, atol=1e-4, rtol=1e-4)


def test_attention_placement_follows_attn_res():
    G, D = build("sagan", resolution=64, g_width=4, d_width=8, g_attn_res=[16, 64], d_attn_res=[8])
    # G block outputs: 8, 16, 32, 64 -> blocks 1 and 3
    assert sorted(G.attention.keys()) == ["1", "3"]
    # D block outputs: 32, 16, 8, 4, 4 -> block 2
    assert sorted(D.attention.keys()) == ["2"]


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"resolution": 48}, "resolution 48"),
        ({"resolution": 512}, "resolution 512"),
        ({"attn_res": [12]}, "attention at 12x12"),
        ({"g_attn_res": [64]}, "attention at 64x64"),
        ({"g_width": -1}, "g_width"),
        ({"atn_res": [16]}, "did you mean 'attn_res'"),
    ],
)
def test_bad_configuration_raises_value_error(overrides, match):
    with pytest.raises(ValueError, match=match):
        build("sagan-cifar10", **overrides)


def test_unknown_preset_suggests_nearest():
    with pytest.raises(ValueError, match="sagan-cifar10"):
        build("sagan-cifar1")


def test_wrong_class_index_raises_value_error():
    G, D = build("sagan-cifar10", g_width=8, d_width=8)
    z = torch.randn(2, G.z_dim)
    with pytest.raises(ValueError, match="class index 10"):
        G(z, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="class index -1"):
        D(torch.randn(2, 3, 32, 32), torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="class-conditional"):
        G(z)


def test_public_attributes():
    G, _ = build("sagan-cifar10", g_width=8, d_width=8)
    assert (G.z_dim, G.num_classes, G.resolution) == (128, 10, 32)


def _weights(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The raw (pre-spectral-norm) weights of every conv / linear / embedding, by module name."""
    out = {}
    for name, m in net.named_modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding)) and "bn" not in name:
            p = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            out[name] = p.detach().flatten(1)
    return out


def test_official_init_is_xavier_everywhere_including_attention():
    torch.manual_seed(0)
    G, D = build("sagan-cifar10", g_width=16, d_width=16)
    weights = {**_weights(G), **{f"D.{k}": v for k, v in _weights(D).items()}}
    assert any(".f" in k for k in weights)  # attention convs are among them
    for name, w in weights.items():
        m = dict(G.named_modules(), **{f"D.{k}": v for k, v in D.named_modules()})[name]
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(m.parametrizations.weight.original
                                                                      if hasattr(m, "parametrizations") else m.weight)
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert w.abs().max() <= bound + 1e-6, name  # Glorot-uniform's range
        assert w.abs().max() > 0.8 * bound, name  # and it fills it


@pytest.mark.parametrize("init", ["orthogonal", "orthogonal_blocks"])
def test_orthogonal_inits(init):
    torch.manual_seed(0)
    G, _ = build("sagan-cifar10", g_width=16, d_width=16, init=init)
    for name, w in _weights(G).items():
        rows = w if w.shape[0] <= w.shape[1] else w.T
        orthonormal = torch.allclose(rows @ rows.T, torch.eye(rows.shape[0]), atol=1e-4)
        # orthogonal_blocks: PyTorch's default init in the attention layers (sahit 0.1.0)
        assert orthonormal == (init == "orthogonal" or ".attention." not in f".{name}."), name


def test_batch_norm_momentum_is_the_official_codes_by_default():
    G, _ = build("sagan-cifar10", g_width=16, d_width=16)
    momenta = {m.momentum for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta == {0.001}
    G, _ = build("quickstart")  # CPU preset: kept at torch's default
    assert {m.momentum for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.1}
