"""Downstream evaluation: does training on the GAN-augmented set beat what people would do instead?

Every method (plain, class-weighted loss, random oversampling, SMOTE, ordinary augmentation, the
GAN, the GAN with class weights) trains the same classifier with the same budget on the same
seeds and is scored on the same real test set, so the only thing that changes is the data.
"""
from gan_aug.evaluate.intervals import mean_interval, paired_comparison
from gan_aug.evaluate.methods import (
    GAN_METHODS,
    METHOD_REGISTRY,
    METHODS,
    TrainingSet,
    balanced_class_weights,
    random_oversample,
    register_method,
    smote,
)
from gan_aug.evaluate.runner import PRIMARY_METRIC, evaluate_downstream, evaluation_seeds, fit_and_score
from gan_aug.evaluate.scores import HEADLINE_METRICS, classification_metrics

__all__ = [
    "GAN_METHODS", "HEADLINE_METRICS", "METHODS", "METHOD_REGISTRY", "PRIMARY_METRIC", "TrainingSet",
    "balanced_class_weights", "classification_metrics", "evaluate_downstream", "evaluation_seeds",
    "fit_and_score", "mean_interval", "paired_comparison", "random_oversample", "register_method", "smote",
]
