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
