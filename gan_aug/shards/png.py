"""PNG bytes in and out, and encoding many images on several cores.

PIL spends most of a small image's encoding time in Python, so threads do not help: batches go
to worker processes (spawned, so a threaded caller such as a Prefect flow is never forked).
"""
from __future__ import annotations

import io
import multiprocessing
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Iterable, Iterator, TypeVar

import numpy as np
from PIL import Image

MODES = {1: "L", 3: "RGB"}
# Below this many rows a pool costs more to start (about a second) than it saves.
PARALLEL_MIN_ROWS = 4096
Job = TypeVar("Job")


def encode_png(image: np.ndarray) -> bytes:
    """C×H×W uint8 → lossless PNG bytes (1 channel as "L", 3 as "RGB")."""
    channels = image.shape[0]
    pixels = image[0] if channels == 1 else np.ascontiguousarray(image.transpose(1, 2, 0))
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode=MODES[channels]).save(buffer, format="PNG")
    return buffer.getvalue()


def encode_batch(images: np.ndarray) -> list[bytes]:
    """N×C×H×W uint8 → one PNG per image (the unit of work sent to a worker process)."""
    return [encode_png(image) for image in images]


def decode_png(data: bytes, channels: int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """PNG bytes → C×H×W uint8; refuses a mode or (H, W) other than the one the manifest promises."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode != MODES[channels]:
            raise ValueError(f"PNG has mode {image.mode!r}, expected {MODES[channels]!r}")
        pixels = np.asarray(image, dtype=np.uint8)
    if shape is not None and pixels.shape[:2] != shape:
        raise ValueError(f"PNG is {pixels.shape[0]}×{pixels.shape[1]}, expected {shape[0]}×{shape[1]}")
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


class PngEncoder:
    """Encodes batches in order, on ``workers`` processes or inline (``workers`` ≤ 1).

    At most ``2 × workers`` batches are in flight, so memory stays bounded however many rows
    pass through.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(int(workers), 1)
        self._pool: Executor | None = None

    def __enter__(self) -> "PngEncoder":
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def encode(self, jobs: Iterable[tuple[Job, np.ndarray]]) -> Iterator[tuple[Job, list[bytes]]]:
        """(job, images) pairs in → (job, PNGs) pairs out, in the same order."""
        if self._pool is None:
            for job, images in jobs:
                yield job, encode_batch(images)
            return
        pending: deque = deque()
        for job, images in jobs:
            pending.append((job, self._pool.submit(encode_batch, images)))
            if len(pending) >= 2 * self.workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
