"""PTDMA dmaengine glue: virt-dma channel, prep/submit/issue, completion loop, terminate.

Port of ``drivers/dma/ptdma/ptdma-dmaengine.c``. One channel per PTDMA function, caps
DMA_MEMCPY | DMA_INTERRUPT | DMA_PRIVATE. A descriptor reaches hardware only from
``pt_issue_pending`` (when nothing was active) or from the completion path
(``pt_cmd_callback``), so exactly one descriptor is in flight per channel. The int_en
"last prep wins" quirk: ``pt_alloc_dma_desc`` sets the device-wide ``cmd_q->int_en`` from
the flags of the descriptor being *prepared*.
"""

from __future__ import annotations

from drivers.dmaengine.costs import charge_op
from drivers.dmaengine.dmaengine import (
    DMA_COMPLETE,
    DMA_ERROR,
    DMA_IN_PROGRESS,
    DMA_INTERRUPT,
    DMA_MEMCPY,
    DMA_PREP_INTERRUPT,
    DMA_PRIVATE,
    DMA_RESIDUE_GRANULARITY_DESCRIPTOR,
    DmaAsyncTxDescriptor,
    DmaChan,
    DmaStatus,
    DmaTxState,
    KernelOops,
    dma_async_device_register,
    dma_async_device_unregister,
    dma_cap_set,
    dma_cookie_complete,
    dma_cookie_status,
    dma_descriptor_unmap,
    dma_run_dependencies,
    dmaengine_desc_get_callback_invoke,
)
from drivers.dmaengine.virt_dma import (
    VirtDmaDesc,
    _list_del,
    vchan_dma_desc_free_list,
    vchan_free_chan_resources,
    vchan_get_all_descriptors,
    vchan_init,
    vchan_issue_pending,
    vchan_next_desc,
    vchan_synchronize,
    vchan_tx_prep,
    vchan_vdesc_fini,
)
from drivers.ptdma.ptdma import EINPROGRESS, PtDevice, PtDmaChan, PtDmaDesc
from drivers.ptdma.ptdma_dev import (
    pt_check_status_trans,
    pt_core_perform_passthru,
    pt_iowrite32,
    pt_start_queue,
    pt_stop_queue,
)
from drivers.ptdma.ptdma_regs import (
    CMD_Q_INTERRUPT_STATUS_BASE,
    PT_ENGINE_PASSTHRU,
    SUPPORTED_INTERRUPTS,
)

DMA_MEM_TO_MEM = 0  # enum dma_transfer_direction


def to_pt_chan(dma_chan: DmaChan) -> PtDmaChan:
    """``to_pt_chan`` (container_of)."""
    chan = dma_chan.container
    assert isinstance(chan, PtDmaChan)
    return chan


def to_pt_desc(vd: VirtDmaDesc) -> PtDmaDesc:
    """``to_pt_desc`` (container_of)."""
    assert isinstance(vd, PtDmaDesc)
    return vd


def pt_free_chan_resources(dma_chan: DmaChan) -> None:
    """``pt_free_chan_resources``."""
    vchan_free_chan_resources(to_pt_chan(dma_chan))


def pt_synchronize(dma_chan: DmaChan) -> None:
    """``pt_synchronize`` = ``vchan_synchronize``."""
    vchan_synchronize(to_pt_chan(dma_chan))


def pt_do_cleanup(vd: VirtDmaDesc) -> None:
    """``pt_do_cleanup``: ``kmem_cache_free`` of the descriptor (marked freed in the port)."""
    desc = to_pt_desc(vd)
    assert desc.pt is not None
    charge_op(desc.pt.kernel, "vchan_desc_free")
    desc.freed = True
    if desc.tx is not None:
        desc.tx.freed = True


def pt_dma_start_desc(desc: PtDmaDesc) -> int:
    """``pt_dma_start_desc``: point ``tdata.cmd`` at it and run the passthru command."""
    desc.issued_to_hw = True
    pt_cmd = desc.pt_cmd
    pt = pt_cmd.pt
    if pt is None:
        # pt_prep_dma_interrupt leaves the zeroed pt_cmd without ->pt: the C code
        # dereferences NULL here (pt->tdata.cmd = pt_cmd).
        raise KernelOops("pt_dma_start_desc: pt_cmd->pt is NULL (a DMA_INTERRUPT descriptor "
                         "reached the hardware path)")
    cmd_q = pt.cmd_q
    pt.tdata.cmd = pt_cmd
    desc.hw_seq = pt.hw_started + 1
    # Execute the command
    pt_cmd.ret = pt_core_perform_passthru(cmd_q, pt_cmd.passthru)
    return 0


def pt_next_dma_desc(chan: PtDmaChan) -> PtDmaDesc | None:
    """``pt_next_dma_desc``: the next descriptor on the active (issued) list."""
    vd = vchan_next_desc(chan)
    return to_pt_desc(vd) if vd is not None else None


def pt_handle_active_desc(chan: PtDmaChan, desc: PtDmaDesc | None) -> PtDmaDesc | None:
    """``pt_handle_active_desc``: retire finished descriptors (cookie, unmap, callback,
    dependencies, free) until one that still has to be started is found."""
    while True:
        tx_desc: DmaAsyncTxDescriptor | None
        vd: VirtDmaDesc | None = None
        if desc is not None:
            if not desc.issued_to_hw and desc.status != DMA_ERROR:
                return desc  # No errors, keep going
            tx_desc = desc.tx
            vd = desc
        else:
            tx_desc = None
        # spin_lock_irqsave(&chan->vc.lock)
        if desc is not None:
            assert tx_desc is not None
            if desc.status != DMA_COMPLETE:
                if desc.status != DMA_ERROR:
                    desc.status = DMA_COMPLETE
                elif desc.pt is not None and desc.pt.config.error_reporting == "strict":
                    chan.error_cookies.add(tx_desc.cookie)
                dma_cookie_complete(tx_desc)
                dma_descriptor_unmap(tx_desc)
                _list_del(desc)
            else:
                tx_desc = None  # Don't handle it twice
        desc = pt_next_dma_desc(chan)
        # spin_unlock_irqrestore
        if tx_desc is not None:
            assert vd is not None
            charge_op(chan.chan.kernel, "dmaengine_callback")
            done = to_pt_desc(vd)
            strict = done.pt is not None and done.pt.config.error_reporting == "strict"
            result = done.tx_result if strict and done.status == DMA_ERROR else None
            dmaengine_desc_get_callback_invoke(tx_desc, result)
            dma_run_dependencies(tx_desc)
            vchan_vdesc_fini(vd)
        if desc is None:
            return None


def pt_cmd_callback(data: object, err: int) -> None:
    """``pt_cmd_callback``: retire the finished descriptor and start the next issued one."""
    desc = data
    assert isinstance(desc, PtDmaDesc)
    if err == -EINPROGRESS:
        return
    assert desc.tx is not None
    chan = to_pt_chan(desc.tx.chan)
    if err:
        desc.status = DMA_ERROR
    cur: PtDmaDesc | None = desc
    while True:
        # Check for DMA descriptor completion
        cur = pt_handle_active_desc(chan, cur)
        # Don't submit cmd if no descriptor or DMA is paused
        if cur is None:
            break
        ret = pt_dma_start_desc(cur)
        if not ret:
            break
        cur.status = DMA_ERROR


def pt_alloc_dma_desc(chan: PtDmaChan, flags: int) -> PtDmaDesc | None:
    """``pt_alloc_dma_desc``: allocate, ``vchan_tx_prep``, and set the device-wide
    ``cmd_q.int_en`` from this descriptor's DMA_PREP_INTERRUPT (last prep wins)."""
    pt = chan.pt
    assert pt is not None
    charge_op(pt.kernel, "dmaengine_prep")
    desc = PtDmaDesc()  # kmem_cache_zalloc(GFP_NOWAIT)
    vchan_tx_prep(chan, desc, flags)
    desc.pt = pt
    desc.pt.cmd_q.int_en = bool(flags & DMA_PREP_INTERRUPT)
    desc.issued_to_hw = False
    desc.status = DMA_IN_PROGRESS
    return desc


def pt_create_desc(
    dma_chan: DmaChan, dst: int, src: int, length: int, flags: int
) -> PtDmaDesc | None:
    """``pt_create_desc``: a passthru command copying ``length`` bytes src -> dst."""
    chan = to_pt_chan(dma_chan)
    desc = pt_alloc_dma_desc(chan, flags)
    if desc is None:
        return None
    pt_cmd = desc.pt_cmd
    pt_cmd.pt = chan.pt
    pt_engine = pt_cmd.passthru
    pt_cmd.engine = PT_ENGINE_PASSTHRU
    pt_engine.src_dma = src
    pt_engine.dst_dma = dst
    pt_engine.src_len = length
    pt_engine.int_en = bool(flags & DMA_PREP_INTERRUPT)  # used only by ptdma_int_en=per_desc
    pt_cmd.pt_cmd_callback = pt_cmd_callback
    pt_cmd.data = desc
    desc.len = length
    return desc


def pt_prep_dma_memcpy(
    dma_chan: DmaChan, dst: int, src: int, length: int, flags: int
) -> DmaAsyncTxDescriptor | None:
    """``pt_prep_dma_memcpy``."""
    desc = pt_create_desc(dma_chan, dst, src, length, flags)
    if desc is None:
        return None
    return desc.tx


def pt_prep_dma_interrupt(dma_chan: DmaChan, flags: int) -> DmaAsyncTxDescriptor | None:
    """``pt_prep_dma_interrupt``: a descriptor with no command (it is never started: its
    ``pt_cmd`` has no engine, exactly as in the driver)."""
    chan = to_pt_chan(dma_chan)
    desc = pt_alloc_dma_desc(chan, flags)
    if desc is None:
        return None
    return desc.tx


def pt_issue_pending(dma_chan: DmaChan) -> None:
    """``pt_issue_pending``: move submitted -> issued; if nothing was active, start one."""
    chan = to_pt_chan(dma_chan)
    charge_op(dma_chan.kernel, "dma_issue_pending")
    engine_is_idle = True
    # spin_lock_irqsave(&chan->vc.lock)
    desc = pt_next_dma_desc(chan)
    if desc is not None:
        engine_is_idle = False
    vchan_issue_pending(chan)
    desc = pt_next_dma_desc(chan)
    # spin_unlock_irqrestore
    # If there was nothing active, start processing
    if engine_is_idle and desc is not None:
        pt_cmd_callback(desc, 0)


def pt_tx_status(c: DmaChan, cookie: int, txstate: DmaTxState | None) -> DmaStatus:
    """``pt_tx_status``: every call reads INT_STATUS (``pt_check_status_trans``), so a
    poller also processes completions; then the cookie status."""
    chan = to_pt_chan(c)
    pt = chan.pt
    assert pt is not None
    pt_check_status_trans(pt, pt.cmd_q)
    status = dma_cookie_status(c, cookie, txstate)
    if status == DMA_COMPLETE and cookie in chan.error_cookies:
        return DMA_ERROR  # strict reporting only: the cookie completed with an error
    return status


def pt_pause(dma_chan: DmaChan) -> int:
    """``pt_pause``: clear RUN (the engine stops after the current descriptor)."""
    chan = to_pt_chan(dma_chan)
    assert chan.pt is not None
    pt_stop_queue(chan.pt.cmd_q)
    return 0


def pt_resume(dma_chan: DmaChan) -> int:
    """``pt_resume``: set RUN and restart the next issued descriptor, if any."""
    chan = to_pt_chan(dma_chan)
    assert chan.pt is not None
    pt_start_queue(chan.pt.cmd_q)
    desc = pt_next_dma_desc(chan)
    # If there was something active, re-start
    if desc is not None:
        pt_cmd_callback(desc, 0)
    return 0


def pt_terminate_all(dma_chan: DmaChan) -> int:
    """``pt_terminate_all``: W1C INT_STATUS, free every descriptor. The engine is *not*
    stopped: a descriptor it is running completes later through the stale ``tdata.cmd``
    (diagnosed by ``pt_do_cmd_complete``)."""
    chan = to_pt_chan(dma_chan)
    pt = chan.pt
    assert pt is not None
    cmd_q = pt.cmd_q
    charge_op(pt.kernel, "dmaengine_terminate")
    pt_iowrite32(pt, SUPPORTED_INTERRUPTS, cmd_q.reg_control + CMD_Q_INTERRUPT_STATUS_BASE)
    head: list[VirtDmaDesc] = []
    vchan_get_all_descriptors(chan, head)
    # Port diagnostic: is the hardware still running a descriptor we are about to free?
    cmd = pt.tdata.cmd
    if cmd is not None and isinstance(cmd.data, PtDmaDesc):
        running = cmd.data
        if running.issued_to_hw and running.status == DMA_IN_PROGRESS and running in head:
            pt.terminated_inflight += 1
    vchan_dma_desc_free_list(chan, head)
    vchan_free_chan_resources(chan)
    return 0


def pt_dmaengine_register(pt: PtDevice) -> int:
    """``pt_dmaengine_register``: one channel, caps MEMCPY | INTERRUPT | PRIVATE."""
    dma_dev = pt.dma_dev
    chan = PtDmaChan()
    pt.pt_dma_chan = chan
    chan.pt = pt
    dma_dev.directions = DMA_MEM_TO_MEM
    dma_dev.residue_granularity = DMA_RESIDUE_GRANULARITY_DESCRIPTOR
    dma_cap_set(DMA_MEMCPY, dma_dev.cap_mask)
    dma_cap_set(DMA_INTERRUPT, dma_dev.cap_mask)
    # PTDMA is intended to be used with the AMD NTB devices, hence marking it as DMA_PRIVATE.
    dma_cap_set(DMA_PRIVATE, dma_dev.cap_mask)
    dma_dev.channels = []
    # Set base and prep routines
    dma_dev.device_free_chan_resources = pt_free_chan_resources
    dma_dev.device_prep_dma_memcpy = pt_prep_dma_memcpy
    dma_dev.device_prep_dma_interrupt = pt_prep_dma_interrupt
    dma_dev.device_issue_pending = pt_issue_pending
    dma_dev.device_tx_status = pt_tx_status
    dma_dev.device_pause = pt_pause
    dma_dev.device_resume = pt_resume
    dma_dev.device_terminate_all = pt_terminate_all
    dma_dev.device_synchronize = pt_synchronize
    chan.desc_free = pt_do_cleanup
    vchan_init(chan, dma_dev)
    return dma_async_device_register(dma_dev)


def pt_dmaengine_unregister(pt: PtDevice) -> None:
    """``pt_dmaengine_unregister``."""
    dma_async_device_unregister(pt.dma_dev)
