"""Each filter rejects planted bad samples (noise, another class's images, copies of training images)
and keeps good ones (real held-out images), with a real discriminator and a real domain classifier."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from gan_aug.config import FilterConfig, GANConfig
from gan_aug.filters import (
    Candidates,
    DiscriminatorFilter,
    FDAcceptanceError,
    FilterChain,
    LabelConsistencyFilter,
    MemorisationFilter,
    NearestReal,
    calibrate_discriminator,
    decide,
    discriminator_scores,
    judge_class,
    memorisation_radius,
)
from gan_aug.filters.build import build_chain
from gan_aug.filters.label import calibrate_label
from gan_aug.generators.gan import GANGenerator, sample_class
from gan_aug.metrics.domain_classifier import train_domain_extractor
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.sampling import generate_class, load_rejected, sample_seeds, save_rejected
from gan_aug.train import train_gan

LABEL = 3


@pytest.fixture(scope="module")
def parts(digits_set, tmp_path_factory):
    """Digits split 75/25, a domain classifier, and a conditional GAN trained briefly on the 75%."""
    rows_train, rows_val = train_test_split(np.arange(len(digits_set)), test_size=0.25,
                                            stratify=digits_set.labels, random_state=0)
    train, val = digits_set.subset(rows_train), digits_set.subset(rows_val)
    domain = DomainExtractor(train_domain_extractor(train, steps=200))
    result = train_gan(train, GANConfig(steps=150, eval_every=0, z_dim=32, base_channels=16),
                       tmp_path_factory.mktemp("gan") / "gan.pt", config_hash="filters")
    gan = GANGenerator.load(result.checkpoint)
    features = domain.features(train.images)
    return {"train": train, "val": val, "domain": domain, "generator": gan.generator, "D": gan.discriminator,
            "gan": gan, "features": features, "nearest": NearestReal(features), "sha": result.sha256}


@pytest.fixture(scope="module")
def planted(parts):
    rng = np.random.default_rng(0)
    return {
        "noise": rng.integers(0, 256, (40, 1, 8, 8), dtype=np.uint8),
        "other class": parts["val"].of_class(LABEL + 1),
        "copies": parts["train"].of_class(LABEL)[:30],
        "good": parts["val"].of_class(LABEL),
    }


def _kept(sample_filter, parts, images: np.ndarray, label: int = LABEL) -> float:
    scores = discriminator_scores(parts["D"], images, np.full(len(images), label))
    batch = Candidates(label, images, {"d_score": scores})
    return float(sample_filter.keep(sample_filter.score(batch)).mean())


def test_discriminator_filter_is_calibrated_on_held_out_real_images(parts, planted):
    d_filter = calibrate_discriminator(parts["D"], parts["val"].of_class(LABEL), LABEL, 0.05)
    real_scores = discriminator_scores(parts["D"], parts["val"].of_class(LABEL), np.full(46, LABEL))
    assert d_filter.threshold == pytest.approx(np.quantile(real_scores, 0.05))
    assert d_filter.describe()["calibration"] == "val" and d_filter.calibration_images == 46
    assert _kept(d_filter, parts, planted["noise"]) == 0.0
    assert _kept(d_filter, parts, planted["good"]) >= 0.9  # 95% by construction, on the calibration images


def test_discriminator_filter_pools_or_tops_up_when_a_class_has_few_held_out_images(parts):
    few = parts["val"].of_class(LABEL)[:2]
    pooled = calibrate_discriminator(parts["D"], few, LABEL, 0.05, pooled=(parts["val"].images, parts["val"].labels))
    assert pooled.calibration == "pooled" and pooled.calibration_images == len(parts["val"])
    topped = calibrate_discriminator(parts["D"], few, LABEL, 0.05, fallback=parts["train"].of_class(LABEL))
    assert topped.calibration == "val+train" and topped.calibration_images == 2 + len(parts["train"].of_class(LABEL))
    with pytest.raises(ValueError, match="no real images"):
        calibrate_discriminator(parts["D"], few[:0], LABEL, 0.05)


def test_discriminator_filter_own_cap_lowers_a_pooled_threshold_to_the_class_own_few_images(parts, planted):
    """d_own_cap: a class whose few held-out images D scores below the pooled threshold is held to those
    images (a D that overfits a tail class's training images), never stricter than pooled."""
    pooled_set = (parts["val"].images, parts["val"].labels)
    pooled = calibrate_discriminator(parts["D"], planted["noise"][:3], LABEL, 0.05, pooled=pooled_set)
    low = calibrate_discriminator(parts["D"], planted["noise"][:3], LABEL, 0.05, pooled=pooled_set, own_cap=True)
    own = discriminator_scores(parts["D"], planted["noise"][:3], np.full(3, LABEL))
    assert np.quantile(own, 0.05) < pooled.threshold  # D finds noise less real than the real images
    assert low.threshold == pytest.approx(np.quantile(own, 0.05))
    assert low.calibration == "val (below pooled)" and low.calibration_images == 3
    scores = discriminator_scores(parts["D"], parts["val"].of_class(LABEL), np.full(46, LABEL))
    best = parts["val"].of_class(LABEL)[np.argsort(scores)[-3:]]  # scored above the pooled threshold
    high = calibrate_discriminator(parts["D"], best, LABEL, 0.05, pooled=pooled_set, own_cap=True)
    assert high.threshold == pooled.threshold and high.calibration == "pooled"


def test_label_filter_rejects_other_classes_and_noise_and_keeps_the_class(parts, planted):
    label_filter = LabelConsistencyFilter(parts["domain"], 0.5)
    assert _kept(label_filter, parts, planted["other class"]) == 0.0
    assert _kept(label_filter, parts, planted["noise"]) <= 0.1
    assert _kept(label_filter, parts, planted["good"]) >= 0.9
    with pytest.raises(ValueError, match="probability"):
        LabelConsistencyFilter(parts["domain"], 1.5)


def test_label_filter_calibrated_per_class_asks_no_more_than_the_class_real_images_give(parts, planted):
    """label_quantile: τ is the quantile of the domain classifier's probability on the class's held-out
    images, capped at label_threshold; too few held-out images take the training ones in too."""
    held_out, training = parts["val"].of_class(LABEL), parts["train"].of_class(LABEL)
    probabilities = parts["domain"].probabilities(held_out)[:, LABEL]
    config = FilterConfig(filters=["label"], label_threshold=1.0, label_quantile=0.2)
    chain = build_chain(config, LABEL, generator=parts["gan"], val=parts["val"], train=parts["train"],
                        domain=parts["domain"])
    calibrated = chain.filters[0]
    assert calibrated.threshold == pytest.approx(np.quantile(probabilities, 0.2))
    assert calibrated.describe() == {"threshold": calibrated.threshold, "calibration": "val",
                                     "calibration_images": len(held_out)}
    assert 0.75 <= _kept(calibrated, parts, planted["good"]) < 1.0  # 80% by construction, on its own images
    assert _kept(calibrated, parts, planted["other class"]) <= 0.1
    capped = calibrate_label(parts["domain"], LABEL, 0.01, 0.2, held_out, training)
    assert capped.threshold == 0.01  # never stricter than the fixed threshold
    few = calibrate_label(parts["domain"], LABEL, 1.0, 0.2, held_out[:2], training)
    assert few.calibration == "val+train" and few.calibration_images == 2 + len(training)
    with pytest.raises(ValueError, match="no real images"):
        calibrate_label(parts["domain"], LABEL, 1.0, 0.2, held_out[:0], training[:0])
    fixed = build_chain(FilterConfig(filters=["label"]), LABEL, generator=parts["gan"], val=parts["val"],
                        train=parts["train"], domain=parts["domain"]).filters[0]
    assert fixed.threshold == 0.9 and fixed.describe() == {"threshold": 0.9}


def test_memorisation_filter_rejects_copies_and_near_copies_and_keeps_held_out_images(parts, planted):
    rows = np.flatnonzero(parts["train"].labels == LABEL)
    memo = MemorisationFilter(parts["domain"], parts["nearest"], rows, 0.05)
    assert memo.threshold == pytest.approx(np.quantile(parts["nearest"].real_to_real(rows), 0.05))
    assert _kept(memo, parts, planted["copies"]) == 0.0
    # A copy with one pixel nudged by one grey level is still a copy.
    near = planted["copies"].copy()
    near[:, 0, 4, 4] = np.clip(near[:, 0, 4, 4].astype(int) + 1, 0, 255).astype(np.uint8)
    assert _kept(memo, parts, near) == 0.0
    assert _kept(memo, parts, planted["good"]) >= 0.85


def test_memorisation_radius_stays_above_zero_when_the_real_data_hold_duplicates():
    features = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    index = NearestReal(features)
    np.testing.assert_allclose(index.real_to_real(np.arange(4)), [0.0, 0.0, 3.0, 4.0])
    radius = memorisation_radius(index.real_to_real(np.arange(4)), 0.05)
    assert 0.0 < radius < 1e-3  # the quantile is 0, the floor keeps exact copies out
    assert index.distances(np.array([[3.0, 0.0]]))[0] <= radius


def test_chain_counts_a_sequential_funnel_and_who_rejected_first(parts, planted):
    chain = build_chain(FilterConfig(), LABEL, generator=parts["gan"], val=parts["val"], train=parts["train"],
                        domain=parts["domain"], train_features=lambda: parts["features"])
    assert chain.names == ["discriminator", "label", "memorisation"]
    images = np.concatenate([planted["noise"], planted["other class"], planted["copies"], planted["good"]])
    d_scores = discriminator_scores(parts["D"], images, np.full(len(images), LABEL))
    result = chain.apply(Candidates(LABEL, images, {"d_score": d_scores}))
    keeps = [f.keep(result.scores[f.name]) for f in chain.filters]
    assert result.survivors == [int(np.logical_and.reduce(keeps[: i + 1]).sum()) for i in range(3)]
    assert (result.keep == np.logical_and.reduce(keeps)).all()
    n_noise, n_other, n_copies = len(planted["noise"]), len(planted["other class"]), len(planted["copies"])
    copies = slice(n_noise + n_other, n_noise + n_other + n_copies)
    assert not result.keep[: n_noise + n_other + n_copies].any()  # every planted bad sample is out
    assert result.keep[copies.stop:].mean() >= 0.75  # most good ones stay
    assert (result.first_rejection[:n_noise] == 0).all()  # D catches the noise first
    assert ((result.first_rejection[copies] == 2) | (result.first_rejection[copies] == 0)).all()
    with pytest.raises(ValueError, match="once"):
        FilterChain([chain.filters[1], chain.filters[1]])


def test_generation_makes_up_for_rejections_within_the_budget(parts, tmp_path):
    """A briefly trained GAN's samples do not pass real-calibrated thresholds; here D's threshold is the
    median of its own samples' scores, so about half are rejected and must be made up for."""
    fake_scores = sample_class(parts["generator"], parts["D"], LABEL, sample_seeds(5, LABEL, 0, 256))[1]
    rows = np.flatnonzero(parts["train"].labels == LABEL)
    chain = FilterChain([
        DiscriminatorFilter(float(np.median(fake_scores)), quantile=0.5, calibration="test", calibration_images=0),
        LabelConsistencyFilter(parts["domain"], 0.0),
        MemorisationFilter(parts["domain"], parts["nearest"], rows, 0.05),
    ])
    calls = []
    synthetic, stats = generate_class(parts["gan"], LABEL, 40, chain=chain, batch_size=32, budget_factor=20, seed=0,
                                      progress=lambda *args, **details: calls.append((*args, details)), keep_rejected=5)
    assert len(synthetic) == 40 and stats.accepted >= 40 and stats.generated > 40  # rejections were made up for
    assert list(stats.funnel) == ["generated", "discriminator", "label", "memorisation"]
    assert stats.funnel["generated"] == stats.generated and stats.funnel["memorisation"] == stats.accepted
    assert stats.generated <= 800 and stats.generated % 32 == 0
    assert calls[-1] == (40, 40, {"generated": stats.generated})
    # Every kept row clears every threshold, and its scores are the ones written to the shards.
    assert (synthetic.scores["d_score"] >= stats.filters["discriminator"]["threshold"]).all()
    label_probs = synthetic.scores["label_prob"]
    assert (label_probs >= 0.0).all() and not np.isnan(label_probs).any()
    assert (synthetic.scores["nn_distance"] > stats.filters["memorisation"]["threshold"]).all()
    assert all(len(images) <= 5 for images in stats.rejected.values()) and stats.rejected
    save_rejected(tmp_path / "r.npz", stats.rejected)
    assert {k: v.shape for k, v in load_rejected(tmp_path / "r.npz").items()} == \
        {k: v.shape for k, v in stats.rejected.items()}


def test_generation_ends_short_when_the_budget_runs_out(parts):
    impossible = LabelConsistencyFilter(parts["domain"], 1.0)  # no sample is ever certain enough
    synthetic, stats = generate_class(parts["gan"], LABEL, 10, chain=FilterChain([impossible]), batch_size=8,
                                      budget_factor=3, seed=0)
    assert len(synthetic) == 0 and stats.generated == 30 and stats.funnel == {"generated": 30, "label": 0}
    assert synthetic.images.shape[1:] == (1, 8, 8)


def _quality(ratio: float | None, n_real: int = 50) -> dict:
    return {"fd_matched": None if ratio is None else 2.0 * ratio, "fd_floor": 2.0, "fd_ratio": ratio,
            "n_real": n_real}


def test_fd_acceptance_policies():
    quality = {1: _quality(1.5), 2: _quality(9.0), 3: _quality(20.0, n_real=6), 4: _quality(None)}
    names = ["zero", "one", "two", "three", "four"]
    assert judge_class(quality[1], max_ratio=4, min_real=10) == "ok"
    warn = decide(quality, names, policy="warn", max_ratio=4, min_real=10)
    assert warn.status == {1: "ok", 2: "flagged", 3: "unjudged", 4: "unjudged"} and warn.drop == []
    assert "two (label 2)" in warn.message and "9.0×" in warn.message
    drop = decide(quality, names, policy="drop", max_ratio=4, min_real=10)
    assert drop.drop == [2] and drop.status[2] == "dropped"
    expected = r"fd_max_ratio = 4: two \(label 2\): FD 18.00 is 9.0× its real-vs-real floor 2.00"
    with pytest.raises(FDAcceptanceError, match=expected):
        decide(quality, names, policy="fail", max_ratio=4, min_real=10)
    assert decide({1: _quality(1.5)}, names, policy="fail", max_ratio=4, min_real=10).message is None
