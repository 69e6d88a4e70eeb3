"""One entry point from a data config to the in-memory contract, and to the splits a run uses.

The reader is chosen from ``data.format`` or detected from the path; folders and Parquet
(the formats that need decoding) are cached by content hash.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gan_aug.config import DataConfig
from gan_aug.data import cache
from gan_aug.data.builtin import BUILTIN_SETS
from gan_aug.data.decode import DecodeOptions, conform_array
from gan_aug.data.errors import DataError
from gan_aug.data.formats import RawSource, ReadOptions
from gan_aug.data.imageset import ImageSet
from gan_aug.data.labels import enforce_min_count, to_image_set
from gan_aug.data.longtail import subsample_long_tail
from gan_aug.data.split import Splits, stratified_split
from gan_aug.progress import Progress

CACHED_FORMATS = ("folder", "parquet")


@dataclass(frozen=True)
class Loaded:
    """A loaded source and what loading it found."""

    data: ImageSet
    format: str
    skipped: list[str] = field(default_factory=list)  # unreadable items left out (data.skip_unreadable)
    warnings: list[str] = field(default_factory=list)  # e.g. classes dropped for being too small
    formats: dict[str, int] = field(default_factory=dict)  # "W×H MODE" as stored → count
    from_cache: bool = False
    origins: list[str] = field(default_factory=list)  # per row of ``data``: the file or "file:row" it came from


def _readers() -> dict:
    from gan_aug.data.formats.csv_manifest import read_csv_manifest
    from gan_aug.data.formats.folder import read_folder
    from gan_aug.data.formats.idx import read_idx
    from gan_aug.data.formats.npz import read_npz
    from gan_aug.data.formats.parquet import read_parquet

    return {"folder": read_folder, "csv": read_csv_manifest, "parquet": read_parquet, "npz": read_npz,
            "idx": read_idx}


def detect_format(source: str) -> str:
    """A built-in name, or the format a path's shape and suffix say; DataError when it cannot tell."""
    if source in BUILTIN_SETS:
        return "builtin"
    path = Path(source)
    if not path.exists():
        raise DataError(f"data.source {source!r}: no such file or folder, and not a built-in set "
                        f"({', '.join(BUILTIN_SETS)})")
    if path.is_dir():
        if any(path.glob("*.parquet")):
            return "parquet"
        return "idx" if any("idx" in p.name for p in path.iterdir() if p.is_file()) else "folder"
    suffixes = "".join(path.suffixes).lower()
    for suffix, fmt in ((".parquet", "parquet"), (".csv", "csv"), (".npz", "npz")):
        if suffixes.endswith(suffix):
            return fmt
    if "idx" in path.name:
        return "idx"
    raise DataError(f"data.source {source!r}: cannot tell its format from the name; set data.format")


def read_options(config: DataConfig) -> ReadOptions:
    decode = DecodeOptions(config.image_size, config.channels, config.skip_unreadable, config.workers)
    return ReadOptions(decode, config.label_column, config.image_column)


def _read_builtin(name: str, options: ReadOptions) -> RawSource:
    data = BUILTIN_SETS[name]()
    images = conform_array(data.images, name, options.decode)
    labels = [data.class_names[label] for label in data.labels]
    return RawSource(images, labels, [f"{name}:{i}" for i in range(len(data))],
                     class_names=list(data.class_names),
                     formats={f"{data.image_size}×{data.image_size} {'L' if data.channels == 1 else 'RGB'}": len(data)})


def _source_files(fmt: str, path: Path) -> list[Path]:
    if fmt == "folder":
        from gan_aug.data.formats.folder import list_folder

        return [file for file, _ in list_folder(path)]
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def read_raw(config: DataConfig, progress: Progress | None = None) -> tuple[RawSource, str, bool]:
    """The source as a RawSource, its format, and whether it came from the cache."""
    fmt = detect_format(config.source) if config.format == "auto" else config.format
    options = read_options(config)
    if fmt == "builtin":
        if config.source not in BUILTIN_SETS:
            raise DataError(f"data.source {config.source!r} is not a built-in set ({', '.join(BUILTIN_SETS)})")
        return _read_builtin(config.source, options), fmt, False
    path = Path(config.source)
    if not path.exists():
        raise DataError(f"data.source {config.source!r}: no such file or folder")
    if not (config.cache and fmt in CACHED_FORMATS):
        return _readers()[fmt](path, options, progress), fmt, False
    settings = {"format": fmt, "image_size": config.image_size, "channels": config.channels,
                "skip_unreadable": config.skip_unreadable, "label_column": config.label_column,
                "image_column": config.image_column}
    key = cache.content_key(_source_files(fmt, path), settings)
    cache_dir = Path(config.cache_dir) if config.cache_dir else cache.default_cache_dir()
    if (raw := cache.load_cached(cache_dir, key)) is not None:
        return raw, fmt, True
    raw = _readers()[fmt](path, options, progress)
    cache.save_cached(cache_dir, key, raw)
    return raw, fmt, False


def load_source(config: DataConfig, progress: Progress | None = None) -> Loaded:
    """Read, label and check the configured source; the source itself is only ever opened for reading."""
    raw, fmt, from_cache = read_raw(config, progress)
    data = to_image_set(raw, config.source)
    data, warnings = enforce_min_count(data, config.min_images_per_class, config.small_class_policy,
                                       config.source)
    origins = [raw.origins[i] for i in data.source_index]
    return Loaded(data, fmt, list(raw.problems), warnings, dict(raw.formats), from_cache, origins)


def make_splits(source: ImageSet, config: DataConfig) -> Splits:
    """Split first, then make train and validation long-tailed if asked.

    The test split keeps the source's distribution, so every class is measured on enough
    real images (the CIFAR-LT protocol); validation is cut down like training because a
    user with rare classes has few validation images of them too.
    """
    splits = stratified_split(source, config.val_fraction, config.test_fraction, config.split_seed)
    tail = config.long_tail
    if tail is None:
        return splits
    shrink = lambda part, offset: subsample_long_tail(  # noqa: E731
        part, tail.profile, tail.imbalance_ratio, tail.seed + offset, tail.step_minority_classes
    )
    return Splits(train=shrink(splits.train, 0), val=shrink(splits.val, 1), test=splits.test)
