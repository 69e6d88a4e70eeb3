"""Resident memory of a benchmark's process and its children (worker processes it started), from /proc."""
from __future__ import annotations

import threading
from pathlib import Path


def rss(pid: int | str = "self", field: str = "VmRSS") -> int:
    """A process's resident bytes (``field`` "VmHWM": its high-water mark); 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return 0


class RssSampler(threading.Thread):
    """Peak of this process's resident memory plus its children's, sampled every 50 ms: a child's
    memory never shows in this process's own high-water mark."""

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
            self.peak = max(self.peak, rss() + sum(rss(pid) for pid in children))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak
