"""L3 residency model and its effect on CPU copy time."""

from __future__ import annotations

import numpy as np

from emulator.cache import LlcModel
from emulator.platform import Platform


def test_lru_capacity_ownership_and_invalidation() -> None:
    llc = LlcModel(nr_ccds=2, bytes_per_ccd=4 * 4096)
    for i in range(6):
        llc.touch(0, i * 4096, 4096)
    assert llc.resident_bytes(0, 0, 2 * 4096) == 0  # the two oldest were evicted
    assert llc.resident_bytes(0, 2 * 4096, 4 * 4096) == 4 * 4096
    llc.touch(1, 5 * 4096 + 100, 10)  # CCD 1 takes ownership of page 5
    assert llc.resident_bytes(0, 5 * 4096, 4096) == 0
    assert llc.resident_bytes(1, 5 * 4096, 4096) == 4096
    assert llc.resident_bytes(None, 2 * 4096, 4 * 4096) == 4 * 4096
    llc.invalidate(3 * 4096, 1)
    assert llc.resident_bytes(None, 3 * 4096, 4096) == 0
    assert llc.resident_bytes(0, 2 * 4096 + 100, 200) == 200  # partial-page accounting


def test_copy_from_a_recently_written_source_is_faster() -> None:
    plat = Platform(seed=0)
    src = plat.alloc_pages(1, 0)
    dst1 = plat.alloc_pages(0, 0)
    dst2 = plat.alloc_pages(0, 0)
    data = np.arange(4096, dtype=np.uint32).astype(np.uint8)

    def timed_copy(dst: int) -> int:
        t0 = plat.sim.now
        plat.cpu.copy(dst, src, 4096)
        return plat.sim.now - t0

    plat.mem.write(src, data)  # written behind the CPU's back: not cached
    cold = plat.call(timed_copy, dst1)
    plat.cpu.llc.flush()
    plat.call(plat.cpu.store, src, data)  # a program on core 0 writes it: dirty in CCD 0
    warm = plat.call(timed_copy, dst2)
    assert warm < 0.8 * cold
    assert np.array_equal(plat.mem.read(dst2, 4096), data)
    other_ccd = plat.call(lambda: timed_copy(dst1), core=8)  # another CCD: no L3 hit
    assert other_ccd > warm
