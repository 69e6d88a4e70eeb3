"""The Provenance section's view: what produced the shards (package versions, seeds, generator
checkpoints) and what was written (files with checksums, split sizes, the image folder)."""
from __future__ import annotations

from gan_aug.report.tables import shard_table_rows
from gan_aug.run_result import RunResult

SPLIT_ORDER = ("train", "validation", "test")
LOAD_PATTERN = "shards/{split}-*.parquet"


def _ordered(names) -> list[str]:
    """train, validation, test first, then any other split in the order it was written."""
    names = list(names)
    return [n for n in SPLIT_ORDER if n in names] + [n for n in names if n not in SPLIT_ORDER]


def _load_snippet(splits: list[str]) -> str:
    """The datasets call that loads the shards from the run folder, one data_files entry per split; the
    real rows alone leave out duplicated ones too (``is_duplicate``)."""
    files = ",\n".join(f'        "{name}": "{LOAD_PATTERN.format(split=name)}"' for name in splits)
    return ("from datasets import load_dataset\n\n"
            "shards = load_dataset(\n"
            '    "parquet",\n'
            "    data_files={\n"
            f"{files},\n"
            "    },\n"
            ")\n"
            'real_train = shards["train"].filter(lambda row: not row["is_synthetic"] and not row["is_duplicate"])')


def provenance_view(result: RunResult) -> dict:
    """Plain lists and values for the template."""
    shards = result.shards
    provenance, folder = shards.provenance, shards.image_folder
    return {
        "config_hash": provenance.config_hash,
        "content_key": provenance.content_key,
        "packages": list(provenance.packages.items()),
        "seeds": list(provenance.seeds.items()),
        "generator_sha256": provenance.generator_sha256,
        "generators": list(provenance.generators.items()),
        "files": shard_table_rows(result, digits=None),
        "splits": [{"name": name, **shards.splits[name].model_dump()} for name in _ordered(shards.splits)],
        "image_folder": folder,
        "load_snippet": _load_snippet(_ordered(shards.splits)),
    }
