"""G.sample's truncation trick and the soft-class hook that class interpolation uses."""

import pytest
import torch
import torch.nn.functional as F

from sahit.layers import ConditionalBatchNorm2d
from sahit.models import build, truncated_noise


@pytest.fixture(scope="module")
def tiny_generators():
    torch.manual_seed(0)
    sagan, _ = build("quickstart", g_width=8, d_width=8, z_dim=16, g_attn_res=[], d_attn_res=[])
    hit, _ = build("hit-32", num_classes=5)
    with torch.no_grad():  # untrained CBN gains are all 1 and biases 0: give the classes something to differ by
        for cbn in (m for m in sagan.modules() if isinstance(m, ConditionalBatchNorm2d)):
            cbn.gain.weight.add_(0.3 * torch.randn_like(cbn.gain.weight))
            cbn.bias.weight.add_(0.3 * torch.randn_like(cbn.bias.weight))
    return {"sagan": sagan.eval(), "hit": hit.eval()}


def test_no_truncation_is_exactly_todays_noise():
    z = truncated_noise(50, 8, None, torch.Generator().manual_seed(3))
    assert torch.equal(z, torch.randn(50, 8, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_truncation_redraws_only_the_entries_beyond_the_threshold(threshold):
    plain = torch.randn(400, 16, generator=torch.Generator().manual_seed(7))
    z = truncated_noise(400, 16, threshold, torch.Generator().manual_seed(7))
    inside = plain.abs() <= threshold
    assert torch.equal(z[inside], plain[inside])  # entries within the threshold are untouched
    assert (z.abs() <= threshold).all()  # and every redrawn entry now lies within it
    assert not torch.equal(z[~inside], plain[~inside])
    assert torch.equal(z, truncated_noise(400, 16, threshold, torch.Generator().manual_seed(7)))  # deterministic


def test_truncated_entries_follow_the_truncated_normal():
    # Redrawn until within t, a standard normal becomes the normal truncated to [-t, t]: its variance is
    # 1 - 2 t phi(t) / (2 Phi(t) - 1).
    t = 1.0
    z = truncated_noise(20_000, 10, t, torch.Generator().manual_seed(0)).double()
    normal = torch.distributions.Normal(0.0, 1.0)
    phi, cdf = normal.log_prob(torch.tensor(t)).exp(), normal.cdf(torch.tensor(t))
    expected = 1 - 2 * t * phi / (2 * cdf - 1)
    assert abs(z.var().item() - expected.item()) < 0.01 and abs(z.mean().item()) < 0.01


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "0.5", True])
def test_bad_threshold_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="truncation must be a number > 0"):
        truncated_noise(2, 4, bad)


@pytest.mark.parametrize("family", ["sagan", "hit"])
def test_sample_with_truncation(tiny_generators, family):
    G = tiny_generators[family]
    plain = G.sample(6, classes=1, seed=5)
    assert torch.equal(plain, G.sample(6, classes=1, seed=5, truncation=None))
    truncated = G.sample(6, classes=1, seed=5, truncation=0.3)
    assert truncated.shape == plain.shape and not torch.allclose(truncated, plain, atol=1e-3)
    assert torch.equal(truncated, G.sample(6, classes=1, seed=5, truncation=0.3))
    z = G.sample_noise(6, seed=5, truncation=0.3)
    expected = G(z, torch.full((6,), 1)).float().clamp(-1, 1)
    torch.testing.assert_close(truncated, expected)


@pytest.mark.parametrize("family", ["sagan", "hit"])
def test_one_hot_class_weights_equal_the_class_and_mixes_differ(tiny_generators, family):
    G = tiny_generators[family]
    assert G.soft_classes
    z = G.sample_noise(3, seed=1)
    y = torch.tensor([0, 1, 2])
    with torch.no_grad():
        hard = G(z, y)
        soft = G(z, F.one_hot(y, G.num_classes).float())
        mixed = G(z, 0.5 * F.one_hot(y, G.num_classes).float() + 0.5 * F.one_hot(y + 1, G.num_classes).float())
    torch.testing.assert_close(soft, hard, rtol=0, atol=1e-6)
    assert not torch.allclose(mixed, hard, atol=1e-4)


def test_class_weights_are_refused_without_the_hook(tiny_generators, monkeypatch):
    G = tiny_generators["sagan"]
    monkeypatch.setattr(G, "soft_classes", False)
    with pytest.raises(ValueError, match="integer class labels only"):
        G(torch.zeros(2, G.z_dim), torch.zeros(2, G.num_classes))
