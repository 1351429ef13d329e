"""Spectral norm and conditional batch norm."""

import torch
from torch import nn

from sahit.layers import ConditionalBatchNorm2d, SelfAttention2d, largest_singular_value
from sahit.models import build


def test_spectral_norm_gives_unit_singular_value_after_power_iterations():
    torch.manual_seed(0)
    G, D = build("sagan-cifar10", g_width=32, d_width=32)
    for net in (G, D):
        net.train()
        modules = [m for m in net.modules() if hasattr(m, "parametrizations")]
        assert modules, "no spectrally normalised layer found"
        for _ in range(200):  # each weight read in train mode runs one power iteration
            for m in modules:
                _ = m.weight
        net.eval()
        for m in modules:
            sigma = largest_singular_value(m.weight)
            assert abs(sigma - 1.0) < 1e-3, (m, sigma)


def test_spectral_norm_switchable_per_network():
    G, D = build("sagan-cifar10", g_width=32, d_width=32, g_spectral_norm=False)
    assert not any(hasattr(m, "parametrizations") for m in G.modules())
    assert any(hasattr(m, "parametrizations") for m in D.modules())
    attn = SelfAttention2d(16, spectral_norm=False)
    assert not any(hasattr(m, "parametrizations") for m in attn.modules())


def test_every_conv_linear_embedding_of_d_is_normalised():
    _, D = build("sagan-cifar10", g_width=32, d_width=32)
    for m in D.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            assert hasattr(m, "parametrizations"), m


def test_cbn_equals_plain_bn_at_init_and_differs_by_class_after_training():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(8, num_classes=3)
    bn = nn.BatchNorm2d(8)
    x = torch.randn(6, 8, 5, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    assert torch.allclose(cbn(x, y), bn(x), atol=1e-6)
    with torch.no_grad():
        cbn.gain.weight.uniform_(0.5, 1.5)
        cbn.bias.weight.normal_()
    out0 = cbn(x, torch.zeros(6, dtype=torch.long))
    out1 = cbn(x, torch.ones(6, dtype=torch.long))
    assert not torch.allclose(out0, out1)
    normed = nn.functional.batch_norm(x, None, None, training=True, eps=cbn.bn.eps)
    expected = normed * cbn.gain.weight[1][None, :, None, None] + cbn.bias.weight[1][None, :, None, None]
    assert torch.allclose(out1, expected, atol=1e-5)
