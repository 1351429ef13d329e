"""Model options used by the paper reproductions (experiments/): SAGAN's parameter-matched residual
control for attention, HiT's single-axis attention and its variant without cross-attention."""

import json

import pytest
import torch

from sahit.layers import SelfAttention2d
from sahit.models import build, build_generator_from_config
from sahit.models.sagan import ParamMatchedResidual

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("width", [8, 32, 64])
@pytest.mark.parametrize("res", [[8], [16], [32]])
def test_residual_control_has_attention_parameter_count(width, res):
    kw = {"resolution": 32, "g_width": width, "d_width": width, "z_dim": 16, "num_classes": 3, "g_attn_res": res,
          "d_attn_res": [r for r in res if r != 32]}  # D has no 32x32 block
    G_attn, D_attn = build("sagan", **kw)
    G_res, D_res = build("sagan", attn_block="residual", **kw)
    assert n_params(G_res) == n_params(G_attn)
    assert n_params(D_res) == n_params(D_attn)
    for attn_net, res_net in ((G_attn, G_res), (D_attn, D_res)):
        assert list(attn_net.attention) == list(res_net.attention)  # the same places
        for key, block in res_net.attention.items():
            assert isinstance(block, ParamMatchedResidual) and isinstance(attn_net.attention[key], SelfAttention2d)
            assert n_params(block) == n_params(attn_net.attention[key])


def test_residual_control_starts_as_identity_and_trains():
    torch.manual_seed(0)
    block = ParamMatchedResidual(16, n_params(SelfAttention2d(16)))
    assert block.hidden == 2 and n_params(block) == 1.25 * 16**2 + 1
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(x), x)  # gamma = 0, as attention's
    G, D = build("sagan", resolution=32, g_width=8, d_width=8, z_dim=16, num_classes=0, attn_block="residual")
    z = torch.randn(2, G.z_dim)
    D(G(z)).sum().backward()
    assert all(b.gamma.grad is not None for b in G.attention.values())
    with pytest.raises(ValueError, match="attn_block"):
        build("sagan", attn_block="conv")


def _trains_and_maps_match_forward(G, D):
    """One backward pass through D(G(z)); in eval mode the images of ``attention_maps`` are G's output."""
    z = torch.randn(2, G.z_dim)
    D(G(z)).sum().backward()
    G.eval()
    with torch.no_grad():
        images, maps = G.attention_maps(z)
        assert torch.allclose(images, G(z), atol=1e-5)
    return z, maps


@pytest.mark.parametrize("attention", ["regional", "dilated"])
def test_hit_single_axis_variants(attention):
    torch.manual_seed(0)
    G, D = build("hit-32", attention=attention, heads=[1, 4, 2])  # odd heads are fine for one axis
    assert [s.kind for s in G.stages] == [attention, attention, "mlp"]
    attn = G.stages[0].layers[0].attn
    assert attn.axes == attention and attn.block_size == 4
    _z, maps = _trains_and_maps_match_forward(G, D)
    assert set(maps[0]["layers"][0]) == {attention}
    assert n_params(build("hit-32", attention=attention)[0]) == n_params(build("hit-32")[0])


def test_hit_without_cross_attention():
    torch.manual_seed(0)
    G, D = build("hit-32", cross_attention=False)
    assert all(stage.cross is None for stage in G.stages)
    assert not any("cross" in name for name, _ in G.named_modules())
    z, maps = _trains_and_maps_match_forward(G, D)
    assert maps[0]["cross"] is None
    G2 = build_generator_from_config(json.loads(json.dumps(G.config)))
    G2.load_state_dict(G.state_dict())
    with torch.no_grad():
        assert torch.equal(G2.eval()(z), G(z))
    with pytest.raises(ValueError, match="cross_attention"):
        build("hit-32", cross_attention="no")
