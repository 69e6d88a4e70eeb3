"""Atomic, durable file writes and content hashes: a reader never sees half a file, and a power cut
never leaves a renamed but empty one."""
from __future__ import annotations

import ctypes
import errno
import functools
import glob
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


def fsync_path(path: str | Path) -> None:
    """Flush a file's bytes, or a folder's entries (the names renamed into or out of it), to the disk."""
    directory = os.path.isdir(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        if directory and os.name == "nt":  # Windows cannot open a folder; NTFS journals its entries itself
            return
        raise
    try:
        os.fsync(fd)
    except OSError as error:
        # A few filesystems (some network and FUSE ones) refuse fsync on a folder: they order renames themselves.
        if not (directory and error.errno in (errno.EINVAL, errno.ENOTSUP, errno.EBADF)):
            raise
    finally:
        os.close(fd)


def durable_replace(src: str | Path, dst: str | Path) -> None:
    """``os.replace(src, dst)`` that a power cut cannot undo halfway. The kernel may write the rename
    to disk before the data it names: without the first fsync, a crash can leave ``dst`` renamed but
    empty. So ``src`` (a finished file, or a folder whose files are already on disk) is flushed first,
    and ``dst``'s folder after, which makes the rename itself permanent. Two fsyncs per file."""
    fsync_path(src)
    os.replace(src, dst)
    fsync_path(Path(dst).parent)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):  # not Linux
        return None


def sync_filesystem(path: str | Path) -> None:
    """Flush everything written to the filesystem that holds ``path`` (Linux's syncfs; elsewhere sync,
    every filesystem): one call for a folder of many small files, such as an image per row, where an
    fsync per file would cost more than writing them did."""
    syncfs = _syncfs()
    if syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(path))
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], None], size: int | None = None) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``; on error nothing is left behind and ``path``
    keeps its old content. A full disk raises DiskFullError naming ``path`` (and ``size``, if known).
    The rename is durable (durable_replace): after a power cut ``path`` holds the old or the new bytes.

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
        durable_replace(tmp, path)
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
