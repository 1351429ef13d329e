"""FID: closed forms, agreement with scipy's sqrtm formula and with torch-fidelity, singular covariances."""

import numpy as np
import pytest
import scipy.linalg
import torch

from sahit.metrics import frechet_distance
from sahit.metrics.fid import fid_from_features, gaussian_stats, intra_fid, per_class_fid, sqrtm_psd


def scipy_fid(mu1, s1, mu2, s2):
    """The classic formula of the TTUR / pytorch-fid code, written plainly."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_orthogonal(d, rng):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q


def test_diagonal_gaussians_closed_form():
    rng = np.random.default_rng(0)
    d = 64
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert abs(got - expected) / expected < 1e-6


def test_commuting_covariances_closed_form():
    rng = np.random.default_rng(1)
    d = 32
    q = random_orthogonal(d, rng)
    a, b = rng.uniform(0.0, 2.0, d), rng.uniform(0.5, 2.0, d)
    a[:5] = 0.0  # singular sigma1
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    got = frechet_distance(mu1, s1, mu2, s2)
    assert abs(got - expected) / expected < 1e-6


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 40)) @ rng.standard_normal((40, 40))
    mu, sigma = gaussian_stats(x)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)
    small = rng.standard_normal((10, 40))  # n < d: singular covariance
    assert fid_from_features(small, small) == pytest.approx(0.0, abs=1e-8)


def test_accepts_torch_tensors_and_returns_float():
    mu, sigma = torch.zeros(3), torch.eye(3)
    got = frechet_distance(mu, sigma, mu + 1, 4 * sigma)
    assert isinstance(got, float)
    assert got == pytest.approx(3 * 1 + 3 * (2 - 1) ** 2)


@pytest.mark.parametrize("n, d", [(400, 32), (20, 64)])
def test_matches_scipy_sqrtm_formula(n, d):
    rng = np.random.default_rng(n + d)
    f1 = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    f2 = rng.standard_normal((n, d)) + 0.3
    mu1, s1 = np.mean(f1, 0), np.cov(f1, rowvar=False)
    mu2, s2 = np.mean(f2, 0), np.cov(f2, rowvar=False)
    expected = scipy_fid(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_singular_covariances_exact_via_nuclear_norm():
    """n < d: tr sqrt(S1 S2) = ||A B^T||_* / sqrt((n1-1)(n2-1)) for centred data A, B (an exact reference)."""
    rng = np.random.default_rng(3)
    d, n1, n2 = 256, 12, 17
    f1, f2 = rng.standard_normal((n1, d)), rng.standard_normal((n2, d)) * 2 + 1
    a, b = f1 - f1.mean(0), f2 - f2.mean(0)
    tr_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    s1, s2 = a.T @ a / (n1 - 1), b.T @ b / (n2 - 1)
    diff = f1.mean(0) - f2.mean(0)
    expected = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    mu1, s1_ = gaussian_stats(f1)
    mu2, s2_ = gaussian_stats(f2)
    assert frechet_distance(mu1, s1_, mu2, s2_) == pytest.approx(expected, rel=1e-9)  # eigendecomposition route
    assert fid_from_features(f1, f2) == pytest.approx(expected, rel=1e-9)  # low-rank (SVD) route


def test_low_rank_and_covariance_routes_agree_at_the_boundary():
    rng = np.random.default_rng(8)
    d = 16
    f1, f2 = rng.standard_normal((d, d)), rng.standard_normal((d + 1, d)) * 0.7  # n1 = d: SVD; n2 = d + 1: eigh
    low_rank = fid_from_features(f1, f2[:d])
    via_stats = frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2[:d]))
    assert low_rank == pytest.approx(via_stats, rel=1e-9)
    assert fid_from_features(f1, f2) == pytest.approx(frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2)))


def test_matches_torch_fidelity():
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    rng = np.random.default_rng(4)
    f1, f2 = rng.standard_normal((300, 24)), rng.standard_normal((300, 24)) * 1.5
    s1 = {"mu": f1.mean(0), "sigma": np.cov(f1, rowvar=False)}
    s2 = {"mu": f2.mean(0), "sigma": np.cov(f2, rowvar=False)}
    theirs = fid_statistics_to_metric(s1, s2, verbose=False)["frechet_inception_distance"]
    assert frechet_distance(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"]) == pytest.approx(theirs, rel=1e-8)


def test_sqrtm_psd_squares_back():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 20))
    s = x.T @ x  # rank 8, PSD
    r = sqrtm_psd(s)
    np.testing.assert_allclose(r @ r, s, atol=1e-9)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="same shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(3, 3\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.zeros(3), np.eye(3) * np.nan, np.zeros(3), np.eye(3))


def test_intra_fid_is_mean_of_per_class_fids():
    rng = np.random.default_rng(6)
    d = 8
    real_y, fake_y = np.repeat(np.arange(3), 40), np.tile(np.arange(3), 30)
    real = rng.standard_normal((120, d)) + real_y[:, None]
    fake = rng.standard_normal((90, d)) * 1.2 + fake_y[:, None] * 0.8
    expected = []
    for c in range(3):
        r, f = real[real_y == c], fake[fake_y == c]
        expected.append(scipy_fid(r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False)))
    assert intra_fid(real, real_y, fake, fake_y) == pytest.approx(np.mean(expected), rel=1e-6)
    per_class = per_class_fid(torch.from_numpy(real), torch.from_numpy(real_y), fake, fake_y)
    assert sorted(per_class) == [0, 1, 2]
    assert per_class[1] == pytest.approx(expected[1], rel=1e-6)


def test_intra_fid_missing_class_is_an_error():
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((20, 4)), rng.standard_normal((20, 4))
    with pytest.raises(ValueError, match="class 1 has 0 real"):
        intra_fid(real, np.zeros(20, dtype=int), fake, np.arange(20) % 2)
