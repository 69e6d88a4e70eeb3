import numpy as np
import pytest

from gan_aug.config import GANConfig
from gan_aug.filters import DiscriminatorFilter, FilterChain
from gan_aug.generators.gan import GANGenerator, sample_class
from gan_aug.metrics.fid import frechet_distance
from gan_aug.sampling import GIVE_UP_AFTER, generate_class, hopeless, sample_seeds
from gan_aug.synthetic import SyntheticSet
from gan_aug.train import train_gan


@pytest.fixture(scope="module")
def sampler(tmp_path_factory):
    rng = np.random.default_rng(0)
    from gan_aug.data.imageset import ImageSet

    data = ImageSet(rng.integers(0, 256, (20, 1, 8, 8), dtype=np.uint8), np.repeat(np.arange(2), 10), ("a", "b"))
    cfg = GANConfig(steps=3, z_dim=8, base_channels=8, batch_size=8)
    result = train_gan(data, cfg, tmp_path_factory.mktemp("g") / "g.pt", config_hash="h")
    gan = GANGenerator.load(result.checkpoint)
    assert gan.sha256 == result.sha256
    return gan.generator, gan.discriminator, gan


def test_seeds_are_distinct_across_classes_and_batches():
    seeds = np.concatenate([sample_seeds(1, label, start, 50) for label in range(3) for start in (0, 50)])
    assert len(np.unique(seeds)) == len(seeds)


def test_a_seed_regenerates_its_sample(sampler):
    generator, discriminator, _ = sampler
    seeds = sample_seeds(0, 1, 0, 6)
    batch, scores = sample_class(generator, discriminator, 1, seeds)
    alone, alone_scores = sample_class(generator, discriminator, 1, seeds[3:4])
    np.testing.assert_array_equal(batch[3], alone[0])
    assert batch.dtype == np.uint8 and batch.shape == (6, 1, 8, 8)
    np.testing.assert_allclose(scores[3], alone_scores[0], rtol=1e-4, atol=1e-5)


def _d_filter(threshold: float) -> FilterChain:
    return FilterChain([DiscriminatorFilter(threshold, quantile=0.5, calibration="val", calibration_images=10)])


def test_generate_class_keeps_only_samples_above_threshold(sampler):
    generator, discriminator, gan = sampler
    sha = gan.sha256
    scores = sample_class(generator, discriminator, 1, sample_seeds(0, 1, 0, 64))[1]
    threshold = float(np.median(scores))
    synthetic, stats = generate_class(gan, 1, 30, chain=_d_filter(threshold), batch_size=16, budget_factor=5, seed=0)
    assert len(synthetic) == 30 and (synthetic.labels == 1).all()
    assert (synthetic.scores["d_score"] >= stats.d_threshold).all() and stats.d_threshold == threshold
    assert stats.accepted >= 30 and stats.generated >= 48  # about half pass per batch
    assert (synthetic.generator_sha256 == sha).all() and synthetic.generators == {1: sha}
    assert np.isnan(synthetic.scores["label_prob"]).all()  # that filter was off
    # Rejected samples exist: the same seeds scored below the threshold were dropped.
    all_seeds = sample_seeds(0, 1, 0, stats.generated)
    assert len(np.setdiff1d(all_seeds, synthetic.seeds)) > 0


def test_budget_bounds_generation(sampler):
    generator, discriminator, gan = sampler
    scores = sample_class(generator, discriminator, 0, sample_seeds(0, 0, 0, 64))[1]
    synthetic, stats = generate_class(gan, 0, 40, chain=_d_filter(float(np.median(scores))), batch_size=8,
                                      budget_factor=1.0, seed=0)
    assert stats.generated == 40  # budget = needed × 1.0
    assert len(synthetic) < 40  # half were rejected and the budget ran out: the class ends short


def test_no_filters_keeps_every_sample(sampler):
    gan = sampler[2]
    synthetic, stats = generate_class(gan, 0, 20, chain=FilterChain([]), batch_size=8, budget_factor=1.0, seed=0)
    assert len(synthetic) == 20 and stats.funnel == {"generated": 20} and stats.d_threshold is None


def test_fd_closed_form_equal_covariances():
    """Same covariance, shifted mean: FD = ‖μ1 − μ2‖² (pytorch-fid's own closed-form check)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    b = a + np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(5.0, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")  # inside pytorch-fid
@pytest.mark.parametrize("rows_a", [500, 12], ids=["full-rank", "rank-deficient"])
def test_fd_matches_pytorch_fids_reference_implementation(rows_a):
    """The eigenvalue form gives pytorch-fid's number (scipy's sqrtm) on correlated features,
    and on a covariance of rank 11 in 32 dimensions, where pytorch-fid itself adds a small ridge."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    from gan_aug.metrics.fid import feature_statistics

    rng = np.random.default_rng(2)
    mix = rng.normal(size=(32, 32))
    a = rng.normal(size=(rows_a, 32)) @ mix
    b = rng.normal(loc=0.3, size=(400, 32)) @ (mix + 0.2 * rng.normal(size=(32, 32)))
    expected = calculate_frechet_distance(*feature_statistics(a), *feature_statistics(b))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6 if rows_a > 32 else 1e-4)


def test_fd_on_rank_deficient_small_class_is_finite():
    rng = np.random.default_rng(1)
    fd = frechet_distance(rng.normal(size=(5, 64)), rng.normal(size=(100, 64)))
    assert fd is not None and np.isfinite(fd) and fd > 0
    assert frechet_distance(rng.normal(size=(1, 8)), rng.normal(size=(10, 8))) is None


def test_quality_per_class_ranks_good_samples_closer(digits_set):
    """Real held-out images of a class sit closer to it than images of another class do, by every measure."""
    from gan_aug.metrics.domain_classifier import train_domain_extractor
    from gan_aug.metrics.extractors import DomainExtractor
    from gan_aug.metrics.per_class import QUALITY_KEYS, quality_per_class

    train = digits_set.subset(np.arange(0, 1797, 2))
    held = digits_set.subset(np.arange(1, 1797, 2))
    extractor = train_domain_extractor(train, steps=150)
    good = held.of_class(3)[:60]
    wrong = held.of_class(8)[:60]
    sha = "x" * 64
    synthetic = SyntheticSet(
        np.concatenate([good, wrong]), np.array([3] * 60 + [4] * 60), np.arange(120), sha,
        {"d_score": np.zeros(120, np.float32)},
    )
    quality = quality_per_class(DomainExtractor(extractor), train, synthetic, bootstrap_rounds=10)
    assert set(quality) == {3, 4} and set(quality[3]) >= set(QUALITY_KEYS)
    good, wrong = quality[3], quality[4]  # class 4's "samples" are eights
    assert good["fd"] < wrong["fd"] / 3 and good["kid"] < wrong["kid"]
    assert good["precision"] > 0.5 > wrong["precision"] and good["coverage"] > wrong["coverage"]
    assert good["fd_ci_low"] <= good["fd_ci_high"] and good["n_real"] == len(train.of_class(3))


def test_a_hopeless_class_stops_after_a_few_batches_and_says_why(sampler):
    """A threshold no sample reaches, 100 rows asked with a 20× budget: after GIVE_UP_AFTER batches of 128
    none passed, so the rate's 95% upper bound is 0.58%, and the 1,488 samples left would fill about 9
    rows, under 10% of 100: the class stops. Without give_up_share the whole budget is generated."""
    _, _, gan = sampler
    impossible = _d_filter(float("inf"))
    rows, stats = generate_class(gan, 1, 100, chain=impossible, batch_size=128, budget_factor=20, seed=0,
                                 give_up_share=0.1)
    assert len(rows) == 0 and stats.generated == GIVE_UP_AFTER * 128
    assert stats.gave_up.startswith("gave up after 512 samples: 0 passed the filters, so at most 0.58% would")
    assert "remaining budget of 1488" in stats.gave_up and stats.to_dict()["gave_up"] == stats.gave_up
    _, spent = generate_class(gan, 1, 100, chain=impossible, batch_size=128, budget_factor=20, seed=0)
    assert spent.generated == 2_000 and spent.gave_up is None


@pytest.mark.parametrize("accepted, generated, verdict", [(0, 512, "gave up"), (0, 64, None), (3, 512, None)])
def test_hopeless_weighs_the_upper_bound_against_what_is_still_needed(accepted, generated, verdict):
    # 0 of 64: the bound (4.6%) times the 1,936 left could still fill 88 rows; 3 of 512: 1.5% of 1,488, 22.
    found = hopeless(accepted, generated, needed=100, budget=2_000, share=0.1)
    assert (found is None) if verdict is None else found.startswith(verdict)
