"""Content hashes: the one place gan-aug computes sha256.

Cache keys, checkpoint names, shard checksums and code digests are all hex sha256 of some bytes;
what differs is only which bytes. ``json_sha256`` hashes small values (config sections, task
inputs) as canonical JSON (keys sorted), ``bytes_sha256`` and ``file_sha256`` hash bytes as they
are, and ``chunks_sha256`` hashes a stream of pieces in order (arrays, files, several values)
without joining them in memory: the same hex string as hashing the pieces joined.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

CHUNK = 1 << 20  # bytes read from a file at a time


def canonical_json(payload: Any) -> bytes:
    """The bytes ``json_sha256`` hashes: JSON with sorted keys (Python's default separators)."""
    return json.dumps(payload, sort_keys=True).encode()


def json_sha256(payload: Any) -> str:
    """Hex sha256 of a JSON-serialisable value, independent of its dicts' key order."""
    return bytes_sha256(canonical_json(payload))


def bytes_sha256(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def file_chunks(path: str | Path, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """A file's bytes in pieces of ``chunk_size``, so large shards are never read whole."""
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (what ``sha256sum`` prints)."""
    return chunks_sha256(file_chunks(path))


def chunks_sha256(chunks: Iterable[bytes | bytearray | memoryview]) -> str:
    """Hex sha256 of the pieces in order: equal to ``bytes_sha256`` of them joined."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
