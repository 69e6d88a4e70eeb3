"""gan.classifier_weight: the generator's auxiliary loss from the frozen domain classifier."""
import pytest
import torch

from gan_aug.checkpoint import CheckpointError, load_sampler
from gan_aug.config import GANConfig
from gan_aug.metrics.domain_classifier import train_domain_extractor
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.stages import plan_gans, train_job
from gan_aug.train import train_gan
from gan_aug.train.guide import ClassifierGuide

# A fast generator learning rate: at the default 2e-4 the class conditioning takes thousands of steps to move.
DIGITS_GAN = dict(z_dim=16, base_channels=16, batch_size=32, steps=200, lr_g=1e-3, eval_every=0,
                  checkpoint_every=1000, precision="fp32")


@pytest.fixture(scope="module")
def classifier(digits_set):
    return train_domain_extractor(digits_set, steps=150)


def _recognised(path, classifier, classes: int, per_class: int = 32) -> float:
    """Share of the EMA generator's samples, ``per_class`` of each class, the classifier calls their class."""
    generator, _ = load_sampler(path)
    y = torch.arange(classes).repeat_interleave(per_class)
    with torch.no_grad():
        fakes = generator(torch.randn(len(y), generator.z_dim, generator=torch.Generator().manual_seed(0)), y)
        return float((classifier(fakes).argmax(1) == y).float().mean())


@pytest.mark.slow
def test_the_classifier_loss_makes_samples_the_classifier_recognises(tmp_path, digits_set, classifier):
    """The same GAN, seed and steps, with and without the loss: with it, far more of each class's samples
    are recognised as that class (what the label filter asks of them)."""
    plain = train_gan(digits_set, GANConfig(**DIGITS_GAN), tmp_path / "plain.pt", config_hash="plain")
    guided = train_gan(digits_set, GANConfig(**DIGITS_GAN, classifier_weight=1.0), tmp_path / "guided.pt",
                       config_hash="guided", guide=ClassifierGuide(classifier, range(10)))
    before, after = _recognised(plain.checkpoint, classifier, 10), _recognised(guided.checkpoint, classifier, 10)
    assert before < 0.3 and after > 0.6, (before, after)  # measured: 0.10 and 0.77


def test_the_classifier_loss_without_a_classifier_is_refused(tmp_path, tiny_set):
    with pytest.raises(ValueError, match="gan.classifier_weight"):
        train_gan(tiny_set, GANConfig(steps=2, classifier_weight=0.5), tmp_path / "g.pt", config_hash="h")


def test_a_gan_guided_by_one_classifier_is_not_reused_with_another(tmp_path, digits_set, classifier):
    """The classifier's weights are part of what made the GAN. And the guide of a one-class GAN, whose
    networks know its class as label 0, scores label 0 as that data-set class."""
    job = plan_gans("per_class", [3])[0]
    cfg = GANConfig(**{**DIGITS_GAN, "steps": 4}, classifier_weight=1.0)
    other = train_domain_extractor(digits_set, steps=5, seed=1)
    args = dict(base_hash="b", device="cpu")
    trained = train_job(job, digits_set, digits_set, cfg, tmp_path / "g.pt", domain=DomainExtractor(classifier), **args)
    assert trained.result.steps == 4
    with pytest.raises(CheckpointError, match="other data or GAN settings"):
        train_job(job, digits_set, digits_set, cfg, tmp_path / "g.pt", domain=DomainExtractor(other), **args)
    guide = ClassifierGuide(classifier, [3])
    images = torch.zeros(2, 1, 8, 8)
    expected = torch.nn.functional.cross_entropy(classifier.eval()(images), torch.tensor([3, 3]))
    torch.testing.assert_close(guide(images, torch.tensor([0, 0])), expected)


def test_the_guide_stays_frozen_in_eval_mode(classifier):
    guide = ClassifierGuide(classifier, range(10)).train()
    assert not guide.classifier.training and not any(p.requires_grad for p in guide.parameters())
    assert guide.classifier is not classifier  # a copy: moving it to the GAN's device leaves the caller's alone
