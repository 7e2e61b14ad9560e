"""Where the faithful ports lose data or hang, shown end to end through move_pages(2).

Each test builds a machine with page poisoning on (freed frames hold 0xAA, so a copy that
never happened shows), moves a process's pages with one fault armed, and checks the
per-page checksums:

- linux-design §6.5 / ptdma-model §9 E28: a PTDMA hardware error (bus error, IOMMU fault,
  CMD_TIMEOUT after a hang) completes to dmaengine clients as NOERROR under the driver's
  faithful error reporting, so DCBM latest marks the folio copied and DCBM v1 without its
  trailing CPU copy takes the page as done: that page is lost. ``strict`` reporting makes
  the same error a DMA_ERROR and the folio goes back to the CPU: nothing lost. v1 *with*
  its posted double copy hides the error.
- DCBM v3 (§4) never looks at a descriptor status: the page is lost in both modes.
- A hang without the engine watchdog: v3's 10 s timeout falls back to the CPU, but
  ``pt_terminate_all`` does not stop the engine, so the next batch times out again.
- A lost completion MSI: the latest DCBM waits without a timeout, so the migration never
  returns, its pages stay behind migration entries; only another run of the IRQ handler
  (here a spurious interrupt) finds the latched completion.
"""

from __future__ import annotations

import numpy as np
import pytest

from drivers.dcbm.dcbm_v3 import DcbmV3
from drivers.mm.syscalls import MPOL_MF_MOVE
from drivers.ptdma.ptdma import PtdmaDriverConfig
from emulator.event_kernel import MS, S
from emulator.experiments.stack import Machine, Workload, build_machine, populate_workload
from emulator.fault_injection import enable_page_poisoning, set_engine_watchdog
from emulator.frame_allocator import PAGE_SIZE

FLAVOUR = {"v1": "seed", "v3": "v3", "latest": "latest"}
NPAGES = 32
TARGET = 9  # the folio the fault is aimed at


def setup(version: str, reporting: str, *, double_copy: bool = False, watchdog: float = 10.0,
          iommu: str = "passthrough") -> tuple[Machine, Workload, np.ndarray]:
    m = build_machine(seed=4, n_engines=1, flavour=FLAVOUR[version], iommu=iommu,
                      driver=PtdmaDriverConfig(error_reporting=reporting))
    if version == "v1":
        assert m.dcbm.store("v1_double_copy", int(double_copy)) > 0
    assert m.call(m.dcbm.enable, version, 1) == 0
    set_engine_watchdog(m, watchdog)
    enable_page_poisoning(m)
    w = populate_workload(m, NPAGES * PAGE_SIZE, 1, seed=4)
    move(m, w, 0)  # once without a fault: the frames of node 1 now hold poison
    return m, w, m.mm.checksum(w.task, w.addr, NPAGES)


def move(m: Machine, w: Workload, node: int) -> int:
    pages = w.pages()
    status = [-999] * len(pages)
    rc = m.call(m.syscalls.move_pages, w.task.pid, pages, [node] * len(pages), status,
                MPOL_MF_MOVE)
    assert isinstance(rc, int)
    return rc


def lost(m: Machine, w: Workload, ref: np.ndarray) -> list[int]:
    return np.nonzero(m.mm.checksum(w.task, w.addr, NPAGES) != ref)[0].tolist()


def arm(m: Machine, w: Workload, fault: str) -> None:
    """Aim ``fault`` at the source folio TARGET (its next DMA read, on every engine)."""
    f = m.mm.folios_of(w.task, w.addr + TARGET * PAGE_SIZE, PAGE_SIZE)[0]
    rng = (f.phys, f.phys + f.size)
    for e in m.engines:
        if fault == "bus":
            e.faults.inject("read", "SLVERR", addr_range=rng)
        elif fault == "hang":  # ended by the 10 ms CMD_TIMEOUT watchdog: error 0x12
            e.faults.hang("read", addr_range=rng)
    if fault == "iommu":
        m.platform.iommu.inject_fault(f.phys, f.size, write=False)


@pytest.mark.parametrize("fault", ["bus", "iommu", "hang"])
@pytest.mark.parametrize("version", ["v1", "latest"])
@pytest.mark.parametrize("reporting", ["faithful", "strict"])
def test_e28_faithful_reporting_loses_the_page_strict_does_not(
        reporting: str, version: str, fault: str) -> None:
    m, w, ref = setup(version, reporting, iommu="translated" if fault == "iommu" else
                      "passthrough")
    migrated0, failures0 = m.dcbm.folios_migrated, m.dcbm.folios_failures
    arm(m, w, fault)
    assert move(m, w, 1) == 0  # the syscall reports success either way
    errors = [code for pt in m.pts for _, code, _ in pt.errors_logged]
    assert len(errors) == 1  # the driver saw (and logged) the engine error
    assert set(w.task.mm.page_nodes(w.addr, NPAGES)) == {1}  # type: ignore[union-attr]
    if reporting == "faithful":
        assert lost(m, w, ref) == [TARGET]  # DCBM took the failed copy for a good one
        assert m.dcbm.folios_failures == failures0
        assert m.dcbm.folios_migrated == migrated0 + NPAGES
    else:
        assert lost(m, w, ref) == []
        # the failed folio (v1) or the whole batch (latest) went back to the CPU
        assert m.dcbm.folios_failures == failures0 + (1 if version == "v1" else NPAGES)


def test_v1_double_copy_hides_the_engine_error() -> None:
    """The seed as posted: every batch is copied again by the CPU after the DMA loop."""
    m, w, ref = setup("v1", "faithful", double_copy=True)
    arm(m, w, "bus")
    assert move(m, w, 1) == 0
    assert lost(m, w, ref) == []


@pytest.mark.parametrize("reporting", ["faithful", "strict"])
def test_v3_never_sees_an_engine_error(reporting: str) -> None:
    m, w, ref = setup("v3", reporting)
    arm(m, w, "bus")
    assert move(m, w, 1) == 0
    assert lost(m, w, ref) == [TARGET]  # strict reporting cannot help: no status is read
    v3 = m.dcbm.impl()
    assert isinstance(v3, DcbmV3) and v3.fallbacks == 0


def test_v3_hang_times_out_but_the_channel_stays_hung() -> None:
    """No watchdog (the driver's CMD_TIMEOUT = 0): v3's 10 s wait times out and the batch is
    CPU-copied (nothing lost), but the engine is still stuck on the hung descriptor, so the
    next batch through the channel waits 10 s again."""
    m, w, ref = setup("v3", "strict", watchdog=0)
    arm(m, w, "hang")
    sim = m.platform.sim
    t0 = sim.now
    assert move(m, w, 1) == 0
    assert sim.now - t0 >= 10 * S
    assert lost(m, w, ref) == []
    t1 = sim.now
    assert move(m, w, 0) == 0  # no fault armed any more
    assert sim.now - t1 >= 10 * S  # the channel never recovered
    assert lost(m, w, ref) == []
    v3 = m.dcbm.impl()
    assert isinstance(v3, DcbmV3) and v3.fallbacks == 2
    assert m.engines[0].busy  # still hung


def test_v3_hang_with_the_watchdog_loses_the_page() -> None:
    """With a watchdog shorter than v3's 10 s, the hang becomes an engine error v3 ignores."""
    m, w, ref = setup("v3", "strict", watchdog=10.0)
    arm(m, w, "hang")
    assert move(m, w, 1) == 0
    assert lost(m, w, ref) == [TARGET]


def test_latest_lost_msi_blocks_the_migration_until_the_handler_runs_again() -> None:
    m, w, ref = setup("latest", "strict")
    sim = m.platform.sim
    m.platform.irq.lose_msi(m.engines[0].vector)
    pages = w.pages()
    status = [-999] * len(pages)
    proc = m.platform.spawn(m.syscalls.move_pages, w.task.pid, pages, [1] * len(pages),
                            status, MPOL_MF_MOVE)
    sim.run_until(lambda: proc.finished, timeout=120 * S)  # khungtaskd's default
    assert not proc.finished  # wait_for_completion() without a timeout
    assert m.platform.irq.lines[m.engines[0].vector].lost == 1
    mm = w.task.mm
    assert mm is not None
    pte, _ = mm.lookup(w.addr)
    assert pte is not None and pte.migration  # the pages sit behind migration entries
    m.platform.irq.inject_spurious_msi(m.engines[0].vector)  # the handler runs once more
    sim.run_until(lambda: proc.finished, timeout=1 * MS)
    assert proc.finished and proc.result == 0
    assert lost(m, w, ref) == []
    assert set(mm.page_nodes(w.addr, NPAGES)) == {1}
