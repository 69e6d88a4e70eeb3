"""Atomic file writes and content hashes: a reader never sees half a file."""
from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def _megabytes(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{-(-count // 1024)} kB"


class DiskFullError(OSError, ValueError):
    """A full disk, named: a bare ``[Errno 28] No space left on device`` says neither which file nor how
    much room was needed. Still errno ENOSPC (never retried as transient); a ValueError too, so entry
    points that report bad input as a one-line message report this one the same way."""

    def __init__(self, message: str, path: str | Path | None = None, needed: int | None = None,
                 free: int | None = None) -> None:
        super().__init__(errno.ENOSPC, message)
        self.path, self.needed, self.free = path, needed, free

    def __reduce__(self):  # pickled by Prefect and process pools: rebuild from the fields, not OSError's args
        return type(self), (self.strerror, self.path, self.needed, self.free)

    @classmethod
    def at(cls, where: str | Path, needed: int | None = None, what: str = "writing", note: str = "") -> "DiskFullError":
        """The error for ``where``, with the free space measured now (after the partial output is removed)."""
        where = Path(where)
        probe = next((p for p in (where, *where.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(probe).free
        need = f"needs about {_megabytes(needed)}, " if needed is not None else ""
        return cls(f"{where}: the disk is full ({what}: {need}{_megabytes(free)} free on the disk holding it); "
                   f"{note}free some space or choose another output folder, then run again", where, needed, free)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks so large shards stay cheap."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask. Linux shows it in /proc/self/status; elsewhere it can only be read by setting
    it, which a file another thread creates in that instant would feel: so it is set to 022 (never
    0, which would make that file writable by all) and restored at once, under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None], size: int | None = None) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``; on error nothing is left behind and ``path``
    keeps its old content. A full disk raises DiskFullError naming ``path`` (and ``size``, if known).

    The file gets the mode a plain ``open(path, "w")`` of a new file gives (0666 less the umask), not
    mkstemp's private 0600: a colleague or a web server must be able to read a run's report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.chmod(0o666 & ~current_umask())
        write(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if is_disk_full(error) and not isinstance(error, DiskFullError):
            raise DiskFullError.at(path, size, note=f"{path.name} is unchanged; ") from error
        raise
    return path


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temp files of ``path`` that an atomic_write killed mid-write (kill -9, power cut) left
    behind: nothing else removes them, so each such kill would leak a partial copy of the file. Only for
    files with a single writer, such as a training run's checkpoint."""
    path = Path(path)
    stale = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp")) if path.parent.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def atomic_write_bytes(path: str | Path, data: bytes | memoryview) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), size=len(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, payload: Any) -> Path:
    """Pretty, key-stable JSON written atomically (metrics, manifests)."""
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
