"""CPU costs of the DMA software stack's named operations (dmaengine, PTDMA, DCBM).

The driver ports charge their own work through ``charge_op(kernel, name)``: the cost comes
from the platform preset's ``cpu_op_cycles`` (``emulator.presets.DRIVER_CPU_OP_CYCLES``, the
one place the values live); the dataclass below mirrors those names for what-if overrides
(``set_dma_costs``), and its defaults are only used for a preset that lacks a name. Nothing here is
fitted to a measurement; the decomposition in calibration.md §5 is what they were sized
against (prep + submit + issue_pending software ~ 0.3 µs per descriptor).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drivers.kernel import Kernel


@dataclass(frozen=True)
class DmaSoftwareCosts:
    """Cycle cost of each named operation of the DMA software path (est)."""

    # dmaengine client / virt-dma bookkeeping
    dmaengine_prep: int = 250  # est: pt_prep_dma_memcpy: kmem_cache_zalloc + vchan_tx_prep
    dmaengine_submit: int = 100  # est: vchan_tx_submit: dma_cookie_assign + list_move_tail
    dma_issue_pending: int = 100  # est: pt_issue_pending: vc.lock + vchan_issue_pending splice
    dmaengine_callback: int = 200  # est: pt_handle_active_desc: cookie, unmap, callback, fini
    cpu_relax: int = 20  # est: one dma_sync_wait iteration besides the MMIO read (cpu_relax)
    dmaengine_tx_status: int = 30  # est: dma_async_is_tx_complete + dma_cookie_status
    dmaengine_terminate: int = 200  # est: pt_terminate_all: vchan_get_all_descriptors + frees
    vchan_synchronize: int = 100  # est: vchan_synchronize: tasklet_kill + vd_terminated
    vchan_desc_free: int = 50  # est: one kmem_cache_free of a descriptor (vchan bookkeeping)
    dma_chan_request: int = 600  # est: __dma_request_channel: mutex, device walk, chan_get
    dma_chan_release: int = 300  # est: dma_release_channel: mutex, dma_chan_put
    # PTDMA low-level driver
    pt_build_desc: int = 150  # est: pt_core_perform_passthru + execute_cmd: dw0..dw5, 32 B memcpy
    pt_irq_software: int = 60  # est: pt_core_irq_handler body besides MMIO (counters, calls)
    # DMA mapping helpers (dma_map_page itself costs preset.host.dma_map_ns)
    sg_alloc_entry: int = 15  # est: sg_alloc_table per entry (chained kmalloc + sg_init)
    sg_set_entry: int = 10  # est: sg_set_folio per entry
    dma_map_sg_entry: int = 40  # est: iommu_map of one page-table entry inside dma_map_sg
    # DCBM
    dcbm_folio: int = 30  # est: per-folio list walk / bookkeeping in folios_copy_dma
    dcbm_setup: int = 300  # est: per call: kcalloc(works) + mask setup
    mutex_op: int = 40  # est: mutex_trylock / mutex_unlock pair, uncontended
    complete_wakeup: int = 600  # est: complete() -> wake_up of the waiter + context switch


@dataclass
class DmaCostState:
    """Per-kernel holder of the cost table (``kernel.subsystem(DmaCostState)``)."""

    kernel: Kernel
    params: DmaSoftwareCosts = field(default_factory=DmaSoftwareCosts)


def dma_costs(kernel: Kernel) -> DmaSoftwareCosts:
    """The cost table in force on ``kernel`` (the preset's values, with any overrides)."""
    base = kernel.subsystem(DmaCostState).params
    ops = kernel.cpu.op_cycles
    return DmaSoftwareCosts(
        **{f.name: ops.get(f.name, getattr(base, f.name)) for f in dataclasses.fields(base)}
    )


def set_dma_costs(kernel: Kernel, **changes: int) -> DmaSoftwareCosts:
    """Override some costs on ``kernel`` (what-if runs); returns the new table."""
    state = kernel.subsystem(DmaCostState)
    state.params = dataclasses.replace(state.params, **changes)
    kernel.cpu.op_cycles.update(changes)
    return dma_costs(kernel)


def charge_op(kernel: Kernel, name: str, count: int = 1) -> None:
    """Charge ``count`` times the named operation to the current core.

    The preset's ``cpu_op_cycles[name]`` wins when present (``cpu.op``); otherwise the
    default of ``DmaSoftwareCosts`` is charged under the same name, so ``cpu.op_counts`` and
    ``cpu.op_cycles_charged`` show every driver operation either way.
    """
    if count <= 0:
        return
    cpu = kernel.cpu
    if name in cpu.op_cycles:
        cpu.op(name, count)
        return
    cycles = getattr(kernel.subsystem(DmaCostState).params, name)
    cpu.op_counts[name] += count
    cpu.charge(cycles * count, name)


def charge_ns(kernel: Kernel, ns: float, what: str) -> None:
    """Charge a cost given in nanoseconds (e.g. ``preset.host.dma_map_ns``)."""
    kernel.cpu.op_counts[what] += 1
    kernel.cpu.charge_ns(ns, what)
