import numpy as np
import pytest
import torch

from gan_aug.checkpoint import CheckpointError, load_checkpoint, load_sampler
from gan_aug.config import GANConfig
from gan_aug.train import class_sampling_weights, train_gan

TINY = dict(z_dim=8, base_channels=8, batch_size=8, checkpoint_every=5)


def test_sampling_weights_balance_classes():
    labels = np.array([0] * 8 + [1] * 2)
    for mode, share in [("uniform", 0.2), ("balanced", 0.5)]:
        w = class_sampling_weights(labels, 2, mode).numpy()
        assert w[labels == 1].sum() / w.sum() == pytest.approx(share)
    sqrt = class_sampling_weights(labels, 2, "sqrt").numpy()
    assert sqrt[labels == 1].sum() / sqrt.sum() == pytest.approx(2**0.5 / (2**0.5 + 8**0.5))


def test_trains_writes_checkpoint_and_is_deterministic(tmp_path, tiny_set):
    cfg = GANConfig(steps=6, **TINY)
    a = train_gan(tiny_set, cfg, tmp_path / "a.pt", config_hash="h")
    b = train_gan(tiny_set, cfg, tmp_path / "b.pt", config_hash="h")
    assert a.steps == 6 and [r["step"] for r in a.history] == [6]
    # The same training writes the same bytes: the clock's numbers are kept beside the checkpoint.
    assert a.sha256 == b.sha256 and a.history[0]["images_per_s"] > 0
    assert "train_seconds" not in load_checkpoint(a.checkpoint) and (tmp_path / "a.timing.json").is_file()
    sa, sb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
    for key in sa["generator_ema"]:
        torch.testing.assert_close(sa["generator_ema"][key], sb["generator_ema"][key])
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # atomic writes leave nothing behind


def test_resume_continues_to_the_same_weights(tmp_path, tiny_set):
    straight = train_gan(tiny_set, GANConfig(steps=10, **TINY), tmp_path / "s.pt", config_hash="h")
    train_gan(tiny_set, GANConfig(steps=10, **TINY), tmp_path / "r.pt", config_hash="h")
    # Simulate a crash after step 5 by replacing the finished checkpoint with the step-5 one.
    half = train_gan(tiny_set, GANConfig(steps=5, **TINY), tmp_path / "half.pt", config_hash="h")
    (tmp_path / "r.pt").write_bytes(half.checkpoint.read_bytes())
    resumed = train_gan(tiny_set, GANConfig(steps=10, **TINY), tmp_path / "r.pt", config_hash="h")
    assert resumed.resumed_from == 5 and resumed.steps == 10
    s, r = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    for key in s["generator"]:
        torch.testing.assert_close(s["generator"][key], r["generator"][key])


def test_finished_checkpoint_is_reused_not_retrained(tmp_path, tiny_set):
    first = train_gan(tiny_set, GANConfig(steps=5, **TINY), tmp_path / "g.pt", config_hash="h")
    again = train_gan(tiny_set, GANConfig(steps=5, **TINY), tmp_path / "g.pt", config_hash="h")
    assert again.resumed_from == 5 and again.sha256 == first.sha256
    # The timing file gives the reused run its seconds and images/s back.
    assert again.train_seconds == first.train_seconds > 0 and again.history == first.history


def test_checkpoint_of_other_settings_is_refused(tmp_path, tiny_set):
    train_gan(tiny_set, GANConfig(steps=5, **TINY), tmp_path / "g.pt", config_hash="h")
    with pytest.raises(CheckpointError, match="other data or GAN settings"):
        train_gan(tiny_set, GANConfig(steps=5, **TINY), tmp_path / "g.pt", config_hash="other")


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path, tiny_set):
    path = tmp_path / "g.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="g.pt.*corrupt"):
        train_gan(tiny_set, GANConfig(steps=5, **TINY), path, config_hash="h")
    with pytest.raises(CheckpointError, match="not found"):
        load_sampler(tmp_path / "missing.pt")


@pytest.mark.slow
def test_generator_learns_the_classes(tmp_path, digits_set):
    """On three digit classes, a 700-step run makes samples a real-data classifier recognises.

    (Measured: 0.91–0.97 per class, 0.99 after 1,000 steps; 400 steps leave class 0 at chance, so
    the bar is meaningful.)"""
    from gan_aug.classify import predict, train_classifier
    from gan_aug.generators.gan import sample_class
    from gan_aug.sampling import sample_seeds

    subset = digits_set.subset(np.flatnonzero(digits_set.labels < 3))
    subset = type(subset)(subset.images, subset.labels, ("0", "1", "2"))
    result = train_gan(subset, GANConfig(steps=700, base_channels=32, batch_size=64), tmp_path / "g.pt",
                       config_hash="h")
    generator, discriminator = load_sampler(result.checkpoint)
    judge = train_classifier(subset.images, subset.labels, 3, steps=200)
    for label in range(3):
        images, _ = sample_class(generator, discriminator, label, sample_seeds(0, label, 0, 100))
        assert (predict(judge, images) == label).mean() > 0.8, f"class {label} not learned"


def _monitor(data, classes, samples=16):
    from gan_aug.metrics.domain_classifier import train_domain_extractor
    from gan_aug.metrics.extractors import DomainExtractor
    from gan_aug.monitor import build_monitor

    extractor = DomainExtractor(train_domain_extractor(data, steps=5))
    return build_monitor(extractor, data, data, classes, samples=samples)


def test_fd_checks_keep_the_best_weights_per_class(tmp_path, tiny_set):
    monitor = _monitor(tiny_set, [1, 2])
    cfg = GANConfig(steps=20, eval_every=5, early_stop_patience=0, **TINY)
    result = train_gan(tiny_set, cfg, tmp_path / "g.pt", config_hash="h", monitor=monitor)
    assert [q["step"] for q in result.quality_history] == [5, 10, 15, 20]
    state = load_checkpoint(result.checkpoint)
    for label in (1, 2):
        fds = {q["step"]: q["fd"][str(label)] for q in result.quality_history}
        best_step = min(fds, key=fds.get)
        assert result.best[label] == {"step": best_step, "fd": pytest.approx(fds[best_step], abs=1e-3)}
        generator, _ = load_sampler(result.checkpoint, label=label)
        for key, value in state["snapshots"][str(best_step)].items():
            torch.testing.assert_close(generator.state_dict()[key], value)
    # Only snapshots some class refers to are kept.
    assert set(state["snapshots"]) == {str(result.best[label]["step"]) for label in (1, 2)}
    final, _ = load_sampler(result.checkpoint)  # no label: the final EMA weights
    for key, value in state["generator_ema"].items():
        torch.testing.assert_close(final.state_dict()[key], value)


def test_training_stops_early_when_fd_stops_improving_and_the_stop_is_kept(tmp_path, tiny_set):
    monitor = _monitor(tiny_set, [1, 2])
    # Only a 99.9% drop counts as improving: after the first check, none does.
    cfg = GANConfig(steps=100, eval_every=5, early_stop_patience=2, early_stop_min_delta=0.999, **TINY)
    result = train_gan(tiny_set, cfg, tmp_path / "g.pt", config_hash="h", monitor=monitor)
    assert result.stopped_early and result.steps == 15
    again = train_gan(tiny_set, cfg, tmp_path / "g.pt", config_hash="h", monitor=monitor)
    assert again.resumed_from == 15 and again.steps == 15 and again.sha256 == result.sha256


@pytest.mark.parametrize("options", [
    dict(regularization="r1", diffaugment="off"),
    dict(regularization="lecam", diffaugment=["translation", "cutout", "color"], augment_p=1.0),
    dict(regularization="none", diffaugment="auto", augment_p=0.5),
])
def test_regularisers_and_augmentation_train(tmp_path, tiny_set, options):
    result = train_gan(tiny_set, GANConfig(steps=4, **{**TINY, **options}), tmp_path / "g.pt", config_hash="h",
                       log_every=1)
    assert len(result.history) == 4
    for record in result.history:
        assert np.isfinite([record["loss_d"], record["loss_g"], record["penalty"]]).all()
    if options["regularization"] != "none":
        assert any(record["penalty"] > 0 for record in result.history)


def test_adaptive_augmentation_rises_only_while_the_discriminator_overfits():
    from gan_aug.models.diffaugment import resolve_policy
    from gan_aug.train.ada import ADA_INTERVAL, ADA_SPEED_IMAGES, AdaptiveAugment

    cfg = GANConfig(**TINY)
    augment = AdaptiveAugment(resolve_policy(cfg.diffaugment, 1), cfg.augment_p, torch.Generator())
    assert augment.adaptive and float(augment.p) == 0.0
    for step in range(1, ADA_INTERVAL + 1):  # D calls every real image real: memorising
        augment.update(torch.ones(8), step)
    assert float(augment.p) == pytest.approx(ADA_INTERVAL * 8 / ADA_SPEED_IMAGES)
    for step in range(ADA_INTERVAL + 1, 4 * ADA_INTERVAL + 1):  # D unsure of the reals: p falls back, never below 0
        augment.update(-torch.ones(8), step)
    assert float(augment.p) == 0.0


def test_one_class_training_set_relabels_to_zero(digits_set):
    single = digits_set.single_class(7)
    assert single.class_names == ("7",) and (single.labels == 0).all()
    assert len(single) == (digits_set.labels == 7).sum()
    np.testing.assert_array_equal(digits_set.images[single.source_index], single.images)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_with_bf16_and_channels_last(tmp_path, tiny_set):
    result = train_gan(tiny_set, GANConfig(steps=10, device="cuda", **TINY), tmp_path / "g.pt",
                       config_hash="h", device="cuda", log_every=5)
    assert result.steps == 10 and all(np.isfinite(r["loss_d"]) for r in result.history)
    generator, _ = load_sampler(result.checkpoint, "cuda")
    assert next(generator.parameters()).is_cuda
