"""PNG bytes in and out, many images at a time.

Small images are written as *stored* PNGs: each image row Up-filtered (PNG filter type 2, the
difference from the row above) and kept in uncompressed deflate blocks. Parquet's zstd then
compresses the whole column, which does better than deflating each small image on its own (437
against 466 bytes per 28×28 Fashion-MNIST row in bench/shards.py's shards; 49 against 69 for the
8×8 digits) at a fraction of the cost: a batch of N images is one N×L array built with a few numpy
operations, and only the two checksums (adler32 of the pixels, crc32 of the chunk) are computed
image by image, in C. Deflating each PNG with Pillow spends 35–140 µs per small image, most of it
setting up the compressor. Stored blocks and filter type 2 are plain PNG: every decoder reads them
(Pillow, so `datasets` and torchvision; browsers; libpng). The image folder gets the same bytes:
larger files than Pillow's (880 against about 500 bytes at 28×28), though a small file takes a
disk block either way.

What stored PNGs save is deflate's overhead per image (its headers and code tables), which only
small images feel: from 32×32 on, measured on Fashion-MNIST scaled to 32–128 px, each image
deflated on its own is as small or smaller (Up-filtered stored PNGs come out 1–16% larger; even
Paeth-filtered ones, at about 20 ns a pixel, 1–4% larger). So ``"auto"`` stores images under
``STORED_BELOW`` bytes and deflates the rest with Pillow, on ``workers`` processes since that time
is spent holding the GIL. ``"deflate"`` is also what every shard held before; bench/shards.py
compares the two.
"""
from __future__ import annotations

import functools
import io
import struct
import zlib
from collections import deque
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import pyarrow as pa
from joblib.executor import get_memmapping_executor
from joblib.externals.loky.process_executor import TerminatedWorkerError
from PIL import Image

from gan_aug.parallel import WorkerDiedError, died_message

MODES = {1: "L", 3: "RGB"}
COLOR_TYPES = {1: 0, 3: 2}  # PNG colour type: greyscale, truecolour
ENCODINGS = ("auto", "stored", "deflate")
STORED_BELOW = 1024  # bytes of pixels (C·H·W): "auto" stores smaller images, deflates larger ones
SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_UP = 2
BLOCK = 65535  # the most bytes a stored deflate block holds
# Below this many rows a pool of processes costs more to start (about a second) than it saves.
PARALLEL_MIN_ROWS = 4096
Job = TypeVar("Job")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@dataclass(frozen=True)
class _Layout:
    """A stored PNG of one shape: ``template`` holds every byte its images share (signature, IHDR,
    block headers, filter bytes, IEND); each block holds whole image rows, so pixels go in with one
    strided copy per block."""

    template: np.ndarray
    row: int  # bytes per filtered row: the filter type, then W·C bytes
    blocks: tuple[tuple[int, int, int], ...]  # (offset in the PNG, first image row, end row)
    adler: int  # offset of the zlib stream's adler32; the IDAT crc32 follows it
    crc_from: int  # offset of the chunk type "IDAT": the crc covers type and data


@functools.lru_cache(maxsize=16)
def _layout(channels: int, height: int, width: int) -> _Layout:
    check_shape((channels, height, width))
    row = 1 + width * channels
    header = SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPES[channels], 0, 0, 0))
    stream = bytearray(b"\x78\x01")  # zlib header: deflate, 32 KiB window, no dictionary
    blocks, per_block = [], BLOCK // row
    for first in range(0, height, per_block):
        end = min(first + per_block, height)
        size = (end - first) * row
        stream += struct.pack("<BHH", int(end == height), size, size ^ 0xFFFF)  # BFINAL, stored, LEN, NLEN
        blocks.append((len(header) + 8 + len(stream), first, end))
        stream += (bytes([FILTER_UP]) + bytes(row - 1)) * (end - first)
    stream += bytes(4)  # adler32
    idat = struct.pack(">I", len(stream)) + b"IDAT" + bytes(stream) + bytes(4)  # crc32
    template = np.frombuffer(header + idat + _chunk(b"IEND", b""), np.uint8)
    return _Layout(template, row, tuple(blocks), len(header) + 8 + len(stream) - 4, len(header) + 4)


def check_shape(shape: tuple[int, ...], encoding: str = "stored") -> None:
    """Refuse, before anything is written, an image shape these PNGs cannot hold."""
    channels, _, width = shape
    if channels not in MODES:
        raise ValueError(f"images must have 1 or 3 channels for PNG, got {channels}")
    if encoding == "stored" and 1 + width * channels > BLOCK:  # a stored block holds whole rows
        raise ValueError(f"images {width} pixels wide with {channels} channels are too wide for PNG rows in "
                         f"stored blocks (at most {BLOCK - 1} bytes a row)")


def _up_differences(images: np.ndarray) -> np.ndarray:
    """N×C×H×W → N×H×(W·C): each image row minus the row above (the first row as it is), as PNG's
    Up filter wants; uint8 arithmetic wraps modulo 256, as PNG does. Computed on whole images: one
    long contiguous subtraction, not one per row."""
    n, channels, height, width = images.shape
    stride = width * channels
    pixels = (images if channels == 1 else images.transpose(0, 2, 3, 1)).reshape(n, height * stride)
    differences = np.empty_like(pixels)
    differences[:, :stride] = pixels[:, :stride]
    np.subtract(pixels[:, stride:], pixels[:, :-stride], out=differences[:, stride:])
    return differences.reshape(n, height, stride)


def _big_endian(values: Iterable[int], count: int) -> np.ndarray:
    return np.fromiter(values, np.uint32, count).astype(">u4").view(np.uint8).reshape(count, 4)


def encode_stored(images: np.ndarray) -> pa.BinaryArray:
    """N×C×H×W uint8 → N stored PNGs, as one Arrow binary array over a single N×L buffer."""
    n, layout = len(images), _layout(*images.shape[1:])
    if n * len(layout.template) >= 2**31:
        raise ValueError(f"{n} PNGs of {len(layout.template)} bytes exceed an Arrow binary array: encode fewer at once")
    out = np.empty((n, len(layout.template)), np.uint8)
    out[:] = layout.template
    differences = _up_differences(images)
    adler = [1] * n  # adler32 of nothing; each block's rows continue it
    for offset, first, end in layout.blocks:
        block = out[:, offset:offset + (end - first) * layout.row]
        block.reshape(n, end - first, layout.row)[:, :, 1:] = differences[:, first:end]
        adler = list(map(zlib.adler32, block, adler))
    out[:, layout.adler:layout.adler + 4] = _big_endian(adler, n)
    idat = out[:, layout.crc_from:layout.adler + 4]  # the chunk's type and data: what its crc32 covers
    out[:, layout.adler + 4:layout.adler + 8] = _big_endian(map(zlib.crc32, idat), n)
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(out.shape[1])
    return pa.BinaryArray.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


def encode_deflate(image: np.ndarray) -> bytes:
    """C×H×W uint8 → a PNG Pillow compressed (what shards held before stored PNGs)."""
    channels = image.shape[0]
    pixels = image[0] if channels == 1 else np.ascontiguousarray(image.transpose(1, 2, 0))
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode=MODES[channels]).save(buffer, format="PNG")
    return buffer.getvalue()


def choose_encoding(encoding: str, shape: tuple[int, ...]) -> str:
    """``"stored"`` or ``"deflate"``: ``"auto"`` resolved for images of this C×H×W shape."""
    if encoding not in ENCODINGS:
        raise ValueError(f"PNG encoding must be one of {ENCODINGS}, got {encoding!r}")
    if encoding != "auto":
        return encoding
    return "stored" if int(np.prod(shape)) < STORED_BELOW else "deflate"


def encode_batch(images: np.ndarray, encoding: str = "stored") -> pa.BinaryArray:
    """N×C×H×W uint8 → one PNG per image (the unit of work sent to a worker)."""
    if encoding == "stored":
        return encode_stored(images)
    if encoding == "deflate":
        return pa.array([encode_deflate(image) for image in images], pa.binary())
    raise ValueError(f"PNG encoding must be 'stored' or 'deflate', got {encoding!r}")


def encode_png(image: np.ndarray, encoding: str = "auto") -> bytes:
    """C×H×W uint8 → lossless PNG bytes (1 channel as "L", 3 as "RGB")."""
    return encode_batch(image[None], choose_encoding(encoding, image.shape))[0].as_py()


def decode_png(data: bytes, channels: int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """PNG bytes → C×H×W uint8; refuses a mode or (H, W) other than the one the manifest promises."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode != MODES[channels]:
            raise ValueError(f"PNG has mode {image.mode!r}, expected {MODES[channels]!r}")
        pixels = np.asarray(image, dtype=np.uint8)
    if shape is not None and pixels.shape[:2] != shape:
        raise ValueError(f"PNG is {pixels.shape[0]}×{pixels.shape[1]}, expected {shape[0]}×{shape[1]}")
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _gather_and_encode(images: Callable[[], np.ndarray], encoding: str) -> pa.BinaryArray:
    return encode_batch(images(), encoding)


class PngEncoder:
    """Encodes batches in order, a few batches ahead of the caller, who writes meanwhile.

    ``"stored"`` runs on one thread (numpy and the checksums are quick; the caller's Parquet write
    releases the GIL, so the two overlap); ``"deflate"`` on ``workers`` processes (loky's, as the
    classifier runs use: never forked from a threaded caller such as a Prefect flow, and never re-running
    the caller's script), or inline when ``workers`` ≤ 1.
    At most ``2 × workers`` batches are in flight, so memory stays bounded however many rows pass.
    """

    def __init__(self, workers: int, encoding: str = "stored") -> None:
        if encoding not in ("stored", "deflate"):
            raise ValueError(f"PNG encoding must be 'stored' or 'deflate', got {encoding!r}")
        self.encoding = encoding
        self.workers = 1 if encoding == "stored" else max(int(workers), 1)
        self._pool: Executor | None = None

    def __enter__(self) -> "PngEncoder":
        if self.encoding == "stored":
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="png")
        elif self.workers > 1:
            # joblib's own handle on loky's shared executor: a bare loky one would lack what joblib's later
            # classifier runs expect of it (its temp-folder manager), and they would fail to start.
            self._pool = get_memmapping_executor(self.workers, max_nbytes=None)
        return self

    def __exit__(self, *exc) -> None:
        if isinstance(self._pool, ThreadPoolExecutor):
            self._pool.shutdown(wait=True, cancel_futures=True)

    def encode(self, jobs: Iterable[tuple[Job, Callable[[], np.ndarray]]]) -> Iterator[tuple[Job, pa.BinaryArray]]:
        """(job, images) pairs in → (job, PNGs) pairs out, in the same order. ``images`` gathers the
        batch: on the encoding thread, so that work overlaps the caller's too; in this process for
        worker processes, which are sent the pixels."""
        if self._pool is None:
            for job, images in jobs:
                yield job, encode_batch(images(), self.encoding)
            return
        pending: deque = deque()
        finished = 0
        for job, images in jobs:
            if isinstance(self._pool, ThreadPoolExecutor):
                future = self._pool.submit(_gather_and_encode, images, self.encoding)
            else:
                future = self._pool.submit(encode_batch, images(), self.encoding)
            pending.append((job, future))
            if len(pending) >= 2 * self.workers:
                done, future = pending.popleft()
                yield done, _result(future, finished)
                finished += 1
        while pending:
            done, future = pending.popleft()
            yield done, _result(future, finished)
            finished += 1


def _result(future, finished: int):
    """The batch's PNGs; a dead worker process named as such (shards already written stay written)."""
    try:
        return future.result()
    except TerminatedWorkerError as error:
        raise WorkerDiedError(died_message("PNG-encoding batch", finished, None, error)) from None
