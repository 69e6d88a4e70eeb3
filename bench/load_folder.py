"""Benchmark: load a large image folder — first (parallel decode + cache write) and again (cache hit).

Prints images/s for each, the content-hash time, the cache's size and peak memory. Uses
Fashion-MNIST's training images (Debian's dataset-fashion-mnist) written as PNGs, repeated to reach
--images; random images when it is not installed.

    .venv/bin/python bench/load_folder.py --images 100000
"""
from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def build_folder(root: Path, count: int) -> None:
    from gan_aug.data.builtin import FASHION_MNIST_DIR, fashion_mnist

    if (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        data = fashion_mnist("train")
        images, labels, names = data.images[:, 0], data.labels, data.class_names
    else:
        rng = np.random.default_rng(0)
        images, labels = rng.integers(0, 256, (1000, 28, 28), dtype=np.uint8), np.arange(1000) % 10
        names = tuple(str(i) for i in range(10))
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        j = i % len(images)
        Image.fromarray(images[j]).save(root / names[labels[j]] / f"{i:06d}.png")


def timed(label: str, fn):
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=0, help="decode threads; 0 = one per core")
    args = parser.parse_args()

    from gan_aug.config import DataConfig
    from gan_aug.data import cache
    from gan_aug.data.formats.folder import list_folder
    from gan_aug.data.load import load_source

    work = Path(tempfile.mkdtemp(prefix="gan-aug-bench-"))
    try:
        root, cache_dir = work / "folder", work / "cache"
        _, build_s = timed("build", lambda: build_folder(root, args.images))
        config = DataConfig(source=str(root), cache_dir=str(cache_dir), workers=args.workers)
        first, first_s = timed("first", lambda: load_source(config))
        second, second_s = timed("second", lambda: load_source(config))
        files = [path for path, _ in list_folder(root)]
        _, hash_s = timed("hash", lambda: cache.content_key(files, {}))
        assert not first.from_cache and second.from_cache
        assert np.array_equal(first.data.images, second.data.images)
        cache_mb = sum(p.stat().st_size for p in cache_dir.rglob("*") if p.is_file()) / 1e6
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        n = len(first.data)
        print(f"images: {n} ({'×'.join(map(str, first.data.images.shape[1:]))}), folder written in {build_s:.1f} s")
        print(f"{'load':<34}{'seconds':>10}{'images/s':>12}")
        print(f"{'first (decode + cache write)':<34}{first_s:>10.2f}{n / first_s:>12.0f}")
        print(f"{'again (content hash + mmap)':<34}{second_s:>10.2f}{n / second_s:>12.0f}")
        print(f"{'  of which content hash':<34}{hash_s:>10.2f}")
        print(f"cache entry: {cache_mb:.1f} MB; peak RSS: {peak_mb:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
