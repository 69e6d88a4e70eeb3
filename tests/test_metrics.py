"""Closed forms and hand-made point clouds for KID, precision/recall/density/coverage and the floors."""
import json

import numpy as np
import pytest

import gan_aug.metrics.kid as kid_module
from gan_aug.metrics.fid import frechet_distance
from gan_aug.metrics.floors import (
    class_quality,
    fd_bootstrap_interval,
    fd_floor,
    fd_matched,
    kid_floor,
    split_halves,
)
from gan_aug.metrics.kid import kernel_inception_distance, kid_bootstrap_interval, mmd2_unbiased
from gan_aug.metrics.prdc import precision_recall_density_coverage

CLASS_KEYS = {"fd", "fd_floor", "fd_ci_low", "fd_ci_high", "fd_matched", "fd_ratio", "kid", "kid_std",
              "kid_ci_low", "kid_ci_high", "kid_floor", "precision", "recall", "density", "coverage"}


def gaussian(n, d=8, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def direct_mmd2(kxx, kyy, kxy):
    """The U-statistic written out as sums over index pairs."""
    m, n = len(kxx), len(kyy)
    xx = sum(kxx[i, j] for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(kyy[i, j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(kxy[i, j] for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


# --- KID -------------------------------------------------------------------------------------------

def test_mmd2_unbiased_matches_the_pairwise_sums():
    rng = np.random.default_rng(0)
    kxx, kyy, kxy = rng.normal(size=(4, 4)), rng.normal(size=(3, 3)), rng.normal(size=(4, 3))
    assert mmd2_unbiased(kxx, kyy, kxy) == pytest.approx(direct_mmd2(kxx, kyy, kxy))
    # The diagonals must not count: changing them leaves the estimate unchanged.
    assert mmd2_unbiased(kxx + 5 * np.eye(4), kyy, kxy) == pytest.approx(mmd2_unbiased(kxx, kyy, kxy))


@pytest.mark.parametrize("precompute_rows", [0, kid_module.PRECOMPUTE_ROWS])
def test_kid_on_whole_sets_is_mmd2_with_the_cubic_kernel(monkeypatch, precompute_rows):
    monkeypatch.setattr(kid_module, "PRECOMPUTE_ROWS", precompute_rows)  # both Gram paths agree
    real, fake = gaussian(6, d=3), gaussian(6, d=3, shift=0.5, seed=1)
    k = lambda a, b: (a @ b.T / 3 + 1) ** 3  # noqa: E731
    result = kernel_inception_distance(real, fake)
    assert result["kid"] == pytest.approx(direct_mmd2(k(real, real), k(fake, fake), k(real, fake)))
    assert result["kid_std"] == 0.0  # every subset is the whole of both sets


def test_kid_is_near_zero_for_one_distribution_and_large_for_a_shifted_one():
    real = gaussian(300)
    same = kernel_inception_distance(real, gaussian(300, seed=1), subsets=30, subset_size=100)
    shifted = kernel_inception_distance(real, gaussian(300, shift=1.0, seed=1), subsets=30, subset_size=100)
    assert abs(same["kid"]) < 2 * same["kid_std"]
    assert shifted["kid"] > 10 * (abs(same["kid"]) + same["kid_std"])


def test_kid_subsets_are_seeded():
    real, fake = gaussian(60), gaussian(60, shift=0.3, seed=1)
    run = lambda seed: kernel_inception_distance(real, fake, subsets=10, subset_size=20, seed=seed)  # noqa: E731
    assert run(0) == run(0)
    assert run(0)["kid"] != run(1)["kid"]


def test_kid_works_on_five_image_classes_and_is_none_below_two():
    small = kernel_inception_distance(gaussian(5), gaussian(40, seed=1))
    assert np.isfinite(small["kid"]) and small["kid_std"] > 0  # fake subsets of 5 still vary
    assert np.isfinite(kernel_inception_distance(gaussian(5), gaussian(5, seed=1))["kid"])
    assert kernel_inception_distance(gaussian(1), gaussian(5)) == {"kid": None, "kid_std": None}


# --- precision / recall / density / coverage --------------------------------------------------------

def two_clusters(n=40, seed=0):
    """Two tight clusters 100 apart, n rows each: cluster A first, then cluster B."""
    a = gaussian(n, d=2, seed=seed)
    return np.concatenate([a, a + np.array([100.0, 0.0])])


def test_prdc_identical_sets():
    real = two_clusters()
    result = precision_recall_density_coverage(real, real.copy(), k=5)
    assert result["precision"] == result["recall"] == result["coverage"] == 1.0
    # Each fake sits on a real point, inside its own ball and k others: density is (k + 1) / k.
    assert result["density"] == pytest.approx(6 / 5) and result["k"] == 5


def test_prdc_far_away_fakes_score_zero():
    real = two_clusters()
    result = precision_recall_density_coverage(real, real + 1000.0)
    assert result["precision"] == result["recall"] == result["density"] == result["coverage"] == 0.0


def test_prdc_fakes_covering_one_of_two_clusters():
    real = two_clusters(n=100)
    fake = gaussian(100, d=2, seed=7)  # fresh samples of cluster A only
    result = precision_recall_density_coverage(real, fake)
    assert result["precision"] > 0.9 and 0.7 < result["density"] < 1.3  # what it makes is faithful
    assert 0.4 < result["recall"] <= 0.5 and 0.4 < result["coverage"] <= 0.5  # half the modes missed


def test_prdc_clips_k_for_small_classes_and_is_none_below_two():
    result = precision_recall_density_coverage(gaussian(3), gaussian(10, seed=1), k=5)
    assert result["k"] == 2 and 0 <= result["precision"] <= 1
    assert set(precision_recall_density_coverage(gaussian(1), gaussian(10)).values()) == {None}


def test_prdc_of_large_sets_is_measured_on_a_bounded_sample_that_keeps_the_numbers(monkeypatch):
    """Every pair of rows grows with the square of a class: above max_rows a seeded sample stands in."""
    import gan_aug.metrics.prdc as prdc

    real, fake = two_clusters(n=300), gaussian(600, d=2, seed=7)  # fakes of cluster A only
    full = precision_recall_density_coverage(real, fake, max_rows=10_000)
    shapes = []
    original = prdc.pairwise_distances
    monkeypatch.setattr(prdc, "pairwise_distances", lambda a, b: shapes.append((len(a), len(b))) or original(a, b))
    sampled = precision_recall_density_coverage(real, fake, max_rows=200, seed=3)
    assert shapes and max(max(shape) for shape in shapes) == 200  # no 600 × 600 matrix was made
    for name in ("precision", "recall", "density", "coverage"):
        assert sampled[name] == pytest.approx(full[name], abs=0.12)
    assert 0.35 < sampled["recall"] < 0.65 and sampled["precision"] > 0.85
    assert sampled == precision_recall_density_coverage(real, fake, max_rows=200, seed=3)  # seeded


# --- floors, intervals, per-class dict ------------------------------------------------------------------

def test_split_halves_are_disjoint_equal_and_seeded():
    a, b = split_halves(11, seed=3)
    assert len(a) == len(b) == 5 and not set(a) & set(b)
    assert np.array_equal(split_halves(11, seed=3)[0], a)
    assert not np.array_equal(split_halves(11, seed=4)[0], a)


def test_floors_are_small_next_to_a_real_difference():
    real = gaussian(400)
    assert fd_floor(real) < 0.1 * frechet_distance(real, gaussian(400, shift=1.0, seed=1))
    assert abs(kid_floor(real)) < 0.1 * kernel_inception_distance(real, gaussian(400, shift=1.0, seed=1))["kid"]
    a, b = split_halves(len(real), seed=2)  # the floor is the distance between the two halves
    assert fd_floor(real, seed=2) == pytest.approx(frechet_distance(real[a], real[b]))
    assert fd_floor(gaussian(3)) is None and kid_floor(gaussian(3)) is None


def test_bootstrap_interval_holds_the_estimate_and_is_none_for_tiny_sets():
    real, fake = gaussian(200), gaussian(200, shift=1.0, seed=1)
    low, high = fd_bootstrap_interval(real, fake, rounds=50)
    assert low < frechet_distance(real, fake) < high
    assert fd_bootstrap_interval(real, fake, rounds=50) == (low, high)  # seeded
    assert fd_bootstrap_interval(gaussian(1), fake) is None


def test_matched_fd_sits_at_the_floor_for_one_distribution_and_far_above_for_a_shifted_one():
    """Same sizes on both sides of the ratio, so a generator as good as the data scores about 1."""
    real = gaussian(60)
    floor = fd_floor(real, seed=4)
    same = fd_matched(real, gaussian(2000, seed=9), seed=4)
    shifted = fd_matched(real, gaussian(2000, shift=1.0, seed=9), seed=4)
    assert 0.5 < same / floor < 2.0 and shifted / floor > 4.0
    a, _ = split_halves(60, seed=4)  # half A is the floor's half A
    fakes = gaussian(30, seed=9)
    assert fd_matched(real, fakes, seed=4, rounds=1) == pytest.approx(frechet_distance(real[a], fakes))
    assert fd_matched(gaussian(3), fakes) is None


def test_kid_interval_holds_zero_for_one_distribution_and_excludes_it_for_a_shifted_one():
    real = gaussian(80)
    low, high = kid_bootstrap_interval(real, gaussian(80, seed=1), rounds=100)
    assert low < 0.0 < high
    low, high = kid_bootstrap_interval(real, gaussian(80, shift=1.0, seed=1), rounds=100)
    kid = kernel_inception_distance(real, gaussian(80, shift=1.0, seed=1))["kid"]
    assert 0.0 < low < kid < high
    assert kid_bootstrap_interval(real, gaussian(80, seed=1), rounds=20) == \
        kid_bootstrap_interval(real, gaussian(80, seed=1), rounds=20)  # seeded
    assert kid_bootstrap_interval(gaussian(1), real) is None


def test_kid_resample_leaves_out_pairs_of_the_same_source_row():
    """Duplicated rows in a resample must not count as pairs, or the estimate would lean high."""
    k = np.array([[5.0, 1.0], [1.0, 3.0]])
    rows = np.array([0, 0, 1])
    kxx = k[np.ix_(rows, rows)]
    value = kid_module._mmd2_distinct(kxx, kxx, kxx, rows, rows)
    # Distinct-row pairs: (0,1) twice each way and (0,1)/(1,0) from the duplicate: all have k = 1.
    assert value == pytest.approx(1.0 + 1.0 - 2.0 * kxx.mean())


def test_class_quality_has_every_key_and_none_where_undefined():
    one_real = class_quality(gaussian(1), gaussian(10, seed=1), bootstrap_rounds=5)
    assert set(one_real) == CLASS_KEYS and set(one_real.values()) == {None}
    full = class_quality(gaussian(30), gaussian(30, shift=0.5, seed=1), bootstrap_rounds=10)
    assert set(full) == CLASS_KEYS and all(isinstance(v, float) for v in full.values())
    assert json.loads(json.dumps(full)) == full  # JSON-ready: plain floats, no NaN
