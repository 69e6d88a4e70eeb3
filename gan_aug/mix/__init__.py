"""How many synthetic rows each class ships with, and with what weight.

- ``rows``: the training split as shipped (real, synthetic and duplicated rows, each flagged), built
  from a dose per class
- ``policy``: the dose and weight chosen on the validation split, preferring fewer synthetic rows
  unless more clear the noise
"""
from gan_aug.mix.rows import KINDS, TrainingMix, build_mix, real_only, synthetic_allowance

__all__ = ["KINDS", "TrainingMix", "build_mix", "real_only", "synthetic_allowance"]
# policy.py (choose_mix, MixChoice, most_wanted) imports the evaluation runner; import it as gan_aug.mix.policy.
