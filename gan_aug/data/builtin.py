"""Built-in data sets that ship with installed packages (nothing is downloaded)."""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from gan_aug.data.imageset import ImageSet


def digits() -> ImageSet:
    """scikit-learn's 1,797 real 8×8 handwritten digits, scaled from 0..16 to uint8 0..255."""
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    names = tuple(str(name) for name in bunch.target_names)
    return ImageSet(images, bunch.target.astype(np.int64), names)


BUILTIN_SETS = {"digits": digits}
