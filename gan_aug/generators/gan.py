"""The class-conditional GAN as a ConditionalGenerator: the EMA generator samples, the discriminator
scores (``d_score``). The checkpoint is its saved form, unchanged."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from gan_aug.checkpoint import load_sampler
from gan_aug.data.imageset import ImageSet
from gan_aug.device import to_uint8
from gan_aug.filters.discriminator import discriminator_scores
from gan_aug.generators.base import ConditionalGenerator, Samples, register_generator
from gan_aug.hashing import file_sha256
from gan_aug.io import atomic_write
from gan_aug.models.discriminator import Discriminator
from gan_aug.models.generator import Generator


def latents(seeds: np.ndarray, z_dim: int) -> torch.Tensor:
    return torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


@torch.no_grad()
def sample_class(
    generator: Generator, discriminator: Discriminator, label: int, seeds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 N×C×H×W) and their discriminator scores for one class, ``label`` being the
    class as the networks know it (0 for a one-class GAN)."""
    device = next(generator.parameters()).device
    z = latents(seeds, generator.z_dim).to(device)
    y = torch.full((len(seeds),), label, dtype=torch.long, device=device)
    fake = generator(z, y)
    scores = discriminator(fake, y)
    return to_uint8(fake).numpy(), scores.float().cpu().numpy()


@register_generator("gan")
class GANGenerator(ConditionalGenerator):
    """A loaded GAN checkpoint: the shared conditional GAN (``single_class`` None) or one class's own,
    trained on that class alone as network label 0."""

    scores = ("d_score",)

    def __init__(self, generator: Generator, discriminator: Discriminator, sha256: str, *,
                 single_class: int | None = None, checkpoint: str | Path | None = None):
        self.generator, self.discriminator, self.sha256 = generator, discriminator, sha256
        self.single_class, self.checkpoint = single_class, checkpoint
        self.shared_scale = single_class is None  # one conditional D scores every class on one scale
        self.image_shape = (generator.channels, generator.image_size, generator.image_size)

    def model_labels(self, labels: np.ndarray) -> np.ndarray:
        """Data-set classes as the networks know them."""
        labels = np.asarray(labels)
        if self.single_class is None:
            return labels
        if (labels != self.single_class).any():
            raise ValueError(f"this GAN makes class {self.single_class} only, asked for {sorted(set(labels.tolist()))}")
        return np.zeros_like(labels)

    def sample(self, label: int, seeds: np.ndarray) -> Samples:
        condition = int(self.model_labels(np.array([label]))[0])
        images, d_scores = sample_class(self.generator, self.discriminator, condition, seeds)
        return Samples(images, {"d_score": d_scores})

    def score_real(self, score: str, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if score != "d_score":
            return super().score_real(score, images, labels)
        return discriminator_scores(self.discriminator, images, self.model_labels(labels))

    @classmethod
    def fit(cls, train: ImageSet, val: ImageSet, path: str | Path, **settings) -> "GANGenerator":
        """Train the shared GAN (or, with ``single_class``, one class's) to ``config``'s budget;
        other settings (``device``, ``domain``, ``base_hash``, ``progress``, ``warn``) go to train_job."""
        from gan_aug.stages.gans import GANJob, train_job  # the stage imports this module

        single = settings.pop("single_class", None)
        job = GANJob((single,) if single is not None else tuple(range(len(train.class_names))), single_class=single)
        trained = train_job(job, train, val, settings.pop("config"), path, base_hash=settings.pop("base_hash", ""),
                            domain=settings.pop("domain", None), **settings)
        return cls.load(trained.result.checkpoint, device=settings.get("device", "cpu"), single_class=single,
                        sha256=trained.result.sha256)

    def save(self, path: str | Path) -> Path:
        """The checkpoint it was loaded from, copied atomically (the format stays the trainer's)."""
        if self.checkpoint is None:
            raise ValueError("this GAN was not loaded from a checkpoint; train_job writes one")
        return atomic_write(path, lambda tmp: shutil.copyfile(self.checkpoint, tmp))

    @classmethod
    def load(cls, path: str | Path, **options) -> "GANGenerator":
        """``device``; ``label``: the class whose best FD-check weights to take (else the final EMA
        weights); ``single_class``: a one-class GAN's class; ``sha256``: the file's, when known."""
        generator, discriminator = load_sampler(path, options.get("device", "cpu"), label=options.get("label"))
        return cls(generator, discriminator, options.get("sha256") or file_sha256(path),
                   single_class=options.get("single_class"), checkpoint=path)
