"""The balanced data set on disk: Parquet shards per split, an image folder and a manifest.

A run folder ends up with::

    shards/train-00000-of-0000N.parquet   train: the TrainingMix, class by class real, synthetic and
                                          duplicated real rows (each flagged), balanced to the row
    shards/validation-…, shards/test-…    real rows only
        columns: image {bytes, path} (PNG), label (ClassLabel), label_name, is_synthetic,
        is_duplicate (a copy of a real row, added to balance its class), weight (loss weight:
        the mix's synthetic weight for synthetic rows, else 1), source_index (real and duplicate
        rows), one score column per registered filter (d_score / label_prob / nn_distance), then
        generator_sha256 / seed (synthetic)
    images/<split>/<class>/<real|syn|dup>-<id>.png   the same rows as torchvision ImageFolders
                                          (a duplicate: dup-<source_index>-<n>.png, its n-th copy)
    images/SHA256SUMS                     a checksum per image file (`sha256sum -c` reads it)
    manifest.json                         provenance, settings, the train mix's synthetic weight and
                                          late_from, every shard with rows, per-class counts of each
                                          kind and sha256; written last

``read_shards`` loads a split as an ImageSet (every row) with its synthetic flags; ``read_mix``
loads it as the TrainingMix it was written from.
"""
from gan_aug.shards.png import decode_png, encode_png
from gan_aug.shards.reader import load_manifest, read_mix, read_shards
from gan_aug.shards.schema import shard_schema
from gan_aug.shards.verify import Verification, verify_shards
from gan_aug.shards.writer import CHECKSUMS, IMAGES_DIR, MANIFEST, SHARDS_DIR, write_shards

__all__ = ["CHECKSUMS", "IMAGES_DIR", "MANIFEST", "SHARDS_DIR", "Verification", "decode_png", "encode_png",
           "load_manifest", "read_mix", "read_shards", "shard_schema", "verify_shards", "write_shards"]
