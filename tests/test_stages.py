"""The pipeline's stages as library functions: which GAN makes which class, and with which weights."""
from __future__ import annotations

import numpy as np
import pytest

from gan_aug.checkpoint import load_checkpoint
from gan_aug.config import FilterConfig, GANConfig, GenerateConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.metrics.domain_classifier import train_domain_extractor
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.stages import accept, generate_filtered, plan_gans, shortfall_message, train_job

TINY = dict(z_dim=8, base_channels=8, batch_size=8, checkpoint_every=5)


def test_shared_plan_is_one_conditional_gan_that_knows_every_class_by_its_own_label():
    (job,) = plan_gans("shared", [3, 5])
    assert job.shared and job.classes == (3, 5) and job.key == "shared"
    assert [job.model_label(k) for k in (3, 5)] == [3, 5] and job.config_hash("h") == "h"


def test_per_class_plan_trains_each_class_alone_as_label_zero(tiny_set):
    jobs = plan_gans("per_class", [1, 2])
    assert [(j.classes, j.key, j.model_label(j.single_class)) for j in jobs] == [((1,), "1", 0), ((2,), "2", 0)]
    assert jobs[0].config_hash("h") == "h:class-1" != jobs[1].config_hash("h")
    single = jobs[1].training_set(tiny_set)
    assert single.class_names == ("c",) and (single.labels == 0).all() and len(single) == 3
    with pytest.raises(ValueError, match="gan.strategy"):
        plan_gans("per_image", [1])


@pytest.fixture(scope="module")
def domain(digits_set):
    return DomainExtractor(train_domain_extractor(digits_set, steps=30))


@pytest.mark.parametrize("strategy", ["shared", "per_class"])
def test_each_class_is_sampled_from_the_weights_of_its_best_fd_check(tmp_path, digits_set, domain, strategy):
    cfg = GANConfig(steps=20, eval_every=5, early_stop_patience=0, eval_samples=16, **TINY)
    for job in plan_gans(strategy, [8, 9]):
        trained = train_job(job, digits_set, digits_set, cfg, tmp_path / f"{job.key}.pt", base_hash="h",
                            domain=domain)
        state = load_checkpoint(trained.result.checkpoint)
        for label in job.classes:
            sampler = trained.samplers[label]
            assert sampler.step == trained.result.best[label]["step"] == state["best"][str(label)]["step"]
            assert sampler.model_label == job.model_label(label) and sampler.shared == job.shared
            assert sampler.sha256 == trained.result.sha256
            generator, _ = sampler.load()
            snapshot = state["snapshots"][str(sampler.step)]
            assert all(np.array_equal(generator.state_dict()[k].numpy(), v.numpy()) for k, v in snapshot.items())


def test_without_fd_checks_a_class_is_sampled_from_the_final_weights(tmp_path, tiny_set):
    (job,) = plan_gans("shared", [2])
    trained = train_job(job, tiny_set, tiny_set, GANConfig(steps=6, eval_every=0, **TINY), tmp_path / "g.pt",
                        base_hash="h", domain=None)
    assert trained.samplers[2].step == 6 and not trained.result.quality_history


def test_generation_and_acceptance_fill_and_judge_a_class(tmp_path, digits_set, domain):
    (job,) = plan_gans("shared", [9])
    trained = train_job(job, digits_set, digits_set, GANConfig(steps=10, eval_every=0, **TINY), tmp_path / "g.pt",
                        base_hash="h", domain=domain)
    filters = FilterConfig(filters=["label", "memorisation"], label_threshold=0.0, bootstrap_rounds=5)
    asked = []
    synthetic, stats = generate_filtered(trained.samplers[9], 20, filters=filters, generate=GenerateConfig(),
                                         val=digits_set, train=digits_set, domain=domain,
                                         train_features=lambda: asked.append(1) or domain.features(digits_set.images))
    assert len(synthetic) == 20 and (synthetic.labels == 9).all() and asked == [1]  # the index is built once
    assert stats.funnel["generated"] >= 20 and shortfall_message(9, stats, 20, 20.0) is None
    kept = accept(synthetic, digits_set, domain, filters, seed=0)
    assert kept.report.status == {9: "ok" if kept.report.quality[9]["fd_ratio"] <= 4 else "flagged"}
    dropped = accept(synthetic, digits_set, domain, filters.model_copy(update={"fd_policy": "drop",
                                                                                "fd_max_ratio": 1e-9}), seed=0)
    assert dropped.report.dropped == [9] and len(dropped.accepted) == 0 and "dropped" in dropped.report.message


def test_shortfall_message_says_how_far_the_class_got(tmp_path):
    from gan_aug.sampling import ClassGeneration

    stats = ClassGeneration(4, needed=10, generated=30, accepted=6, funnel={}, filters={})
    assert shortfall_message("'b'", stats, 6, 3.0) == (
        "class 'b': only 6 of 10 synthetic samples passed the filters within the budget (30 generated, "
        "generate.budget_factor 3); duplicated real rows make up the rest of its target")
    assert shortfall_message(4, stats, 10, 3.0) is None


def test_the_few_validation_images_warning_names_the_classes_as_the_user_does(tmp_path, tiny_set):
    """Labels reach train_job as numpy ints from the library API: the warning still says 'dog', never
    np.int64(1)."""
    named = ImageSet(tiny_set.images, tiny_set.labels, ("cat", "dog", "bird"))
    val = named.subset(np.flatnonzero(named.labels > 0)[::2])  # 3 'dog' and 2 'bird' images: under 5 each
    domain = DomainExtractor(train_domain_extractor(named, steps=2))
    warnings = []
    for classes, expected in (((1, 2), "classes 'dog', 'bird' have"), ((2,), "class 'bird' has")):
        (job,) = plan_gans("shared", list(np.array(classes, dtype=np.int64)))
        train_job(job, named, val, GANConfig(steps=2, eval_every=2, eval_samples=4, **TINY),
                  tmp_path / f"{len(classes)}.pt", base_hash="h", domain=domain, warn=warnings.append)
        assert len(warnings) == 1 and expected in warnings[0] and "np." not in warnings[0], warnings
        warnings.clear()
