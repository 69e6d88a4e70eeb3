"""The pipeline's stages as plain functions over plain values, with typed results.

Every entry point composes these: the Prefect flow wraps each in a task (flows/tasks.py) and
passes paths between them; ``GANOverSampler`` calls them in memory. A change to a stage lands here
once.

- ``features``: the domain classifier whose embedding the FD checks, filters and metrics use
- ``gans``: which GAN(s) a run trains, training one, and per class which model, label and weights
  to sample
- ``generation``: one class sampled and filtered until it is filled (from a GAN's ClassSampler, or
  from any ConditionalGenerator)
- ``acceptance``: per-class quality and the FD acceptance policy
- ``usefulness``: whether a classifier learns from the rows: label agreement, CAS
"""
from gan_aug.stages.acceptance import Acceptance, AcceptanceReport, accept
from gan_aug.stages.features import check_extractor, domain_model
from gan_aug.stages.gans import ClassSampler, GANJob, TrainedGAN, plan_gans, train_job
from gan_aug.stages.generation import (
    generate_filtered,
    generate_with,
    sample_unfiltered,
    sample_with,
    shortfall_message,
)
from gan_aug.stages.usefulness import Usefulness, assess

__all__ = ["Acceptance", "AcceptanceReport", "ClassSampler", "GANJob", "TrainedGAN", "accept", "check_extractor",
           "domain_model", "generate_filtered", "generate_with", "plan_gans", "sample_unfiltered", "sample_with",
           "shortfall_message", "train_job", "Usefulness", "assess"]
