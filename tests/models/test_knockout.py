import pytest
import torch

from sahit.models import build
from sahit.models.knockout import knocked_out, knockout_names


def _sagan():
    torch.manual_seed(0)
    G, D = build("quickstart")
    for m in G.modules():  # gamma starts at 0 (a knock-out would change nothing): give it weight
        if hasattr(m, "gamma"):
            m.gamma.data.fill_(0.7)
    return G.eval(), D


def _hit():
    torch.manual_seed(0)
    G, D = build("hit-32", widths=[16, 16, 8], heads=[2, 2, 2], d_channel_base=64, d_channel_max=8)
    return G.eval(), D


def test_names_list_every_attention_contribution():
    G, D = _sagan()
    assert knockout_names(G) == [n for n, m in G.named_modules() if type(m).__name__ == "SelfAttention2d"]
    assert len(knockout_names(G)) >= 1 and len(knockout_names(D)) >= 1
    H, HD = _hit()
    assert knockout_names(H) == H.attention_layer_names()  # the names viz uses
    assert {"stages.0.cross", "stages.0.layers.0", "stages.2.cross"} <= set(knockout_names(H))
    assert knockout_names(HD) == []


@pytest.mark.parametrize("make", [_sagan, _hit])
def test_each_knockout_changes_output_and_restores_it_bit_for_bit(make, single_thread):
    G, _ = make()
    z = G.sample_noise(4, seed=1)
    y = G.sample_labels(4, None)
    with torch.no_grad():
        intact = G(z, y)
        state = {k: v.clone() for k, v in G.state_dict().items()}
        names = knockout_names(G)
        for name in names:
            with knocked_out(G, [name]):
                out = G(z, y)
            assert not torch.equal(out, intact), name
        with knocked_out(G, names) as same:
            assert same is G
            everything = G(z, y)
        assert not torch.equal(everything, intact)
        assert torch.equal(G(z, y), intact)
    assert all(torch.equal(v, state[k]) for k, v in G.state_dict().items())


def test_sagan_knockout_is_gamma_zero_and_hit_knockout_skips_the_branch(single_thread):
    G, _ = _sagan()
    name = knockout_names(G)[0]
    layer = dict(G.named_modules())[name]
    x = torch.randn(2, layer.channels, 8, 8)
    with knocked_out(G, name):
        assert float(layer.gamma.detach()) == 0.0
        assert torch.equal(layer(x), x)
    assert float(layer.gamma.detach()) == pytest.approx(0.7)
    H, _ = _hit()
    layer = H.stages[0].layers[0]
    t = torch.randn(2, 4, 16, 16)  # (B, G, P, C) blocked tokens of the 8x8 stage
    with knocked_out(H, "stages.0.layers.0"), torch.no_grad():
        assert torch.equal(layer(t)[0], layer.mlp(t))
        _, maps = layer(t, return_attention=True)  # maps are still there for viz
        assert set(maps) == {"regional", "dilated"}


def test_restores_after_an_error():
    G, _ = _sagan()
    before = [m.gamma.clone() for m in G.modules() if hasattr(m, "gamma")]
    with pytest.raises(RuntimeError), knocked_out(G, knockout_names(G)):
        raise RuntimeError("boom")
    assert all(torch.equal(a, m.gamma) for a, m in zip(before, [m for m in G.modules() if hasattr(m, "gamma")]))


def test_unknown_names_and_models_without_attention():
    G, _ = _sagan()
    with pytest.raises(ValueError, match="no attention contribution named 'nope'; this model has"), \
            knocked_out(G, ["nope"]):
        pass
    _, HD = _hit()
    with pytest.raises(ValueError, match="has no attention layers to knock out"), knocked_out(HD, ["stem"]):
        pass
    with knocked_out(HD, []):  # nothing asked: nothing to do
        pass
