"""manifest.json's content: what a set of shards promises, split by split and shard by shard.

Counts are kept per class and per kind (real, synthetic, duplicate), so `gan-aug verify` can hold
each shard to them and a trainer can see how balanced a split is without reading a row.
"""
from __future__ import annotations

import numpy as np

from gan_aug.shards.rows import DUPLICATE, SYNTHETIC, SplitRows

FORMAT_VERSION = 3  # 3: is_duplicate and weight columns; duplicate counts and the mix in the manifest


def by_name(labels: np.ndarray, class_names: tuple[str, ...]) -> dict[str, int]:
    counts = np.bincount(labels, minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts)}


def shard_counts(labels: np.ndarray, kinds: np.ndarray, class_names: tuple[str, ...]) -> dict[str, dict]:
    """A shard entry's per-class counts: all rows, synthetic rows, duplicated rows."""
    return {"class_counts": by_name(labels, class_names),
            "synthetic_counts": by_name(labels[kinds == SYNTHETIC], class_names),
            "duplicate_counts": by_name(labels[kinds == DUPLICATE], class_names)}


def split_totals(rows: SplitRows, entries: list[dict]) -> dict:
    """A split's rows of each kind, in all and per class, and how many shards hold them."""
    mix, names = rows.mix, rows.real.class_names
    counts = {kind: dict(zip(names, map(int, mix.class_counts(kind)))) for kind in ("real", "synthetic", "duplicate")}
    return {"rows": len(mix), "real_rows": len(mix.real), "synthetic_rows": len(mix.synthetic),
            "duplicate_rows": len(mix.duplicates), "shards": sum(e["split"] == rows.name for e in entries),
            "class_counts": by_name(rows.labels, names), "real_counts": counts["real"],
            "synthetic_counts": counts["synthetic"], "duplicate_counts": counts["duplicate"]}


def build_manifest(splits: list[SplitRows], entries: list[dict], settings: dict, provenance: dict,
                   image_folder: dict | None) -> dict:
    """The manifest of these splits (train first) written as ``entries``."""
    train = splits[0]
    names = train.real.class_names
    hashes = sorted(set(train.synthetic.generators.values()))
    return {
        "format": "gan-aug-shards", "version": FORMAT_VERSION, "class_names": list(names),
        "image_shape": [int(d) for d in train.real.images.shape[1:]],
        "provenance": provenance,
        # The shared GAN's checkpoint, or None when classes came from their own (per-class) GANs.
        "generator_sha256": hashes[0] if len(hashes) == 1 else None,
        "generators": {names[label]: sha for label, sha in sorted(train.synthetic.generators.items())},
        # How the train split's synthetic rows are meant to be used (the weight is also each row's `weight`).
        "mix": {"synthetic_weight": float(train.mix.synthetic_weight), "late_from": float(train.mix.late_from)},
        "settings": settings, "splits": {rows.name: split_totals(rows, entries) for rows in splits},
        "shards": entries, "image_folder": image_folder,
    }
