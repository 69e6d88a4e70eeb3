"""The Provenance section's view: what produced the shards (package versions, seeds, generator
checkpoints) and what was written (files with checksums, split sizes, the image folder).

Every key of metrics["shards"] is optional (metrics written before the manifest carried provenance
lack them): missing values become None, which the template shows as a dash or leaves out.
"""
from __future__ import annotations

from gan_aug.report.tables import shard_table_rows

SPLIT_ORDER = ("train", "validation", "test")
LOAD_PATTERN = "shards/{split}-*.parquet"
SPLIT_KEYS = ("rows", "real_rows", "synthetic_rows", "shards")


def _ordered(names) -> list[str]:
    """train, validation, test first, then any other split in the order it was written."""
    names = list(names)
    return [n for n in SPLIT_ORDER if n in names] + [n for n in names if n not in SPLIT_ORDER]


def _load_snippet(splits: list[str], duplicates: bool) -> str:
    """The datasets call that loads the shards from the run folder, one data_files entry per split; the
    real rows alone leave out duplicated ones too where the shards flag them (``is_duplicate``)."""
    real = 'not row["is_synthetic"]' + (' and not row["is_duplicate"]' if duplicates else "")
    files = ",\n".join(f'        "{name}": "{LOAD_PATTERN.format(split=name)}"' for name in splits)
    return ("from datasets import load_dataset\n\n"
            "shards = load_dataset(\n"
            '    "parquet",\n'
            "    data_files={\n"
            f"{files},\n"
            "    },\n"
            ")\n"
            f'real_train = shards["train"].filter(lambda row: {real})')


def provenance_view(metrics: dict) -> dict:
    """Plain lists and values for the template; empty lists where metrics.json has nothing."""
    shards = metrics.get("shards") or {}
    provenance = shards.get("provenance") or {}
    split_sizes = shards.get("splits") or {}
    files = shards.get("files") or []
    folder = shards.get("image_folder") or None
    splits = [{"name": name, **{key: (split_sizes[name] or {}).get(key) for key in SPLIT_KEYS},
               "duplicate_rows": (split_sizes[name] or {}).get("duplicate_rows", 0)}  # older manifests: none
              for name in _ordered(split_sizes)]
    duplicates = any("duplicate_rows" in (s or {}) for s in split_sizes.values())
    written = _ordered(split_sizes) or _ordered(dict.fromkeys(f.get("split") for f in files if f.get("split")))
    return {
        "config_hash": provenance.get("config_hash"),
        "content_key": provenance.get("content_key"),
        "packages": list((provenance.get("packages") or {}).items()),
        "seeds": list((provenance.get("seeds") or {}).items()),
        "generator_sha256": provenance.get("generator_sha256"),
        "generators": list((provenance.get("generators") or {}).items()),
        "files": shard_table_rows(metrics, digits=None),
        "splits": splits,
        "image_folder": None if not folder else {
            "root": folder.get("root"), "files": folder.get("files"), "checksums": folder.get("checksums"),
            "sha256": folder.get("sha256")},
        "duplicates": duplicates,
        "load_snippet": _load_snippet(written or list(SPLIT_ORDER), duplicates),
    }
