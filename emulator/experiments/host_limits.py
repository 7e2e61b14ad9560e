"""The host's own memory-copy limits, measured in this process (wall-clock time).

The emulator moves real bytes, so its floor is the host's copy bandwidth, and on these
machines the first touch of fresh memory costs more than the copy itself. These figures
are the reference the benchmark targets are ratios of.
"""

from __future__ import annotations

import contextlib
import mmap
import time
from dataclasses import dataclass

import numpy as np


def _anon(nbytes: int, huge: bool) -> np.ndarray:
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    advice = mmap.MADV_HUGEPAGE if huge else getattr(mmap, "MADV_NOHUGEPAGE", None)
    if advice is not None:
        with contextlib.suppress(OSError):  # THP off on the host: plain pages
            buf.madvise(advice)
    return np.frombuffer(buf, np.uint8)


@dataclass
class HostCopyTimes:
    """Seconds to copy ``nbytes`` on the host: warm buffers, fresh huge pages, fresh 4 KiB."""

    nbytes: int
    warm_s: float
    fresh_hugepage_s: float
    fresh_4k_s: float

    def gbps(self, seconds: float) -> float:
        return self.nbytes / seconds / 1e9


def _timed_copy(dst: np.ndarray, src: np.ndarray) -> float:
    t = time.perf_counter()
    np.copyto(dst, src)
    return time.perf_counter() - t


def measure_host_copy(nbytes: int = 1 << 30, repeat: int = 3) -> HostCopyTimes:
    """Copy ``nbytes`` three ways; each figure is the best of ``repeat`` copies.

    The source is warm (written first). "warm": into a buffer already written once (no page
    faults: the copy alone). "fresh huge pages" / "fresh 4 KiB": into a new anonymous
    mapping, with and without MADV_HUGEPAGE, so the time includes the kernel's first touch
    (fault + zeroing) of every page, which is what an emulator writing a new node pays.
    """
    src = _anon(nbytes, huge=True)
    src[:] = 1
    warm = _anon(nbytes, huge=True)
    warm[:] = 0
    warm_s = min(_timed_copy(warm, src) for _ in range(repeat))
    del warm

    def fresh(huge: bool) -> float:
        best = float("inf")
        for _ in range(repeat):
            dst = _anon(nbytes, huge=huge)
            best = min(best, _timed_copy(dst, src))
            del dst  # unmapped: the next copy faults in new memory again
        return best

    return HostCopyTimes(nbytes, warm_s, fresh(True), fresh(False))
