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


def measure_host_copy(nbytes: int = 1 << 30) -> HostCopyTimes:
    """Copy ``nbytes`` three ways, each once (the caller repeats if it wants statistics)."""
    src = _anon(nbytes, huge=True)
    src[:] = 1
    warm = _anon(nbytes, huge=True)
    warm[:] = 0
    t = time.perf_counter()
    warm[:] = src
    warm_s = time.perf_counter() - t
    del warm
    fresh = _anon(nbytes, huge=True)
    t = time.perf_counter()
    fresh[:] = src
    fresh_hp = time.perf_counter() - t
    del fresh
    fresh4 = _anon(nbytes, huge=False)
    t = time.perf_counter()
    fresh4[:] = src
    fresh_4k = time.perf_counter() - t
    return HostCopyTimes(nbytes, warm_s, fresh_hp, fresh_4k)
