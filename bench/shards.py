"""Benchmark: shard-writing throughput beside a raw pyarrow write, and peak memory against row count.

For each row count and each PNG encoding (``deflate``: every PNG compressed by Pillow, what every
shard held before; ``auto``, today's default: PNGs in stored deflate blocks that the column's zstd
compresses for images under 1 KiB, such as these, and Pillow's deflate beyond; ``stored`` forces
stored PNGs; see gan_aug/shards/png.py), a fresh process tiles Fashion-MNIST's training images (28×28,
real pixels: PNG sizes depend on content) to that many rows and times ``gan_aug.shards.write_shards`` on them
(train split only, no image folder unless --image-folder). Then it reads the shards it wrote back
into memory and times ``pyarrow.parquet.write_table`` of exactly those rows with the same
compression and row groups: the floor of what writing these bytes costs, without PNG encoding,
checksums or bookkeeping.

MB/s is shard bytes on disk per second for both, so their ratio is the writer's efficiency; B/row is
shard bytes per row, the size the encoding gives.
Memory, measured in the fresh process after the input set is built:
  heap peak          numpy/Python allocations (tracemalloc) plus pyarrow's pool peak during a second,
                     untimed write (tracemalloc slows every allocation), the input set excluded:
                     what the writer itself holds at most
  RSS added          peak resident memory of this process and its PNG-encoding workers together
                     (sampled from /proc every 50 ms), minus what this process held before writing
Bounded means these stay flat as the row count grows.

    .venv/bin/python bench/shards.py                          # 250k, 500k and 1M rows, both encodings
    .venv/bin/python bench/shards.py --rows 100000 --workers 1
    .venv/bin/python bench/shards.py --rows 1000000 --encodings auto
    .venv/bin/python bench/shards.py --image-size 128 --rows 50000
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from memory import RssSampler, rss  # bench/memory.py, beside this script

MB = 2**20


def _input(rows: int, image_size: int):
    """Fashion-MNIST train images tiled to ``rows`` (optionally resized), with unique source indices."""
    from gan_aug.data.builtin import fashion_mnist
    from gan_aug.data.imageset import ImageSet

    base = fashion_mnist("train")
    images, labels = base.images, base.labels
    if image_size != images.shape[-1]:
        import torch
        import torch.nn.functional as F

        resized = F.interpolate(torch.from_numpy(images).float(), size=(image_size, image_size), mode="bilinear",
                                align_corners=False)
        images = resized.round().clamp(0, 255).to(torch.uint8).numpy()
    reps = -(-rows // len(images))
    index = np.tile(np.arange(len(images)), reps)[:rows]
    return ImageSet(images[index], labels[index], base.class_names, np.arange(rows, dtype=np.int64))


def _raw_seconds(run: Path, manifest: dict, target: Path) -> float:
    """The same rows, already encoded, written by pyarrow alone, shard by shard."""
    import pyarrow.parquet as pq

    seconds = 0.0
    for entry in manifest["shards"]:
        table = pq.read_table(run / entry["file"])
        rows_per_group = -(-entry["rows"] // entry["row_groups"])
        start = time.perf_counter()
        pq.write_table(table, target, compression="zstd", row_group_size=rows_per_group)
        seconds += time.perf_counter() - start
        del table
    return seconds


def _heap_peak(write) -> float:
    """Peak bytes the writer holds: numpy/Python (tracemalloc) plus pyarrow's pool. A second, untimed
    write: tracemalloc slows every allocation (several µs a row here), so timing under it would not
    measure the writer."""
    import pyarrow as pa

    tracemalloc.start()
    write()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak + pa.default_memory_pool().max_memory()


def child(rows: int, workers: int, image_size: int, image_folder: bool, shard_mb: float, group_mb: float,
          encoding: str) -> dict:
    """One measurement in this (fresh) process; printed as JSON."""
    from gan_aug.config import ShardConfig
    from gan_aug.mix import real_only
    from gan_aug.shards import write_shards

    data = _input(rows, image_size)
    settings = ShardConfig(shard_size_mb=shard_mb, row_group_mb=group_mb, image_folder=image_folder, workers=workers)
    out = Path(tempfile.mkdtemp(prefix="gan-aug-bench-shards-"))
    try:
        rss_before, sampler = rss(), RssSampler()
        sampler.start()
        start = time.perf_counter()
        manifest = write_shards(out / "run", real_only(data), settings, encoding=encoding)
        seconds = time.perf_counter() - start
        rss_peak = sampler.stop()
        # Before the raw write, which reads whole shards into pyarrow's pool (its peak is never reset).
        heap_peak = _heap_peak(lambda: write_shards(out / "heap", real_only(data), settings, encoding=encoding))
        raw_seconds = _raw_seconds(out / "run", manifest, out / "raw.parquet")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    total = sum(e["bytes"] for e in manifest["shards"])
    return {
        "rows": rows, "encoding": encoding, "png": manifest["settings"]["png_encoding"],
        "image_shape": list(data.images.shape[1:]),
        "workers": workers or os.cpu_count(), "image_folder": image_folder, "shards": len(manifest["shards"]),
        "row_groups": sum(e["row_groups"] for e in manifest["shards"]), "shard_mb": total / MB,
        "seconds": seconds, "rows_per_s": rows / seconds, "writer_mb_s": total / MB / seconds,
        "raw_seconds": raw_seconds, "raw_mb_s": total / MB / raw_seconds,
        "input_mb": data.images.nbytes / MB, "writer_heap_peak_mb": heap_peak / MB,
        "rss_before_write_mb": rss_before / MB, "rss_added_mb": max(rss_peak - rss_before, 0) / MB,
    }


def _measure(rows: int, encoding: str, args: argparse.Namespace) -> dict:
    """One measurement in a fresh process (so neither memory nor warm caches carry over)."""
    command = [sys.executable, __file__, "--child", "--rows", str(rows), "--workers", str(args.workers),
               "--image-size", str(args.image_size), "--shard-mb", str(args.shard_mb),
               "--row-group-mb", str(args.row_group_mb), "--encodings", encoding]
    done = subprocess.run(command + (["--image-folder"] if args.image_folder else []), capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the measurement of {rows} rows ({encoding}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _verdict(results: list[dict]) -> None:
    """The issue's targets: today's writer at ≥ 50% of raw pyarrow, with shards no larger than before."""
    now = [r for r in results if r["encoding"] == "auto"]
    if now:
        met = all(r["writer_mb_s"] >= 0.5 * r["raw_mb_s"] for r in now)
        print(f"target: writer (auto) ≥ 50% of raw pyarrow: {'met' if met else 'NOT met'}")
    for r in now:
        before = next((b for b in results if b["encoding"] == "deflate" and b["rows"] == r["rows"]), None)
        if before is not None:
            print(f"{r['rows']} rows: auto ({r['png']}) writes {before['seconds'] / r['seconds']:.1f}× faster than "
                  f"deflate; shards {r['shard_mb'] / before['shard_mb']:.1%} of deflate's size")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 500_000, 1_000_000])
    parser.add_argument("--encodings", nargs="+", choices=["deflate", "auto", "stored"], default=["deflate", "auto"],
                        help="PNG encodings to compare (deflate: before; auto: today's default)")
    parser.add_argument("--workers", type=int, default=0, help="PNG-encoding processes for deflate (0: one per core)")
    parser.add_argument("--image-size", type=int, default=28, help="resize Fashion-MNIST to S×S")
    parser.add_argument("--image-folder", action="store_true", help="also write the image folder")
    parser.add_argument("--shard-mb", type=float, default=256.0)
    parser.add_argument("--row-group-mb", type=float, default=16.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.rows[0], args.workers, args.image_size, args.image_folder, args.shard_mb,
                               args.row_group_mb, args.encodings[0])))
        return

    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"shards of {args.shard_mb:g} MB, row groups of {args.row_group_mb:g} MB, zstd")
    print(f"{'rows':>9} {'encoding':>12} {'shape':>9} {'shards':>6} {'MB':>8} {'B/row':>6} {'s':>7} {'rows/s':>8} "
          f"{'writer MB/s':>11} {'raw MB/s':>9} {'ratio':>6} {'heap peak MB':>12} {'RSS added MB':>12}")
    results = []
    for rows in args.rows:
        for encoding in args.encodings:
            r = _measure(rows, encoding, args)
            results.append(r)
            label = encoding if r["png"] == encoding else f"{encoding}:{r['png']}"
            print(f"{r['rows']:>9} {label:>12} {'×'.join(map(str, r['image_shape'])):>9} {r['shards']:>6} "
                  f"{r['shard_mb']:>8.1f} {r['shard_mb'] * MB / r['rows']:>6.0f} {r['seconds']:>7.2f} "
                  f"{r['rows_per_s']:>8.0f} {r['writer_mb_s']:>11.1f} {r['raw_mb_s']:>9.1f} "
                  f"{r['writer_mb_s'] / r['raw_mb_s']:>6.0%} {r['writer_heap_peak_mb']:>12.1f} "
                  f"{r['rss_added_mb']:>12.0f}", flush=True)
    _verdict(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
