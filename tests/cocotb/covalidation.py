"""Driver co-validation: one test body, two device backends (Python model, Verilog twin).

The body is plain synchronous emulator code: the PTDMA driver port probes the device,
copies a batch of pages through dmaengine (interrupt driven and polled), DCBM ("latest")
copies a batch of folios, and move_pages(2) migrates a task's pages through DCBM; every
destination byte is checked. The driver reaches the device only through ``kernel.bus``
MMIO, shared memory and its MSI vector, so the same body runs over

- ``python_backend()``: ``attach_ptdma`` on the platform, ``platform.call`` (plain pytest);
- the RTL backend (``tb/lockstep.py``): a proxy in the bus window forwards each access to
  the twin's AXI-Lite port, the twin's AXI4 master is served from the same
  ``PhysicalMemory``, its irq edges become MSIs, and the emulator's clock runs in lockstep
  with cocotb's inside a ``cocotb.task.bridge`` thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.dcbm.dcbm import Dcbm
from drivers.dmaengine.dmaengine import (
    DMA_COMPLETE,
    DMA_CTRL_ACK,
    DMA_MEMCPY,
    DMA_PREP_INTERRUPT,
    DmaCapMask,
    dma_async_issue_pending,
    dma_release_channel,
    dma_request_channel,
    dma_sync_wait,
    dmaengine_prep_dma_memcpy,
    dmaengine_submit,
)
from drivers.kernel import Kernel
from drivers.mm.migrate import MigrateCore
from drivers.mm.mm import Mm
from drivers.mm.syscalls import MPOL_MF_MOVE, MmSyscalls
from drivers.ptdma.ptdma_pci import ptdma_probe_all
from emulator.event_kernel import MS
from emulator.frame_allocator import PAGE_SIZE
from emulator.platform import Platform
from emulator.sync import Completion


@dataclass
class Backend:
    """A platform with one PTDMA device and a way to run software on it to completion."""

    name: str
    platform: Platform
    kernel: Kernel
    call: Callable[..., Any]  # run fn(*args) as an emulator process, return its result
    info: dict[str, Any] = field(default_factory=dict)


def python_backend(seed: int = 1) -> Backend:
    """The Python model: ``attach_ptdma`` on a fresh platform; plain ``platform.call``."""
    from hdl_model.ptdma_engine import attach_ptdma

    p = Platform("zen3-epyc-2s", seed=seed)
    k = Kernel(p)
    attach_ptdma(p, 1)
    return Backend("model", p, k, p.call)


@dataclass
class BodyResult:
    """What the body observed (compared across backends by the tests)."""

    irq_order: list[int]
    polled_status: int
    dcbm_rc: int
    dcbm_migrated: int
    move_pages_rc: int
    msis: int
    late_completions: int
    elapsed_ps: int  # simulated time of the whole body (probe to the last migration)


def copy_pages_body(be: Backend, n_pages: int = 8, n_folios: int = 8,
                    n_move: int = 16) -> BodyResult:
    """Probe, copy pages three ways and migrate a task's pages; asserts exact data."""
    p, k = be.platform, be.kernel
    t0 = p.sim.now
    rng = np.random.default_rng(11)
    msis: list[int] = []
    p.irq.observers.append(lambda ev, v, t: msis.append(t) if ev == "msi" else None)

    pts = be.call(ptdma_probe_all, k)
    assert len(pts) == 1, f"{be.name}: the driver bound {len(pts)} devices"
    pt = pts[0]

    # 1. dmaengine memcpy of a batch of pages, interrupt driven (callbacks in order)
    srcs = [p.alloc_pages(1) for _ in range(n_pages)]
    dsts = [p.alloc_pages(0) for _ in range(n_pages)]
    data = [rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8) for _ in range(n_pages)]
    for s, x, d in zip(srcs, data, dsts, strict=True):
        p.mem.write(s, x)
        p.mem.fill(d, PAGE_SIZE, 0xAA)

    def irq_batch() -> list[int]:
        chan = dma_request_channel(k, DmaCapMask(DMA_MEMCPY))
        assert chan is not None
        done = Completion(p.sim)
        order: list[int] = []
        for i in range(n_pages):
            tx = dmaengine_prep_dma_memcpy(chan, dsts[i], srcs[i], PAGE_SIZE,
                                           DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
            assert tx is not None

            def cb(a: Any) -> None:
                order.append(a)
                done.complete()

            tx.callback = cb
            tx.callback_param = i
            dmaengine_submit(tx)
        dma_async_issue_pending(chan)
        for _ in range(n_pages):
            assert done.wait_for_completion_timeout(10 * MS), "callback timed out"
        dma_release_channel(chan)
        return order

    order = be.call(irq_batch)
    assert order == list(range(n_pages)), f"{be.name}: callbacks {order}"
    for i, (d, x) in enumerate(zip(dsts, data, strict=True)):
        got = p.mem.read(d, PAGE_SIZE)
        assert np.array_equal(got, x), f"{be.name}: page {i}: {int(np.sum(got != x))} bytes"

    # 2. one polled copy (no DMA_PREP_INTERRUPT, dma_sync_wait: the DCBM v1 path)
    src, dst = p.alloc_pages(1), p.alloc_pages(0)
    x = rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8)
    p.mem.write(src, x)

    def polled() -> int:
        chan = dma_request_channel(k, DmaCapMask(DMA_MEMCPY))
        assert chan is not None
        tx = dmaengine_prep_dma_memcpy(chan, dst, src, PAGE_SIZE, DMA_CTRL_ACK)
        assert tx is not None
        st = dma_sync_wait(chan, dmaengine_submit(tx))
        dma_release_channel(chan)
        return int(st)

    st = be.call(polled)
    assert st == DMA_COMPLETE, f"{be.name}: polled status {st}"
    assert np.array_equal(p.mem.read(dst, PAGE_SIZE), x), f"{be.name}: polled copy wrong"

    # 3. DCBM (latest) batch copy of folios
    from tests.drivers.conftest import make_batch, wrong_folios

    dcbm = k.subsystem(Dcbm)
    assert be.call(dcbm.enable, "latest", 1) == 0
    b = make_batch(p, n_folios, seed=5)
    rc = be.call(dcbm.folios_copy_dma, b.dsts, b.srcs, n_folios)
    assert rc == 0, f"{be.name}: folios_copy_dma {rc}"
    assert wrong_folios(p, b) == [], f"{be.name}: wrong folios {wrong_folios(p, b)}"
    migrated = int(dcbm.folios_migrated)

    # 4. move_pages(2) -> migrate_pages() -> DCBM: the task sees the same bytes
    k.subsystem(MigrateCore).configure(flavour="latest")
    mm = k.subsystem(Mm)
    sysc = k.subsystem(MmSyscalls)
    task = mm.create_process("covalidation")
    assert task.mm is not None
    addr = task.mm.mmap(n_move * PAGE_SIZE)
    mm.populate(task, addr, n_move * PAGE_SIZE, 1, order=0, seed=3)
    before = mm.checksum(task, addr, n_move)
    pages = [addr + i * PAGE_SIZE for i in range(n_move)]
    status = [-999] * n_move
    mrc = be.call(sysc.move_pages, task.pid, pages, [0] * n_move, status, MPOL_MF_MOVE)
    assert mrc == 0 and status == [0] * n_move, f"{be.name}: move_pages {mrc} {status}"
    assert (mm.checksum(task, addr, n_move) == before).all(), f"{be.name}: task bytes changed"
    assert set(task.mm.page_nodes(addr, n_move)) == {0}
    return BodyResult(
        irq_order=order,
        polled_status=st,
        dcbm_rc=rc,
        dcbm_migrated=migrated,
        move_pages_rc=mrc,
        msis=len(msis),
        late_completions=len(pt.late_completions),
        elapsed_ps=p.sim.now - t0,
    )
