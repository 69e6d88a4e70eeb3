"""Built-in data sets that ship with installed packages (nothing is downloaded)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from gan_aug.data.errors import DataError
from gan_aug.data.imageset import ImageSet

# Debian's dataset-fashion-mnist; GAN_AUG_FASHION_MNIST_DIR points elsewhere (a copy carried to a GPU machine).
FASHION_MNIST_DIR = Path(os.environ.get("GAN_AUG_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
# Zalando's names, made safe as folder names ("T-shirt/top" would be a path).
FASHION_MNIST_CLASSES = ("t-shirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                         "sneaker", "bag", "ankle-boot")


def digits() -> ImageSet:
    """scikit-learn's 1,797 real 8×8 handwritten digits, scaled from 0..16 to uint8 0..255."""
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    names = tuple(str(name) for name in bunch.target_names)
    return ImageSet(images, bunch.target.astype(np.int64), names)


def fashion_mnist(split: str = "train") -> ImageSet:
    """Fashion-MNIST (MIT licence) from Debian's package: 60,000 train / 10,000 test 28×28 images."""
    from gan_aug.data.formats import ReadOptions
    from gan_aug.data.formats.idx import read_idx

    prefix = {"train": "train", "test": "t10k"}[split]
    path = FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"
    if not path.is_file():
        raise DataError(f"{path} not found: install it with `apt-get install dataset-fashion-mnist`")
    raw = read_idx(path, ReadOptions())
    labels = np.array([int(label) for label in raw.labels], dtype=np.int64)
    return ImageSet(raw.images, labels, FASHION_MNIST_CLASSES)


BUILTIN_SETS = {
    "digits": digits,
    "fashion-mnist": lambda: fashion_mnist("train"),
    "fashion-mnist-test": lambda: fashion_mnist("test"),
}
