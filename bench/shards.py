"""Benchmark: shard-writing throughput beside a raw pyarrow write, and peak memory against row count.

For each row count, a fresh process tiles Fashion-MNIST's training images (28×28, real pixels:
PNG sizes depend on content) to that many rows and times ``gan_aug.shards.write_shards`` on them
(train split only, no image folder unless --image-folder). Then it reads the shards it wrote back
into memory and times ``pyarrow.parquet.write_table`` of exactly those rows with the same
compression and row groups: the floor of what writing these bytes costs, without PNG encoding,
checksums or bookkeeping.

MB/s is shard bytes on disk per second for both, so their ratio is the writer's efficiency.
Memory, measured in the fresh process after the input set is built:
  heap peak          numpy/Python allocations (tracemalloc) plus pyarrow's pool peak during the
                     write, the input set excluded: what the writer itself holds at most
  RSS added          peak resident memory of this process and its PNG-encoding workers together
                     (sampled from /proc every 50 ms), minus what this process held before writing
Bounded means these stay flat as the row count grows.

    .venv/bin/python bench/shards.py                          # 250k, 500k and 1M rows
    .venv/bin/python bench/shards.py --rows 100000 --workers 1
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
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

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


def _rss(pid: int | str = "self") -> int:
    """Resident bytes of a process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


class _RssSampler(threading.Thread):
    """Peak of this process's resident memory plus its children's (the encoding workers)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self._done = 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            children = []
            for task in Path("/proc/self/task").iterdir():
                try:
                    children += (task / "children").read_text().split()
                except OSError:
                    pass
            self.peak = max(self.peak, _rss() + sum(_rss(pid) for pid in children))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def child(rows: int, workers: int, image_size: int, image_folder: bool, shard_mb: float, group_mb: float) -> dict:
    """One measurement in this (fresh) process; printed as JSON."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gan_aug.config import ShardConfig
    from gan_aug.shards import write_shards
    from gan_aug.synthetic import SyntheticSet

    data = _input(rows, image_size)
    empty = SyntheticSet.empty(data.images.shape[1:], "")
    out = Path(tempfile.mkdtemp(prefix="gan-aug-bench-shards-"))
    try:
        rss_before = _rss()
        sampler = _RssSampler()
        sampler.start()
        tracemalloc.start()
        pool = pa.default_memory_pool()
        start = time.perf_counter()
        settings = ShardConfig(shard_size_mb=shard_mb, row_group_mb=group_mb, image_folder=image_folder,
                               workers=workers)
        manifest = write_shards(out / "run", data, empty, settings)
        seconds = time.perf_counter() - start
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_peak = sampler.stop()
        arrow_peak = pool.max_memory()
        total = sum(e["bytes"] for e in manifest["shards"])

        # The same rows, already encoded, written by pyarrow alone, shard by shard.
        raw_seconds = 0.0
        for entry in manifest["shards"]:
            table = pq.read_table(out / "run" / entry["file"])
            rows_per_group = -(-entry["rows"] // entry["row_groups"])
            start = time.perf_counter()
            pq.write_table(table, out / "raw.parquet", compression="zstd", row_group_size=rows_per_group)
            raw_seconds += time.perf_counter() - start
            del table
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "rows": rows, "image_shape": list(data.images.shape[1:]), "workers": workers or os.cpu_count(),
        "image_folder": image_folder, "shards": len(manifest["shards"]),
        "row_groups": sum(e["row_groups"] for e in manifest["shards"]), "shard_mb": total / MB,
        "seconds": seconds, "rows_per_s": rows / seconds, "writer_mb_s": total / MB / seconds,
        "raw_seconds": raw_seconds, "raw_mb_s": total / MB / raw_seconds,
        "input_mb": data.images.nbytes / MB, "writer_heap_peak_mb": (heap_peak + arrow_peak) / MB,
        "rss_before_write_mb": rss_before / MB, "rss_added_mb": max(rss_peak - rss_before, 0) / MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 500_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=0, help="PNG-encoding processes (0: one per core)")
    parser.add_argument("--image-size", type=int, default=28, help="resize Fashion-MNIST to S×S")
    parser.add_argument("--image-folder", action="store_true", help="also write the image folder")
    parser.add_argument("--shard-mb", type=float, default=256.0)
    parser.add_argument("--row-group-mb", type=float, default=16.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.rows[0], args.workers, args.image_size, args.image_folder, args.shard_mb,
                               args.row_group_mb)))
        return

    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"shards of {args.shard_mb:g} MB, row groups of {args.row_group_mb:g} MB, zstd")
    header = (f"{'rows':>9} {'shape':>9} {'shards':>6} {'MB':>8} {'s':>7} {'rows/s':>8} {'writer MB/s':>11} "
              f"{'raw MB/s':>9} {'ratio':>6} {'heap peak MB':>12} {'RSS added MB':>12}")
    print(header)
    results = []
    for rows in args.rows:
        command = [sys.executable, __file__, "--child", "--rows", str(rows), "--workers", str(args.workers),
                   "--image-size", str(args.image_size), "--shard-mb", str(args.shard_mb),
                   "--row-group-mb", str(args.row_group_mb)] + (["--image-folder"] if args.image_folder else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"the measurement of {rows} rows failed:\n{done.stderr}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['rows']:>9} {'×'.join(map(str, r['image_shape'])):>9} {r['shards']:>6} {r['shard_mb']:>8.1f} "
              f"{r['seconds']:>7.1f} {r['rows_per_s']:>8.0f} {r['writer_mb_s']:>11.1f} {r['raw_mb_s']:>9.1f} "
              f"{r['writer_mb_s'] / r['raw_mb_s']:>6.0%} {r['writer_heap_peak_mb']:>12.1f} "
              f"{r['rss_added_mb']:>12.0f}", flush=True)
    target = all(r["writer_mb_s"] >= 0.7 * r["raw_mb_s"] for r in results)
    print(f"target writer ≥ 70% of raw pyarrow: {'met' if target else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
