"""A trivial second generator, one module that registers itself: what a plug-in generator is.

``noisy-copies`` draws a real training image of the class and adds Gaussian noise, both chosen by the
sample's seed. It has no critic, so it gives no per-sample score: the discriminator filter cannot run
on it. Importing this module registers it (tests import it; a user's own module would do the same).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan_aug.data.imageset import ImageSet
from gan_aug.generators import ConditionalGenerator, Samples, register_generator
from gan_aug.hashing import file_sha256
from gan_aug.io import atomic_write


@register_generator("noisy-copies")
class NoisyCopies(ConditionalGenerator):
    def __init__(self, train: ImageSet, noise: float = 48.0, sha256: str = "n" * 64):
        self.train, self.noise, self.sha256 = train, noise, sha256
        self.image_shape = train.images.shape[1:]

    def sample(self, label: int, seeds: np.ndarray) -> Samples:
        pool = self.train.of_class(label)
        images = []
        for seed in seeds:
            rng = np.random.default_rng(int(seed))
            image = pool[rng.integers(len(pool))].astype(np.float64)
            images.append(np.clip(image + rng.normal(0.0, self.noise, image.shape), 0, 255).astype(np.uint8))
        return Samples(np.stack(images) if images else np.zeros((0, *self.image_shape), np.uint8))

    @classmethod
    def fit(cls, train: ImageSet, val: ImageSet, path, **settings) -> "NoisyCopies":
        """Nothing to learn: it keeps the training images. The pipeline's settings (``config``, ``device``,
        ``progress``...) are not used; ``noise`` is."""
        model = cls(train, settings.get("noise", 48.0))
        return cls.load(model.save(path))

    def save(self, path) -> Path:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, images=self.train.images, labels=self.train.labels,
                         names=np.asarray(self.train.class_names), noise=self.noise)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path, **options) -> "NoisyCopies":
        """The file ``save`` wrote; its sha256 names the samples' generator in the shards."""
        with np.load(path) as data:
            train = ImageSet(data["images"], data["labels"], tuple(data["names"].tolist()))
            return cls(train, float(data["noise"]), options.get("sha256") or file_sha256(path))
