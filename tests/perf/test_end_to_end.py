"""Whole-stack results that must not depend on which path computed them.

- The PTDMA model's fast mode (one event per descriptor) and detailed mode (one per 64 B
  line) give the same simulated times, counters and memory for a move_pages() through
  DCBM v3, 4 KiB and 2 MiB folios, with and without IOMMU merging.
- Population fills pages in place exactly as the reference tiled buffer would.
- A migration back and forth reuses the frames it freed: no new host memory is touched.
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

from emulator.experiments.stack import Machine, build_machine, move_pages_to, populate_workload
from emulator.frame_allocator import PAGE_SHIFT, PAGE_SIZE


def _run(detailed: bool, order: int, iommu: str, nbytes: int) -> tuple[Machine, Any]:
    m = build_machine(seed=2, n_engines=16, iommu=iommu, flavour="v3",
                      nr_max_batched_migration=nbytes // PAGE_SIZE,
                      engine_config={"detailed": detailed})
    assert m.call(m.dcbm.enable, "v3", 16) == 0
    w = populate_workload(m, nbytes, 1, order=order, seed=4)
    rc, status = move_pages_to(m, w, 0)
    assert rc == 0 and set(status) == {0}
    return m, w


def _summary(m: Machine, w: Any) -> dict[str, Any]:
    p = m.platform
    recs = [(r.t1, r.t2, r.t3, r.t4, r.copy_ps, r.copied_pages) for r in m.core.records]
    return {
        "now": p.sim.now,
        "records": recs,
        "op_counts": dict(p.cpu.op_counts),
        "busy": [c.busy_cycles for c in p.cpu.cores],
        "engines": [vars(e.counters) for e in m.engines],
        "regs": [dict(e.regs.values) for e in m.engines],
        "irq": [(line.raised, line.delivered, list(line.times)) for line in p.irq.lines.values()],
        "content": m.mm.checksum(w.task, w.addr, w.nbytes // PAGE_SIZE).tolist(),
        "nodes": w.task.mm.page_nodes(w.addr, w.nbytes // PAGE_SIZE),
    }


@pytest.mark.parametrize(("order", "iommu", "nbytes"), [
    (0, "off", 256 << 10), (0, "translated", 1 << 20), (9, "off", 4 << 20),
    (9, "translated", 4 << 20)])
def test_fast_and_detailed_engine_modes_agree(order: int, iommu: str, nbytes: int) -> None:
    fast_m, fast_w = _run(False, order, iommu, nbytes)
    det_m, det_w = _run(True, order, iommu, nbytes)
    fast, detailed = _summary(fast_m, fast_w), _summary(det_m, det_w)
    for key in fast:
        assert fast[key] == detailed[key], key
    # the detailed mode really stepped line by line: many more events for the same result
    assert det_m.platform.sim.events_processed > fast_m.platform.sim.events_processed


def test_populate_fill_equals_tiled_reference() -> None:
    """Every page: the seeded 4 KiB block, its pfn in bytes 0..7, the seed in 8..15."""
    m = build_machine(seed=0)
    seed = 6
    w = populate_workload(m, 20 << 20, 1, seed=seed)  # crosses 16 MiB fill pieces
    block = np.random.default_rng(seed).integers(0, 256, PAGE_SIZE, dtype=np.uint8)
    mem = m.platform.mem
    mm = w.task.mm
    assert mm is not None
    for i in range(0, w.nbytes // PAGE_SIZE, 97):
        phys, _ = mm._phys(w.addr + i * PAGE_SIZE)
        want = block.copy()
        want[:8] = np.array([phys >> PAGE_SHIFT], "<u8").view(np.uint8)
        want[8:16] = np.array([seed], "<u8").view(np.uint8)
        assert np.array_equal(mem.read(phys, PAGE_SIZE), want)


@pytest.mark.parametrize("migrator", ["cpu", "dcbm"])
def test_back_and_forth_touches_no_new_memory(migrator: str) -> None:
    """Frames freed by a migration are reused by the next one (buddy free lists before fresh
    memory), so moving the same pages back and forth creates no new RAM chunks."""
    if migrator == "cpu":
        m = build_machine(seed=1)
    else:
        m = build_machine(seed=1, n_engines=16, iommu="translated", flavour="v3")
        assert m.call(m.dcbm.enable, "v3", 16) == 0
    w = populate_workload(m, 8 << 20, 1)
    before = m.mm.checksum(w.task, w.addr, w.nbytes // PAGE_SIZE)
    assert move_pages_to(m, w, 0)[0] == 0
    assert move_pages_to(m, w, 1)[0] == 0
    touched = m.platform.mem.resident_bytes
    allocated = [f.allocated_pages for f in m.platform.frames]
    for node in (0, 1, 0, 1):
        assert move_pages_to(m, w, node)[0] == 0
    assert m.platform.mem.resident_bytes == touched
    assert [f.allocated_pages for f in m.platform.frames] == allocated
    assert np.array_equal(m.mm.checksum(w.task, w.addr, w.nbytes // PAGE_SIZE), before)


def test_large_migration_defers_full_collections() -> None:
    """``migrate_pages`` of >= GC_PAUSE_FOLIOS folios runs with full (generation 2)
    collections deferred and restores the collector's thresholds as it found them (a speed
    measure only: the simulated results are the same)."""
    from drivers.mm import migrate as M

    m = build_machine(seed=1, nr_max_batched_migration=M.GC_PAUSE_FOLIOS)
    w = populate_workload(m, M.GC_PAUSE_FOLIOS * PAGE_SIZE, 1)
    seen: list[tuple[int, int, int]] = []
    orig = m.core._migrate_pages

    def spy(*args: Any) -> int:
        seen.append(gc.get_threshold())
        return orig(*args)

    m.core._migrate_pages = spy  # type: ignore[method-assign,assignment]
    # During the copies the loops' objects are frozen (not rescanned by the young
    # collections) and the collector runs; afterwards nothing stays frozen.
    in_copy: list[tuple[bool, bool]] = []
    orig_end = m.core._copy_end

    def copy_end(start: int, pages: int) -> None:
        in_copy.append((gc.get_freeze_count() > 0, gc.isenabled()))
        orig_end(start, pages)

    m.core._copy_end = copy_end  # type: ignore[method-assign]
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    gc.set_threshold(500, 7, 9)
    try:
        assert move_pages_to(m, w, 0)[0] == 0
        assert seen == [(500, 7, M.GC_PAUSE_THRESHOLD2)]
        assert gc.get_threshold() == (500, 7, 9)
        assert in_copy and set(in_copy) == {(True, True)}
        assert gc.get_freeze_count() == frozen_before == 0
    finally:
        gc.set_threshold(*before)


def test_large_migration_leaves_a_callers_frozen_objects_frozen() -> None:
    """The migration core freezes its loops' objects only when nothing else is frozen, so
    its unfreeze never releases objects a caller froze with ``gc.freeze()``."""
    from drivers.mm import migrate as M

    m = build_machine(seed=1, nr_max_batched_migration=M.GC_PAUSE_FOLIOS)
    w = populate_workload(m, M.GC_PAUSE_FOLIOS * PAGE_SIZE, 1)
    mine = [[k] for k in range(8)]  # containers the caller freezes

    def still_frozen() -> bool:  # frozen objects are in no generation gc.get_objects() lists
        ids = {id(o) for o in gc.get_objects()}
        return not any(id(x) in ids for x in mine)

    gc.freeze()
    try:
        assert still_frozen()
        assert move_pages_to(m, w, 0)[0] == 0
        assert still_frozen() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
