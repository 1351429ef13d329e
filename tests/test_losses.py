import pytest
import torch

from sahit.losses import get_loss, r1_penalty


def test_hinge_matches_formula():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.5])
    loss = get_loss("hinge")
    # max(0, 1 - r): 0, 0.5, 2 -> mean 0.8333; max(0, 1 + f): 0, 1, 2.5 -> mean 1.1667
    assert loss.d_loss(real, fake).item() == pytest.approx(2.5 / 3 + 3.5 / 3)
    assert loss.g_loss(fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)


def test_logistic_and_wasserstein():
    real = torch.tensor([0.0])
    fake = torch.tensor([0.0])
    assert get_loss("logistic").d_loss(real, fake).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())
    assert get_loss("logistic").g_loss(fake).item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert get_loss("wasserstein").d_loss(torch.tensor([3.0]), torch.tensor([1.0])).item() == -2.0


def test_unknown_loss_suggests():
    with pytest.raises(ValueError, match="hinge"):
        get_loss("hinje")


def test_r1_penalty_of_quadratic():
    x = torch.randn(4, 3, requires_grad=True)
    logits = (x**2).sum(1)  # grad = 2x
    expected = (4 * x.detach() ** 2).sum(1).mean()
    assert torch.allclose(r1_penalty(logits, x), expected)
