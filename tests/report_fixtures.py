"""Builders for report tests: a realistic metrics.json of a long-tailed digits run, with its images.

Shared by tests/test_report.py and tests/test_report_browser.py (import as `report_fixtures`).
"""
from __future__ import annotations

import numpy as np

REAL_COUNTS = [126, 90, 64, 46, 33, 23, 17, 12, 8, 6]
TARGET = 126
METHODS = ("plain", "oversampled", "gan")
FILTERS = ("discriminator", "label", "memorisation")
FD_MIN_REAL = 10
TEST_PER_CLASS = 17  # test images per class; matrices count three seeds
SEEDS = (0, 1, 2)
NEW_CLASS_KEYS = ("funnel", "filters", "kid_ci_low", "kid_ci_high", "fd_matched", "fd_ratio", "acceptance")


def class_entry(label: int, real: int) -> dict:
    needed = TARGET - real
    entry = {"label": label, "name": f"digit-{label}", "real": real, "target": TARGET, "needed": needed,
             "generated": 0, "accepted": 0, "used": 0, "d_threshold": None, "fd": None, "final": real,
             "funnel": None, "filters": None, "kid_ci_low": None, "kid_ci_high": None, "fd_matched": None,
             "fd_ratio": None, "acceptance": None}
    if needed:
        used = needed if label != 8 else 100  # class 8: the generation budget ran out
        generated, d_threshold = int(needed * 1.5), round(-0.1 - 0.03 * label, 3)
        fd_floor, judged = round(2.0 + 0.5 * label, 3), real >= FD_MIN_REAL
        entry.update(generated=generated, accepted=used, used=used, final=real + used, d_threshold=d_threshold,
                     fd=round(4.0 + 1.1 * label, 3), fd_floor=fd_floor, kid=0.01 * label, kid_floor=0.002,
                     kid_ci_low=0.01 * label - 0.004, kid_ci_high=0.01 * label + 0.005,
                     fd_matched=round(1.5 * fd_floor, 3) if judged else None, fd_ratio=1.5 if judged else None,
                     acceptance="ok" if judged else "unjudged")
        entry["funnel"] = {"generated": generated, "discriminator": used + (generated - used) // 2,
                           "label": used + (generated - used) // 6, "memorisation": used}
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


def method(acc: float, bal: float, f1: float, rows: int, rng: np.random.Generator) -> dict:
    """Means over three seeds, with the balanced accuracy's interval and the summed confusion matrix."""
    recall = [round(float(v), 4) for v in rng.uniform(0.3, 1.0, 10)]
    return {"accuracy": acc, "balanced_accuracy": bal, "macro_f1": f1, "g_mean": round(bal - 0.05, 4),
            "ci": {"balanced_accuracy": [round(bal - 0.0111, 4), round(bal + 0.0111, 4)]},
            "per_seed": {"balanced_accuracy": [bal - 0.01, bal, bal + 0.01]},
            "per_class_recall": recall, "train_rows": rows,
            "confusion_matrix": confusion(recall, np.random.default_rng(rows))}  # own stream: recalls as before


def make_metrics() -> dict:
    """A realistic metrics.json for a long-tailed digits run, one class left short of its target; its
    shards section is the older one (counts only, no provenance)."""
    rng = np.random.default_rng(0)
    classes = [class_entry(label, real) for label, real in enumerate(REAL_COUNTS)]
    return {
        "run": {"name": "demo", "config_hash": "ab12cd34ef56", "generator_sha256": "cd34" * 16,
                "created": "2026-11-23T10:00:00+00:00", "device": "cpu", "duration_s": 95.2},
        "dataset": {"source": "digits", "class_names": [c["name"] for c in classes], "image_shape": [1, 8, 8],
                    "imbalance_ratio": 21.0, "target_count": TARGET,
                    "splits": {"train": 425, "val": 100, "test": 170}},
        "classes": classes,
        "downstream": {
            "classifier": {"model": "small_cnn", "steps": 800, "batch_size": 64}, "seeds": list(SEEDS),
            "methods": {"plain": method(0.9012, 0.8123, 0.8034, 425, rng),
                        "oversampled": method(0.9176, 0.8347, 0.8256, 1260, rng),
                        "gan": method(0.9225, 0.8671, 0.8446, 1242, rng)},
            "best_baseline": "oversampled",
            "comparison": {"gan": {"baseline": "oversampled", "metric": "balanced_accuracy", "mean_diff": 0.0324,
                                   "ci": [0.0112, 0.0536], "p_value": 0.021, "per_seed": [0.03, 0.04, 0.0272],
                                   "wins": 3, "excludes_zero": True}},
            "gain": {"gan_vs_plain": {"accuracy": 0.0213, "balanced_accuracy": 0.0548, "macro_f1": 0.0412,
                                      "g_mean": 0.0548},
                     "gan_vs_oversampled": {"accuracy": -0.0051, "balanced_accuracy": 0.0324,
                                            "macro_f1": 0.019, "g_mean": 0.0324}},
        },
        "shards": {"num_shards": 1, "rows": 1242, "real_rows": 425, "synthetic_rows": 817},
        "filters": {"order": list(FILTERS), "fd_policy": "warn", "fd_max_ratio": 4.0, "fd_min_real": FD_MIN_REAL,
                    "flagged": [], "dropped": [], "unjudged": [c["label"] for c in classes
                                                               if c["acceptance"] == "unjudged"]},
    }


def add_provenance(metrics: dict, per_class: bool = True) -> dict:
    """The shards section as the manifest now writes it: splits, files with checksums, the image folder
    and provenance (package versions, seeds, the generator checkpoints)."""
    synthesised = [c for c in metrics["classes"] if c["used"]]
    generators = {c["name"]: f"{c['label']:02d}" * 32 for c in synthesised} if per_class else {}
    metrics["shards"].update({
        "num_shards": 3,
        "splits": {"train": {"rows": 1242, "real_rows": 425, "synthetic_rows": 817, "shards": 1},
                   "validation": {"rows": 100, "real_rows": 100, "synthetic_rows": 0, "shards": 1},
                   "test": {"rows": 170, "real_rows": 170, "synthetic_rows": 0, "shards": 1}},
        "files": [{"file": f"shards/{split}-00000-of-00001.parquet", "split": split, "rows": rows,
                   "bytes": size, "sha256": digit * 64}
                  for split, rows, size, digit in (("train", 1242, 1_654_321, "a"), ("validation", 100, 98_765, "b"),
                                                   ("test", 170, 165_000, "c"))],
        "image_folder": {"root": "images", "files": 1512, "checksums": "images/SHA256SUMS", "sha256": "d" * 64},
        "provenance": {"config_hash": metrics["run"]["config_hash"], "content_key": "e" * 64,
                       "packages": {"python": "3.11.9", "gan-aug": "0.1.0", "torch": "2.14.1",
                                    "torchvision": "0.29.1", "numpy": "2.3.1", "pyarrow": "21.0.0",
                                    "pillow": "11.3.0", "pytorch-fid": None},
                       "seeds": {"split": 0, "long_tail": 0, "gan": 0, "generate": 1, "evaluate": 0},
                       "generator_sha256": None if per_class else metrics["run"]["generator_sha256"],
                       "generators": generators},
    })
    return metrics


def images(metrics: dict) -> tuple[dict, dict]:
    """Real and synthetic uint8 N×1×8×8 images per class, as many as the class has."""
    rng = np.random.default_rng(1)
    real = {c["label"]: rng.integers(0, 256, (c["real"], 1, 8, 8), dtype=np.uint8) for c in metrics["classes"]}
    synthetic = {c["label"]: rng.integers(0, 256, (c["used"], 1, 8, 8), dtype=np.uint8)
                 for c in metrics["classes"] if c["used"]}
    return real, synthetic


def rejected_images() -> dict:
    """A few samples each filter rejected, for two classes."""
    rng = np.random.default_rng(2)
    return {9: {"memorisation": rng.integers(0, 256, (3, 1, 8, 8), dtype=np.uint8),
                "discriminator": rng.integers(0, 256, (20, 1, 8, 8), dtype=np.uint8)},
            5: {"label": rng.integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)}}


def training(strategy: str) -> dict:
    """The training section: losses and FD checks per trained GAN."""
    history = [{"step": s, "loss_d": 1.5 - s / 1000, "loss_g": 0.2 + s / 2000, "images_per_s": 900.0}
               for s in (50, 100, 150, 200)]
    checks = [{"step": 100, "fd": {"5": 40.0, "9": 90.0}}, {"step": 200, "fd": {"5": 30.0, "9": 95.0}}]
    run = {"sha256": "ab" * 32, "steps": 200, "seconds": 12.5, "resumed_from": 0, "stopped_early": True,
           "history": history, "quality_history": checks,
           "best": {"5": {"step": 200, "fd": 30.0}, "9": {"step": 100, "fd": 90.0}}}
    return {"strategy": strategy, "runs": {"shared": run} if strategy == "shared" else {"5": run, "9": run}}
