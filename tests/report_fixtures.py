"""Builders for report tests: a realistic metrics.json of a long-tailed digits run, with its images.

Shared by tests/test_report.py, tests/test_report_browser.py and tests/test_cli_tables.py (import as
`report_fixtures`). The run: 10 classes, generation asked for up to 2 synthetic rows per real image,
validation chose dose 1 at weight 0.5 from a 7-point curve, class 4's rows were recognised too rarely
to ship, and every class was filled to its target by duplicated real rows. Variants below turn it into
a fixed-policy run, a run that shipped no synthetic rows, and a per-class run without CAS.

The builders return metrics.json's payload as a dict, so a test can change any field; ``typed`` parses it
the way a reader does (``RunResult.from_json``), so a fixture that drifts from the schema fails loudly.
"""
from __future__ import annotations

import json
import math

import numpy as np

from gan_aug.evaluate.intervals import mean_interval, paired_comparison
from gan_aug.headroom import measure
from gan_aug.run_result import SCHEMA_VERSION, RunResult

REAL_COUNTS = [126, 90, 64, 46, 33, 23, 17, 12, 8, 6]
TARGET = 126
METHODS = ("plain", "oversampled", "gan")
FILTERS = ("discriminator", "label", "memorisation")
FD_MIN_REAL = 10
TEST_PER_CLASS = 17  # test images per class; matrices count three seeds
SEEDS = (0, 1, 2)
VAL_IMAGES = 100

MAX_DOSE, DOSE, WEIGHT, MIN_AGREEMENT = 2.0, 1.0, 0.5, 0.7  # generation asks for the grid's largest dose
SHORT_CLASS = 8  # the generation budget ran out: 10 accepted of the 16 asked
INELIGIBLE = 4  # a classifier trained on real rows recognised too few of its rows: none ship
AGREEMENT = {1: 0.97, 2: 0.95, 3: 0.92, 4: 0.55, 5: 0.88, 6: 0.84, 7: 0.81, 8: 0.76, 9: 0.72}
FILTER_VAL_RECALL = [1.0, 0.96, 0.95, 0.93, 0.86, 0.89, 0.83, 0.8, 0.75, 0.67]
CAS = [0.91, 0.88, 0.8, 0.76, 0.35, 0.7, 0.64, 0.58, 0.47, 0.41]
REAL_RECALL = [0.98, 0.96, 0.93, 0.9, 0.87, 0.85, 0.8, 0.74, 0.66, 0.58]
FEW_SHOT_CLASSES = [7, 8, 9]
# (dose, weight, validation balanced accuracy, standard error of its difference from the top)
CURVE = [(0.0, 1.0, 0.842, 0.009), (0.5, 1.0, 0.851, 0.007), (0.5, 0.5, 0.849, 0.008), (1.0, 1.0, 0.858, 0.006),
         (1.0, 0.5, 0.861, 0.006), (2.0, 1.0, 0.866, 0.0), (2.0, 0.5, 0.86, 0.005)]
NO_SYNTHETIC_CURVE = [(0.0, 1.0, 0.858, 0.009), (0.5, 1.0, 0.851, 0.007), (0.5, 0.5, 0.853, 0.008),
                      (1.0, 1.0, 0.856, 0.006), (1.0, 0.5, 0.861, 0.0), (2.0, 1.0, 0.855, 0.006),
                      (2.0, 0.5, 0.852, 0.007)]
REASON = ("dose 1, weight 0.5: 0.861 on validation (100 images), within one standard error (0.006) of the top "
          "score 0.866 (dose 2, weight 1); fewer synthetic rows are preferred unless more clear the noise")
# Per seed: balanced accuracy and few-shot recall (mean recall of the 3 rarest classes) on test.
PER_SEED = {"plain": ([0.8, 0.812, 0.825], [0.41, 0.45, 0.43]),
            "oversampled": ([0.827, 0.832, 0.846], [0.55, 0.53, 0.6]),
            "gan": ([0.852, 0.846, 0.843], [0.62, 0.58, 0.66])}
OTHER_SCORES = {"plain": (0.9012, 0.8034), "oversampled": (0.9176, 0.8256), "gan": (0.9225, 0.8446)}


def eligible(label: int) -> bool:
    return label in AGREEMENT and AGREEMENT[label] >= MIN_AGREEMENT


def allowance(label: int, dose: float) -> int:
    """Synthetic rows a class ships at this dose: at most dose × real, what it needs, what was accepted."""
    real, needed = REAL_COUNTS[label], TARGET - REAL_COUNTS[label]
    return min(math.floor(dose * real), needed, accepted_rows(label)) if eligible(label) else 0


def accepted_rows(label: int) -> int:
    asked = min(TARGET - REAL_COUNTS[label], math.floor(MAX_DOSE * REAL_COUNTS[label]))
    return 10 if label == SHORT_CLASS else asked


def class_entry(label: int, real: int) -> dict:
    needed = TARGET - real
    entry = {"label": label, "name": f"digit-{label}", "real": real, "target": TARGET, "needed": needed,
             "asked": 0, "generated": 0, "accepted": 0, "used": 0, "duplicates": needed, "final": TARGET,
             "dose": DOSE if eligible(label) else 0.0, "label_agreement": AGREEMENT.get(label),
             "filter_val_recall": FILTER_VAL_RECALL[label], "cas": CAS[label], "real_recall": REAL_RECALL[label],
             "d_threshold": None, "fd": None, "funnel": None, "filters": None, "kid_ci_low": None,
             "kid_ci_high": None, "fd_matched": None, "fd_ratio": None, "acceptance": None}
    if needed:
        asked, accepted, used = min(needed, math.floor(MAX_DOSE * real)), accepted_rows(label), allowance(label, DOSE)
        generated, d_threshold = int(asked * 1.5), round(-0.1 - 0.03 * label, 3)
        fd_floor, judged = round(2.0 + 0.5 * label, 3), real >= FD_MIN_REAL
        entry.update(asked=asked, generated=generated, accepted=accepted, used=used, duplicates=needed - used,
                     d_threshold=d_threshold, fd=round(4.0 + 1.1 * label, 3), fd_floor=fd_floor, kid=0.01 * label,
                     kid_floor=0.002, kid_ci_low=0.01 * label - 0.004, kid_ci_high=0.01 * label + 0.005,
                     fd_matched=round(1.5 * fd_floor, 3) if judged else None, fd_ratio=1.5 if judged else None,
                     acceptance="ok" if judged else "unjudged")
        entry["funnel"] = {"generated": generated, "discriminator": accepted + (generated - accepted) // 2,
                           "label": accepted + (generated - accepted) // 6, "memorisation": accepted}
        entry["filters"] = {
            "discriminator": {"threshold": d_threshold, "quantile": 0.05, "calibration": "val" if real >= 20
                              else "pooled", "calibration_images": real // 4 if real >= 20 else 100},
            "label": {"threshold": 0.5}, "memorisation": {"threshold": round(1.0 + 0.01 * label, 3), "quantile": 0.05}}
    return entry


def confusion(recall: list[float], rng: np.random.Generator) -> list[list[int]]:
    """Counts summed over the seeds, as the runner writes them: each row's diagonal matches its recall."""
    total, k = TEST_PER_CLASS * len(SEEDS), len(recall)
    matrix = np.zeros((k, k), dtype=int)
    for i, rate in enumerate(recall):
        matrix[i, i] = round(rate * total)
        matrix[i, [j for j in range(k) if j != i]] = rng.multinomial(total - matrix[i, i], np.full(k - 1, 1 / (k - 1)))
    return matrix.tolist()


def method(name: str, rows: int, rng: np.random.Generator, per_seed: tuple[list, list]) -> dict:
    """Means over three seeds, their intervals and per-seed values, and the summed confusion matrix; the
    rarest classes' recalls average to the few-shot recall."""
    balanced, few = per_seed
    acc, f1 = OTHER_SCORES[name]
    summaries = {"balanced_accuracy": mean_interval(balanced), "few_shot_recall": mean_interval(few)}
    recall = [round(float(v), 4) for v in rng.uniform(0.6, 1.0, 10)]
    for offset, label in zip((-0.05, 0.0, 0.05), FEW_SHOT_CLASSES):
        recall[label] = round(summaries["few_shot_recall"]["mean"] + offset, 4)
    bal = summaries["balanced_accuracy"]["mean"]
    return {"accuracy": acc, "balanced_accuracy": bal, "macro_f1": f1, "g_mean": round(bal - 0.05, 4),
            "few_shot_recall": summaries["few_shot_recall"]["mean"],
            "ci": {key: s["ci"] for key, s in summaries.items()},
            "per_seed": {"balanced_accuracy": balanced, "few_shot_recall": few},
            "per_class_recall": recall, "train_rows": rows, "seconds": 20.0, "steps": [640, 800, 560],
            "confusion_matrix": confusion(recall, np.random.default_rng(rows))}


def downstream(rows: dict[str, int], per_seed: dict[str, tuple[list, list]] = PER_SEED) -> dict:
    """The evaluation section: the GAN's mix paired seed by seed with the best baseline, in balanced
    accuracy (by default a tie: its interval contains 0) and in few-shot recall (a win)."""
    rng = np.random.default_rng(0)
    methods = {name: method(name, rows[name], rng, per_seed[name]) for name in METHODS}
    comparison = {"baseline": "oversampled", "metric": "balanced_accuracy",
                  **paired_comparison(per_seed["gan"][0], per_seed["oversampled"][0]),
                  "few_shot_recall": paired_comparison(per_seed["gan"][1], per_seed["oversampled"][1])}
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "g_mean", "few_shot_recall")
    gain = {f"gan_vs_{name}": {k: methods["gan"][k] - methods[name][k] for k in keys} for name in METHODS[:2]}
    return {"classifier": {"model": "small_cnn", "width": 32, "steps": 800, "batch_size": 64, "lr": 0.003,
                           "schedule": "onecycle", "patience": 4, "check_every": None}, "seeds": list(SEEDS),
            "metric": "balanced_accuracy", "few_shot_classes": list(FEW_SHOT_CLASSES), "methods": methods,
            "best_baseline": "oversampled", "comparison": {"gan": comparison}, "gain": gain}


def mix_curve(classes: list[dict], points: list[tuple] = CURVE) -> list[dict]:
    """The validation curve: every grid point with its synthetic rows and its distance from the top."""
    top, none = max(score for _, _, score, _ in points), points[0][2]
    return [{"dose": dose, "weight": weight, "synthetic_rows": sum(allowance(c["label"], dose) for c in classes),
             "balanced_accuracy": score, "vs_duplication": round(score - none, 4), "duplication_se": 0.004,
             "clears": dose == 0 or score - none > 2.4 * 0.004, "vs_top": round(score - top, 4),
             "standard_error": se, "seeds": 2, "within_noise": score >= top - se} for dose, weight, score, se in points]


def mix_section(classes: list[dict]) -> dict:
    return {"policy": "validation", "dose": DOSE, "weight": WEIGHT, "late_from": 0.0,
            "doses": {str(c["label"]): c["dose"] for c in classes},
            "eligible": [c["label"] for c in classes if eligible(c["label"])], "reason": REASON,
            "curve": mix_curve(classes), "min_agreement": MIN_AGREEMENT, "confidence": 0.95, "seeds": 2, "steps": 800,
            "shipped": True}


def headroom_section(classes: list[dict]) -> dict:
    """The headroom as gan_aug.headroom measures it, from hits with known recalls: the minority classes'
    recall rises 0.55, 0.65, 0.75 over ¼, ½ and all of their real rows; the shipped mix scores 0.8."""
    minority = [c["label"] for c in classes if c["real"] < TARGET]
    per_class = 20
    labels = np.repeat(minority, per_class)

    def hits(recall: float) -> np.ndarray:
        right = round(recall * per_class)
        return np.tile(np.r_[np.ones(right), np.zeros(per_class - right)], len(minority))

    rows = np.array([[max(1, math.ceil(f * c["real"])) for c in classes if c["label"] in minority]
                     for f in (0.25, 0.5, 1.0)])
    mix = {"hits": hits(0.8), "shipped": True, "dose": DOSE, "weight": WEIGHT,
           "synthetic_rows": sum(c["used"] for c in classes)}
    return measure([hits(r) for r in (0.55, 0.65, 0.75)], rows, [0.25, 0.5, 1.0], labels, minority, seeds=2,
                   rounds=200, mix=mix).model_dump(mode="json")


def make_metrics() -> dict:
    """A realistic metrics.json for a long-tailed digits run (see the module docstring), trained by one
    shared GAN whose training section has no runs (a test adds them: ``training``)."""
    classes = [class_entry(label, real) for label, real in enumerate(REAL_COUNTS)]
    real, synthetic = sum(REAL_COUNTS), sum(c["used"] for c in classes)
    generator = "cd34" * 16
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {"name": "demo", "config_hash": "ab12cd34ef56", "generator_sha256": generator,
                "created": "2026-11-23T10:00:00+00:00", "device": "cpu", "duration_s": 95.2},
        "dataset": {"source": "digits", "format": "builtin", "class_names": [c["name"] for c in classes],
                    "image_shape": [1, 8, 8], "imbalance_ratio": 21.0, "target_count": TARGET,
                    "splits": {"train": real, "val": VAL_IMAGES, "test": 170}, "skipped_unreadable": 0,
                    "skipped_files": [], "warnings": []},
        "classes": classes,
        "training": {"strategy": "shared", "runs": {}},
        "downstream": downstream({"plain": real, "oversampled": TARGET * 10, "gan": TARGET * 10}),
        "usefulness": {"cas_overall": float(np.mean(CAS)), "real_overall": float(np.mean(REAL_RECALL)),
                       "cas_samples": TARGET},
        "mix": mix_section(classes),
        "shards": shards_section(TARGET * 10, real, synthetic, generator),
        "headroom": headroom_section(classes),
        "filters": {"order": list(FILTERS), "settings": {"d_quantile": 0.05, "label_threshold": 0.5,
                                                         "memorisation_quantile": 0.05},
                    "extractor": "domain", "fd_policy": "warn", "fd_max_ratio": 4.0, "fd_min_real": FD_MIN_REAL,
                    "flagged": [], "dropped": [], "unjudged": [c["label"] for c in classes
                                                               if c["acceptance"] == "unjudged"]},
    }


def typed(metrics: dict) -> RunResult:
    """The fixture as a reader gets it: through metrics.json's text."""
    return RunResult.from_json(json.dumps(metrics))


def shards_section(rows: int, real: int, synthetic: int, generator: str) -> dict:
    """The shards as the manifest records them: splits (the train split with its duplicated rows), files
    with checksums, the image folder and provenance (package versions, seeds, the shared generator)."""
    return {
        "num_shards": 3, "rows": rows, "real_rows": real, "synthetic_rows": synthetic,
        "duplicate_rows": rows - real - synthetic,
        "splits": {"train": {"rows": rows, "real_rows": real, "synthetic_rows": synthetic,
                             "duplicate_rows": rows - real - synthetic, "shards": 1},
                   "validation": {"rows": 100, "real_rows": 100, "synthetic_rows": 0, "duplicate_rows": 0,
                                  "shards": 1},
                   "test": {"rows": 170, "real_rows": 170, "synthetic_rows": 0, "duplicate_rows": 0, "shards": 1}},
        "files": [{"file": f"shards/{split}-00000-of-00001.parquet", "split": split, "rows": n,
                   "bytes": size, "sha256": digit * 64}
                  for split, n, size, digit in (("train", rows, 1_654_321, "a"), ("validation", 100, 98_765, "b"),
                                                ("test", 170, 165_000, "c"))],
        "image_folder": {"root": "images", "files": 1530, "checksums": "images/SHA256SUMS", "sha256": "d" * 64,
                         "layout": "images/<split>/<class>/<real|syn|dup>-<id>.png"},
        "provenance": {"config_hash": "ab12cd34ef56", "name": "demo", "source": "digits", "content_key": "e" * 64,
                       "packages": {"python": "3.11.9", "gan-aug": "0.1.0", "torch": "2.14.1",
                                    "torchvision": "0.29.1", "numpy": "2.3.1", "pyarrow": "21.0.0",
                                    "pillow": "11.3.0", "pytorch-fid": None},
                       "seeds": {"split": 0, "long_tail": 0, "gan": 0, "generate": 1, "evaluate": 0},
                       "generator_sha256": generator, "generators": {}},
    }


def per_class_generators(metrics: dict) -> dict:
    """One GAN per class: no single checkpoint, and the manifest names each synthesised class's."""
    metrics["run"]["generator_sha256"] = None
    generators = {c["name"]: f"{c['label']:02d}" * 32 for c in metrics["classes"] if c["used"]}
    metrics["shards"]["provenance"].update(generator_sha256=None, generators=generators)
    return metrics


def fixed_policy(metrics: dict) -> dict:
    """mix.policy fixed: the same dose at full weight, no validation curve."""
    metrics["mix"].update(policy="fixed", weight=1.0, curve=[], reason="mix.policy is fixed: dose 1, weight 1")
    metrics["headroom"] = None  # no grid runs to build the real rows' curve beside
    return metrics


def no_synthetic(metrics: dict) -> dict:
    """Validation chose no synthetic rows: every class reaches its target by duplication alone, and the
    shipped split ties with the best baseline."""
    metrics["mix"].update(dose=0.0, weight=1.0, doses={key: 0.0 for key in metrics["mix"]["doses"]}, shipped=False,
                          curve=mix_curve(metrics["classes"], NO_SYNTHETIC_CURVE),
                          reason="no synthetic rows: 0.858 on validation (100 images), within one standard error "
                                 "(0.009) of the top score 0.861 (dose 1, weight 0.5); fewer synthetic rows are "
                                 "preferred unless more clear the noise")
    for entry in metrics["classes"]:
        entry.update(used=0, duplicates=entry["needed"], dose=0.0)
    shards, train = metrics["shards"], metrics["shards"]["splits"]["train"]
    for counts in (shards, train):
        counts.update(synthetic_rows=0, duplicate_rows=counts["rows"] - counts["real_rows"])
    rows = {name: scores["train_rows"] for name, scores in metrics["downstream"]["methods"].items()}
    metrics["downstream"] = downstream(rows, {**PER_SEED, "gan": ([0.836, 0.829, 0.848], [0.54, 0.55, 0.58])})
    return metrics


def per_class_run(metrics: dict) -> dict:
    """gan.strategy per_class: one GAN per minority class, so no CAS (it needs samples of every class)."""
    for entry in metrics["classes"]:
        entry["cas"] = None
    metrics["usefulness"].update(cas_overall=None, cas_samples=0)
    metrics["training"] = training("per_class")
    return metrics


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits as uint8 0–255 (shipped with scikit-learn: nothing is downloaded)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images * 255 / 16).round().astype(np.uint8)[:, None], digits.target


def images(metrics: dict) -> tuple[dict, dict]:
    """Real and synthetic uint8 N×1×8×8 images per class, as many as the class has: real digits, and
    noisy copies of them for the synthetic rows (so a screenshot shows digits, not noise)."""
    rng = np.random.default_rng(1)
    pixels, labels = _digits()
    by_class = {c["label"]: pixels[labels == c["label"] % 10] for c in metrics["classes"]}
    real = {c["label"]: by_class[c["label"]][np.arange(c["real"]) % len(by_class[c["label"]])]
            for c in metrics["classes"]}
    synthetic = {}
    for c in metrics["classes"]:
        if c["used"]:
            base = by_class[c["label"]][-np.arange(1, c["used"] + 1) % len(by_class[c["label"]])].astype(np.int16)
            synthetic[c["label"]] = np.clip(base + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8)
    return real, synthetic


def rejected_images() -> dict:
    """A few samples each filter rejected, for two classes."""
    rng = np.random.default_rng(2)
    return {9: {"memorisation": rng.integers(0, 256, (3, 1, 8, 8), dtype=np.uint8),
                "discriminator": rng.integers(0, 256, (20, 1, 8, 8), dtype=np.uint8)},
            5: {"label": rng.integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)}}


def training(strategy: str) -> dict:
    """The training section: losses, FD checks (with the domain classifier's agreement) per trained GAN,
    and why each stopped: the shared GAN early, the per-class ones at the time budget."""
    history = [{"step": s, "loss_d": 1.5 - s / 1000, "loss_g": 0.2 + s / 2000, "images_per_s": 900.0}
               for s in (50, 100, 150, 200)]
    checks = [{"step": 100, "fd": {"5": 40.0, "9": 90.0}, "agreement": {"5": 0.7, "9": 0.45}},
              {"step": 200, "fd": {"5": 30.0, "9": 95.0}, "agreement": {"5": 0.85, "9": 0.5}}]
    run = {"sha256": "ab" * 32, "steps": 200, "seconds": 12.5, "resumed_from": 0, "stopped_early": True,
           "stop_reason": "early stop", "train_seconds": 12.5, "budget": {"steps": 1500, "seconds": None},
           "history": history, "quality_history": checks,
           "best": {"5": {"step": 200, "fd": 30.0}, "9": {"step": 100, "fd": 90.0}}}
    if strategy == "shared":
        return {"strategy": strategy, "runs": {"shared": run}}
    timed = {**run, "stopped_early": False, "stop_reason": "time budget", "train_seconds": 60.2,
             "budget": {"steps": 1500, "seconds": 60.0}}
    return {"strategy": strategy, "runs": {"5": run, "9": timed}}
