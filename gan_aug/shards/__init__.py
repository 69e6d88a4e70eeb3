"""The balanced data set on disk: Parquet shards per split, an image folder and a manifest.

A run folder ends up with::

    shards/train-00000-of-0000N.parquet   train: real and synthetic rows (synthetic flagged)
    shards/validation-…, shards/test-…    real rows only
        columns: image {bytes, path} (PNG), label (ClassLabel), label_name, is_synthetic,
        source_index (real), d_score / label_prob / nn_distance (filter scores),
        generator_sha256 / seed (synthetic)
    images/<split>/<class>/<real|syn>-<id>.png   the same rows as torchvision ImageFolders
    images/SHA256SUMS                     a checksum per image file (`sha256sum -c` reads it)
    manifest.json                         provenance, settings, every shard with rows, per-class
                                          counts and sha256; written last
"""
from gan_aug.shards.png import decode_png, encode_png
from gan_aug.shards.reader import load_manifest, read_shards
from gan_aug.shards.schema import shard_schema
from gan_aug.shards.verify import Verification, verify_shards
from gan_aug.shards.writer import CHECKSUMS, IMAGES_DIR, MANIFEST, SHARDS_DIR, write_shards

__all__ = ["CHECKSUMS", "IMAGES_DIR", "MANIFEST", "SHARDS_DIR", "Verification", "decode_png", "encode_png",
           "load_manifest", "read_shards", "shard_schema", "verify_shards", "write_shards"]
