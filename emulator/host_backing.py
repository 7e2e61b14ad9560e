"""Host memory behind the emulated RAM: anonymous mmap chunks, faulted in off the main thread.

The first write to fresh anonymous memory costs the host kernel a page fault and a zeroing
per page: here about 1 s per GiB, ten times the copy itself (issue 9, "Performance"). Like
QEMU's ``prealloc-threads`` for guest RAM, a chunk that a streaming writer is about to fill
is handed to a background thread that faults it in with ``madvise(MADV_POPULATE_WRITE)``
(Linux 5.14+). That call never changes contents (it only maps zero-filled pages where none
are present), so it is safe while the emulator writes the same chunk, and ctypes releases
the GIL around it, so the emulator's own thread runs on while the host kernel populates the
chunk on another core. Simulated results are untouched: this is host bookkeeping only.
Set ``DCBM_EMU_PREFAULT=0`` to turn it off.

The populate call holds the process's mmap lock, so the emulator's own thread should map
and unmap little meanwhile: glibc malloc is tuned at import to serve and keep large blocks
from its heap (``tune_malloc``; ``DCBM_EMU_MALLOC_TUNING=0`` turns it off).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import queue
import threading
from typing import Any

import numpy as np

MADV_POPULATE_WRITE = 23  # include/uapi/asm-generic/mman-common.h
POPULATE_STEP = 2 << 20  # bytes per madvise call: one x86-64 huge page (PMD)


def anon_chunk(size: int) -> np.ndarray:
    """A zero-filled, lazily committed host buffer of ``size`` bytes (huge pages advised)."""
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0)
    buf = mmap.mmap(-1, size, flags=flags)
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is not None:
        with contextlib.suppress(OSError):  # THP disabled on the host: plain pages work
            buf.madvise(advice)
    return np.frombuffer(buf, dtype=np.uint8)


def _libc_madvise() -> Any | None:
    """libc's madvise through ctypes (which drops the GIL for the call), or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


class Prefaulter:
    """One daemon thread that populates submitted chunks, in submission order."""

    def __init__(self, enabled: bool = True) -> None:
        self._madvise = _libc_madvise() if enabled else None
        self.enabled = self._madvise is not None
        self._jobs: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self.populated_bytes = 0
        self.error = 0  # errno of a failed madvise (EINVAL: the host kernel lacks it)

    def submit(self, chunk: np.ndarray) -> None:
        """Fault ``chunk`` in, in the background (no-op when disabled or unsupported)."""
        if not self.enabled:
            return
        with self._idle:
            self._pending += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dcbm-emu-prefault",
                                            daemon=True)
            self._thread.start()
        self._jobs.put(chunk)  # the job holds the mapping alive until it is populated

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted chunk is populated (tests, benchmarks)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        madvise = self._madvise
        assert madvise is not None
        while True:
            chunk = self._jobs.get()
            if self.enabled:
                # One call per huge page, not one per job: the call holds the mmap lock
                # (read) throughout, and the emulator's own mmap/munmap/brk (Python's arenas,
                # a new chunk) wait for it as writers: 20-30 ms stalls were traced with
                # 32 MiB calls; a 2 MiB call takes a millisecond or so (more while the host
                # itself first backs the memory).
                base, size = chunk.ctypes.data, chunk.size
                for off in range(0, size, POPULATE_STEP):
                    rc = madvise(base + off, min(POPULATE_STEP, size - off), MADV_POPULATE_WRITE)
                    if rc != 0:
                        self.error = ctypes.get_errno()
                        self.enabled = False  # the writer faults pages in itself, as before
                        break
                    self.populated_bytes += min(POPULATE_STEP, size - off)
            del chunk
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()


    def _after_fork_in_child(self) -> None:
        """A forked worker (``--jobs``) has no copy of the thread: start afresh, or its
        queue would hold every submitted chunk, never populated, never freed."""
        self._jobs = queue.SimpleQueue()
        self._thread = None
        self._idle = threading.Condition()
        self._pending = 0


# glibc's mallopt parameters (malloc.h) and the values set (see ``tune_malloc``).
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MALLOC_TUNING = {
    M_MMAP_THRESHOLD: 32 << 20,  # glibc's largest: blocks below it come from the heap
    M_TOP_PAD: 64 << 20,  # the heap grows (brk) in 64 MiB steps, committed only when used
    M_TRIM_THRESHOLD: 256 << 20,  # and gives memory back only when this much is free on top
}


def tune_malloc() -> bool:
    """Keep glibc malloc off the mmap lock: True when set.

    By default glibc serves blocks from 128 KiB up (a list of a batch's folios, a numpy
    array) with a fresh mmap, faulted in page by page and unmapped on free, and grows its
    heap in 128 KiB brk steps. Each of those calls takes the mmap lock, and waits while the
    prefault thread populates a huge page (milliseconds each in a VM); the fresh pages
    fault again every time. With the heap serving blocks up to 32 MiB and growing in large
    steps, freed memory is reused as it is: the 4 KiB target scenario took about 2% less
    wall time (1-7% in paired runs). Host bookkeeping only; glibc only; skipped when the
    environment already tunes malloc (MALLOC_*_ or GLIBC_TUNABLES) or sets
    DCBM_EMU_MALLOC_TUNING=0.
    """
    env = os.environ
    if env.get("DCBM_EMU_MALLOC_TUNING", "1") == "0" or "GLIBC_TUNABLES" in env or any(
        k.startswith("MALLOC_") and k.endswith("_") for k in env
    ):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in MALLOC_TUNING.items())


PREFAULTER = Prefaulter(enabled=os.environ.get("DCBM_EMU_PREFAULT", "1") != "0")
os.register_at_fork(after_in_child=PREFAULTER._after_fork_in_child)
MALLOC_TUNED = tune_malloc()
