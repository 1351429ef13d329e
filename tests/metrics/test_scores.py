"""Inception Score, KID, precision/recall and density/coverage against plain references and torch-fidelity."""

import itertools

import numpy as np
import pytest
import torch

from sahit.metrics import density_coverage, inception_score, kernel_inception_distance, precision_recall
from sahit.metrics.kid import mmd2_unbiased

# ---------------------------------------------------------------- Inception Score


def test_is_of_constant_logits_is_one():
    mean, std = inception_score(np.full((100, 10), 3.7), splits=10, from_logits=True)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 10, 1000])
def test_is_of_uniform_one_hot_predictions_is_number_of_classes(k):
    probs = np.eye(k)[np.arange(10 * k) % k]  # every split holds every class once
    mean, std = inception_score(torch.from_numpy(probs), splits=10)
    assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_is_matches_torch_fidelity():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(1000, 50, generator=torch.Generator().manual_seed(0)) * 3
    theirs = isc_features_to_metric(logits, splits=10, shuffle=False)
    mean, std = inception_score(logits, splits=10, from_logits=True)
    assert mean == pytest.approx(theirs["inception_score_mean"], rel=1e-9)
    assert std == pytest.approx(theirs["inception_score_std"], rel=1e-6)
    assert inception_score(torch.softmax(logits.double(), 1), splits=10)[0] == pytest.approx(mean, rel=1e-9)


def test_is_rejects_logits_passed_as_probabilities():
    with pytest.raises(ValueError, match="from_logits=True"):
        inception_score(np.random.default_rng(0).standard_normal((20, 5)))
    with pytest.raises(ValueError, match="at least 10 samples"):
        inception_score(np.full((5, 3), 1 / 3))


# ---------------------------------------------------------------- KID


def plain_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3, written with loops over pairs."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_mmd2_matches_plain_loops():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 5)) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(plain_mmd2(x, y), rel=1e-10)


def test_kid_on_the_whole_set_equals_mmd2_and_torch_fidelity():
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(1)
    f1, f2 = rng.standard_normal((60, 16)), rng.standard_normal((60, 16)) * 1.3
    mean, std = kernel_inception_distance(f1, f2, subsets=3, subset_size=60)
    assert mean == pytest.approx(mmd2_unbiased(f1, f2), rel=1e-10) and std == pytest.approx(0.0, abs=1e-12)
    theirs = kid_features_to_metric(
        torch.from_numpy(f1), torch.from_numpy(f2), kid_subsets=3, kid_subset_size=60, verbose=False
    )
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-8)


def test_kid_is_unbiased_for_identical_distributions():
    rng = np.random.default_rng(2)
    estimates = [
        kernel_inception_distance(rng.standard_normal((30, 8)), rng.standard_normal((30, 8)), subsets=1)[0]
        for _ in range(400)
    ]
    mean, stderr = np.mean(estimates), np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(mean) < 3 * stderr
    assert min(estimates) < 0  # an unbiased estimator of 0 must go negative


def test_kid_separates_different_distributions_and_reports_spread():
    rng = np.random.default_rng(3)
    f1, f2 = rng.standard_normal((300, 8)), rng.standard_normal((300, 8)) + 1.0
    mean, std = kernel_inception_distance(torch.from_numpy(f1), f2, subsets=20, subset_size=100, seed=1)
    assert mean > 10 * std > 0
    assert kernel_inception_distance(f1, f2, subsets=20, subset_size=100, seed=1) == (mean, std)


# ---------------------------------------------------------------- precision / recall, density / coverage


def test_precision_recall_on_a_line_with_known_answer():
    # real: 0..9 on a line, 3rd-NN radius is 2 at the ends... compute by hand:
    real = np.arange(10.0)[:, None]
    # radii (k=3): point 0 -> 3, 1 -> 2, 2..7 -> 2, 8 -> 2, 9 -> 3
    fake = np.array([[-3.0], [4.5], [12.0], [20.0]])
    # precision: -3 within 3 of 0 -> yes; 4.5 -> yes; 12 within 3 of 9 -> yes; 20 -> no
    # fake radii (k=3, 4 points): -3 -> 23, 4.5 -> 15.5, 12 -> 15, 20 -> 23: every real point is covered
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == pytest.approx(3 / 4) and recall == pytest.approx(1.0)


def test_precision_recall_disjoint_and_identical_clouds():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 4))
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)
    assert precision_recall(real, real.copy()) == (1.0, 1.0)


def test_precision_recall_mode_collapse():
    rng = np.random.default_rng(1)
    real = np.concatenate([rng.standard_normal((200, 2)), rng.standard_normal((200, 2)) + 20])
    fake = rng.standard_normal((400, 2))  # only the first mode
    precision, recall = precision_recall(real, fake, k=3)
    assert precision > 0.95 and 0.4 < recall < 0.55


def test_precision_recall_matches_torch_fidelity():
    from torch_fidelity.metric_prc import prc_features_to_metric

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 16, generator=g), torch.randn(250, 16, generator=g) * 1.2 + 0.2
    theirs = prc_features_to_metric(
        fake, real, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False, verbose=False
    )
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == pytest.approx(theirs["precision"], abs=1e-6)  # theirs is a float32 mean
    assert recall == pytest.approx(theirs["recall"], abs=1e-6)


def test_density_coverage_known_answers():
    real = np.arange(10.0)[:, None]  # k=5 radii: 0 -> 5, 1 -> 4, 2 -> 3, 3..6 -> 3, 7 -> 3, 8 -> 4, 9 -> 5
    fake = np.array([[0.0], [30.0]])
    # fake 0.0 lies in the balls of reals 0 (r5), 1 (r4), 2 (r3), 3 (r3): 4 balls; fake 30 in none
    density, coverage = density_coverage(real, fake, k=5)
    assert density == pytest.approx(4 / (5 * 2))
    # a real ball covers a fake iff that real is within its radius of 0.0: reals 0, 1, 2, 3
    assert coverage == pytest.approx(4 / 10)


def test_density_coverage_identical_and_disjoint():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((300, 3))
    density, coverage = density_coverage(real, real.copy(), k=5)
    assert coverage == 1.0 and density == pytest.approx(1.0, abs=0.2)
    assert density_coverage(real, real + 50) == (0.0, 0.0)


def test_knn_needs_enough_points():
    with pytest.raises(ValueError, match="need more than 3 samples"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="differ in dimension"):
        precision_recall(np.zeros((10, 2)), np.zeros((10, 3)))
