"""gan-aug: fill the rare classes of an imbalanced image set with a class-conditional GAN.

``GANOverSampler`` is imported on first use (PEP 562), so ``import gan_aug.config`` stays light
(no torch) and the package's own modules never import it back in a cycle.
"""

__all__ = ["GANOverSampler"]


def __getattr__(name: str):
    if name == "GANOverSampler":
        from gan_aug.oversampler import GANOverSampler

        return GANOverSampler
    raise AttributeError(f"module 'gan_aug' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
