"""A dropped machine is freed: nothing the simulation leaves behind (a parked process, a
device callback, a handler) keeps its platform, and with it its RAM, alive."""

from __future__ import annotations

import gc
import weakref

import pytest

from emulator.experiments.stack import build_machine, move_pages_to, populate_workload


@pytest.mark.parametrize("iommu", ["off", "translated"])
def test_machine_after_a_dcbm_migration_is_collected(iommu: str) -> None:
    """The sweep runs hundreds of machines in one worker: each must go when dropped."""
    m = build_machine(flavour="v3", kernel_release="6.16", n_engines=4, iommu=iommu,
                      nr_max_batched_migration=256)
    assert m.call(m.dcbm.enable, "v3", 4) == 0
    w = populate_workload(m, 1 << 20, 1)
    rc, status = move_pages_to(m, w, 0)
    assert rc == 0 and set(status) == {0}
    assert sum(e.counters.irqs for e in m.engines) > 0  # MSI handlers did run
    ref = weakref.ref(m.platform)
    del m, w
    gc.collect()
    assert ref() is None


def test_pooled_process_greenlets_go_with_their_simulator() -> None:
    """Ended processes leave their greenlets in the simulator's pool (a greenlet costs
    the host a data-stack mmap and munmap): a waiting one holds no machine, and the pool
    dies with its simulator, so machines run one after another leave no greenlets."""
    from greenlet import greenlet

    def live_greenlets() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, greenlet) and not o.dead)

    base = live_greenlets()
    for _ in range(3):
        m = build_machine(flavour="v3", kernel_release="6.16", n_engines=4,
                          nr_max_batched_migration=64)
        assert m.call(m.dcbm.enable, "v3", 4) == 0
        w = populate_workload(m, 256 << 10, 1)
        assert move_pages_to(m, w, 0)[0] == 0
        sim = m.platform.sim
        assert sim._pool and all(not g.dead for g in sim._pool)  # reused, not recreated
        ref = weakref.ref(m.platform)
        del m, w, sim
        assert live_greenlets() == base
        assert ref() is None
