"""Class-conditional generators behind one interface (``ConditionalGenerator``), registered by name.

The conditional GAN (``gan``) is the first; another kind is one module that subclasses
ConditionalGenerator and decorates itself with ``@register_generator``.
"""
from gan_aug.generators.base import ConditionalGenerator, Samples, generator_class, register_generator

__all__ = ["ConditionalGenerator", "Samples", "generator_class", "register_generator"]
