"""The shard's columns, and the metadata that makes Hugging Face `datasets` read them right.

Without the ``huggingface`` schema metadata, `datasets` would show ``image`` as a plain
{bytes, path} struct and ``label`` as an int; with it, an Image and a ClassLabel.
"""
from __future__ import annotations

import json

import pyarrow as pa

from gan_aug.filters.registry import score_columns

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
ROW_COLUMNS = (
    ("image", IMAGE_TYPE, {"_type": "Image"}),
    ("label", pa.int64(), None),  # ClassLabel, built with the class names below
    ("label_name", pa.string(), "string"),
    ("is_synthetic", pa.bool_(), "bool"),
    ("is_duplicate", pa.bool_(), "bool"),  # a copy of a real row, added to balance its class: no new data
    ("weight", pa.float32(), "float32"),  # the row's loss weight: the mix's synthetic weight, else 1
    ("source_index", pa.int64(), "int64"),  # real and duplicate rows: the (original's) row in the loaded source
)
PROVENANCE_COLUMNS = (
    ("generator_sha256", pa.string(), "string"),  # synthetic rows: the checkpoint that made the row
    ("seed", pa.int64(), "int64"),  # ... and its latent seed: (checkpoint, label, seed) regenerates it
)


def columns() -> tuple[tuple[str, pa.DataType, object], ...]:
    """Every shard column in order: the row's own, then each registered filter's score (synthetic rows;
    null when the filter was off and the generator gave none), then where a synthetic row came from."""
    scores = tuple((name, pa.float32(), "float32") for name in score_columns())
    return ROW_COLUMNS + scores + PROVENANCE_COLUMNS


def shard_schema(class_names: tuple[str, ...] | list[str]) -> pa.Schema:
    """Arrow schema with the `datasets` features (Image, ClassLabel with the class names)."""
    features, every = {}, columns()
    for name, _, feature in every:
        if name == "label":
            features[name] = {"names": list(class_names), "_type": "ClassLabel"}
        else:
            features[name] = feature if isinstance(feature, dict) else {"dtype": feature, "_type": "Value"}
    schema = pa.schema([(name, arrow_type) for name, arrow_type, _ in every])
    return schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})
