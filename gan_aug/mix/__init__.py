"""How many synthetic rows each class ships with, and with what weight.

- ``rows``: the training split as shipped (real, synthetic and duplicated rows, each flagged), built
  from a dose per class
- ``policy``: what a choice of dose and weight is (``MixChoice``), the grid it is chosen from and the
  fixed choice. Choosing on the validation split trains classifiers, so it lives with the evaluation
  (gan_aug.evaluate.mix_choice), which depends on this package and never the reverse.
"""
from gan_aug.mix.policy import MixChoice, class_doses, fixed_choice, grid, most_wanted
from gan_aug.mix.rows import KINDS, TrainingMix, build_mix, real_only, synthetic_allowance

__all__ = ["KINDS", "MixChoice", "TrainingMix", "build_mix", "class_doses", "fixed_choice", "grid", "most_wanted",
           "real_only", "synthetic_allowance"]
