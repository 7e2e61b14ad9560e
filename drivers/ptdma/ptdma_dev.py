"""PTDMA low-level driver: queue init/teardown, descriptor submit, status and IRQ handling.

Port of ``drivers/dma/ptdma/ptdma-dev.c``. The device is reached only through MMIO
(``kernel.bus``), the coherent ring in shared memory (``kernel.mem``) and its MSI vector.
Faithful behaviours kept (linux-design §6): 3 MMIO writes per descriptor (INT_ENABLE from
``cmd_q->int_en``, TAIL_LO, CONTROL|RUN); one descriptor in flight; the status path reads
INT_STATUS, Q_STATUS, Q_INT_STATUS and W1C-acks; only the first error is latched; recovery
writes HEAD <- TAIL; a hardware error still completes the command with ``cmd->ret == 0``.
Port-only diagnostics detect the late completion of a descriptor freed by
``pt_terminate_all`` (use after free of ``tdata.cmd``) and report it instead of hiding it.
"""

from __future__ import annotations

from drivers.dmaengine.costs import charge_op
from drivers.dmaengine.dma_mapping import dma_alloc_coherent, dma_free_coherent
from drivers.dmaengine.dmaengine import DmaengineTxResult
from drivers.mm.errno import EIO, ENODEV, ENOMEM
from drivers.ptdma.ptdma import (
    PtCmd,
    PtCmdQueue,
    PtDevice,
    PtDmaDesc,
    PtLateCompletion,
    PtPassthruEngine,
    pt_error_string,
)
from drivers.ptdma.ptdma_regs import (
    CMD_CLK_GATE_CONFIG,
    CMD_CLK_GATE_CTL_OFFSET,
    CMD_CONFIG_OFFSET,
    CMD_CONFIG_REQID,
    CMD_CONFIG_VHB_EN,
    CMD_DESC_DW0_VAL,
    CMD_Q_CONTROL_BASE,
    CMD_Q_ERR_INFO_BASE,
    CMD_Q_ERROR,
    CMD_Q_HEAD_LO_BASE,
    CMD_Q_INT_ENABLE_BASE,
    CMD_Q_INT_STATUS_BASE,
    CMD_Q_INTERRUPT_STATUS_BASE,
    CMD_Q_LEN,
    CMD_Q_RUN,
    CMD_Q_SIZE,
    CMD_Q_SIZE_SHIFT,
    CMD_Q_STATUS_BASE,
    CMD_Q_STATUS_INCR,
    CMD_Q_TAIL_LO_BASE,
    CMD_QUEUE_PRIO,
    CMD_QUEUE_PRIO_OFFSET,
    CMD_REQID_CONFIG_OFFSET,
    CMD_TIMEOUT_DISABLE,
    CMD_TIMEOUT_OFFSET,
    DWORD0_IOC,
    DWORD0_SOC,
    INT_ERROR,
    PT_ERR_IDMA0_AXI_DECERR,
    PT_ERR_IDMA0_AXI_SLVERR,
    PT_ERR_IDMA1_AXI_DECERR,
    PT_ERR_IDMA1_AXI_SLAVE_FAULT,
    PT_ERR_ODMA0_AXI_DECERR,
    PT_ERR_ODMA0_AXI_SLVERR,
    PT_ERR_ODMA1_AXI_DECERR,
    PT_ERR_ODMA1_AXI_SLVERR,
    PT_ERR_SIDE_WRITE,
    Q_DESC_SIZE,
    Q_ERR_INFO_SIDE_MASK,
    Q_ERR_INFO_SIDE_SHIFT,
    Q_SIZE,
    QUEUE_SIZE_VAL,
    SUPPORTED_INTERRUPTS,
)


def lower_32_bits(v: int) -> int:
    """``lower_32_bits``."""
    return v & 0xFFFF_FFFF


def upper_32_bits(v: int) -> int:
    """``upper_32_bits``."""
    return (v >> 32) & 0xFFFF_FFFF


def pt_iowrite32(pt: PtDevice, value: int, addr: int) -> None:
    """``iowrite32(value, addr)`` through the platform MMIO bus (150 ns posted write)."""
    pt.kernel.bus.write(addr, value & 0xFFFF_FFFF, 4)  # = bus.iowrite32(value, addr)


def pt_ioread32(pt: PtDevice, addr: int) -> int:
    """``ioread32(addr)``: stalls the CPU for the MMIO round trip (800 ns)."""
    return pt.kernel.bus.read(addr, 4)  # = bus.ioread32(addr)


def pt_core_disable_queue_interrupts(pt: PtDevice) -> None:
    """ptdma.h ``pt_core_disable_queue_interrupts``: INT_ENABLE <- 0."""
    pt_iowrite32(pt, 0, pt.cmd_q.reg_control + CMD_Q_INT_ENABLE_BASE)


def pt_core_enable_queue_interrupts(pt: PtDevice) -> None:
    """ptdma.h ``pt_core_enable_queue_interrupts``: INT_ENABLE <- SUPPORTED_INTERRUPTS."""
    pt_iowrite32(pt, SUPPORTED_INTERRUPTS, pt.cmd_q.reg_control + CMD_Q_INT_ENABLE_BASE)


def pt_log_error(pt: PtDevice, e: int) -> None:
    """``pt_log_error``: dev_err with the error string (dict lookup, safe for any code)."""
    s = pt_error_string(e)
    pt.errors_logged.append((pt.kernel.sim.now, e, s))
    pt.kernel.printk(f"{pt.name}: PTDMA error: {s} (0x{e:x})")


def pt_start_queue(cmd_q: PtCmdQueue) -> None:
    """``pt_start_queue``: turn on the run bit (CONTROL <- qcontrol | RUN)."""
    assert cmd_q.pt is not None
    pt_iowrite32(cmd_q.pt, cmd_q.qcontrol | CMD_Q_RUN, cmd_q.reg_control + CMD_Q_CONTROL_BASE)


def pt_stop_queue(cmd_q: PtCmdQueue) -> None:
    """``pt_stop_queue``: turn off the run bit."""
    assert cmd_q.pt is not None
    pt_iowrite32(cmd_q.pt, cmd_q.qcontrol & ~CMD_Q_RUN, cmd_q.reg_control + CMD_Q_CONTROL_BASE)


def pt_core_execute_cmd(desc: list[int], cmd_q: PtCmdQueue) -> int:
    """``pt_core_execute_cmd``: SOC -> IOC, copy the 32 B descriptor into the ring slot,
    advance ``qidx``, TAIL_LO <- ring + qidx * 32, CONTROL <- qcontrol | RUN."""
    pt = cmd_q.pt
    assert pt is not None
    soc = bool(desc[0] & DWORD0_SOC)
    if soc:
        desc[0] |= DWORD0_IOC
        desc[0] &= ~DWORD0_SOC
    cmd_q.q_mutex.lock()
    try:
        q_desc = cmd_q.qbase + cmd_q.qidx * Q_DESC_SIZE
        # Copy 32-byte command descriptor to hw queue.
        pt.kernel.mem.write_words(q_desc, desc)  # the dwords, little-endian
        cmd_q.qidx = (cmd_q.qidx + 1) % CMD_Q_LEN
        # wmb(): the ring write above is visible before the doorbell (program order here).
        tail = lower_32_bits(cmd_q.qdma_tail + cmd_q.qidx * Q_DESC_SIZE)
        pt_iowrite32(pt, tail, cmd_q.reg_control + CMD_Q_TAIL_LO_BASE)
        # Turn the queue back on using our cached control register
        pt_start_queue(cmd_q)
    finally:
        cmd_q.q_mutex.unlock()
    return 0


def pt_core_perform_passthru(cmd_q: PtCmdQueue, pt_engine: PtPassthruEngine) -> int:
    """``pt_core_perform_passthru``: build dw0..dw5, write INT_ENABLE from ``int_en``, run."""
    pt = cmd_q.pt
    assert pt is not None
    charge_op(pt.kernel, "pt_build_desc")
    cmd_q.cmd_error = 0
    cmd_q.total_pt_ops += 1
    dw3 = upper_32_bits(pt_engine.src_dma) & 0xFFFF  # dw3.src_hi : 16
    dw5 = upper_32_bits(pt_engine.dst_dma) & 0xFFFF  # dw5.dst_hi : 16
    desc = [
        CMD_DESC_DW0_VAL,
        pt_engine.src_len & 0xFFFF_FFFF,
        lower_32_bits(pt_engine.src_dma),
        dw3,
        lower_32_bits(pt_engine.dst_dma),
        dw5,
        0,
        0,
    ]
    int_en = pt_engine.int_en if pt.config.int_en == "per_desc" else cmd_q.int_en
    if int_en:
        pt_core_enable_queue_interrupts(pt)
    else:
        pt_core_disable_queue_interrupts(pt)
    pt.hw_started += 1
    return pt_core_execute_cmd(desc, cmd_q)


def _strict_result(pt: PtDevice, code: int) -> int:
    """Strict reporting: DMA_TRANS_READ_FAILED (1) or WRITE_FAILED (2) from the error code,
    reading the model's ERR_INFO side only when the code does not say (port extension)."""
    read_codes = (PT_ERR_IDMA0_AXI_SLVERR, PT_ERR_IDMA0_AXI_DECERR,
                  PT_ERR_IDMA1_AXI_SLAVE_FAULT, PT_ERR_IDMA1_AXI_DECERR)
    write_codes = (PT_ERR_ODMA0_AXI_SLVERR, PT_ERR_ODMA0_AXI_DECERR,
                   PT_ERR_ODMA1_AXI_SLVERR, PT_ERR_ODMA1_AXI_DECERR)
    if code in read_codes:
        return 1
    if code in write_codes:
        return 2
    info = pt_ioread32(pt, pt.cmd_q.reg_control + CMD_Q_ERR_INFO_BASE)
    side = (info & Q_ERR_INFO_SIDE_MASK) >> Q_ERR_INFO_SIDE_SHIFT
    return 2 if side == PT_ERR_SIDE_WRITE else 1


def pt_do_cmd_complete(pt: PtDevice) -> None:
    """``pt_do_cmd_complete(&pt->tdata)``: on an error log it and flush HEAD <- TAIL, then
    ``cmd->pt_cmd_callback(cmd->data, cmd->ret)`` synchronously."""
    tdata = pt.tdata
    cmd = tdata.cmd
    cmd_q = pt.cmd_q
    if cmd_q.cmd_error:
        # Log the error and flush the queue by moving the head pointer
        tail = lower_32_bits(cmd_q.qdma_tail + cmd_q.qidx * Q_DESC_SIZE)
        pt_log_error(pt, cmd_q.cmd_error)
        pt_iowrite32(pt, tail, cmd_q.reg_control + CMD_Q_HEAD_LO_BASE)
    if cmd is None:
        # The C code would dereference NULL here; report instead.
        pt.completions_without_cmd += 1
        pt.kernel.printk(f"BUG: {pt.name}: completion with no command (tdata.cmd == NULL)")
        return
    desc = cmd.data
    if isinstance(desc, PtDmaDesc) and desc.hw_seq > 0 and _late_completion(pt, desc):
        return
    ret = cmd.ret
    if cmd_q.cmd_error and pt.config.error_reporting == "strict":
        ret = -EIO
        if isinstance(desc, PtDmaDesc):
            desc.tx_result.result = DmaengineTxResult(_strict_result(pt, cmd_q.cmd_error))
    assert cmd.pt_cmd_callback is not None
    cmd.pt_cmd_callback(cmd.data, ret)


def _late_completion(pt: PtDevice, desc: PtDmaDesc) -> bool:
    """Port diagnostic: is the descriptor ``tdata.cmd`` names really finished?

    Hardware truth comes from what the driver already read: Q_STATUS[31:16] counts
    successfully completed descriptors (ptdma-model §3) and every ERROR event is one failed
    descriptor, so their sum says whether the descriptor ``tdata.cmd`` names has finished.
    Returns True when the callback must not run (use after free); a premature completion
    of a live descriptor is reported (``PtLateCompletion``) and then runs as in the C code.
    """
    finished = ((pt.cmd_q.q_status >> 16) + pt.diag_errors) & 0xFFFF
    done_in_hw = ((finished - desc.hw_seq) & 0xFFFF) < 0x8000
    now = pt.kernel.sim.now
    if desc.freed:
        pt.late_completions.append(PtLateCompletion(now, True, "nothing", "use_after_free"))
        pt.terminated_inflight = max(0, pt.terminated_inflight - 1)
        pt.kernel.printk(
            f"BUG: {pt.name}: completion through a tdata.cmd that points into a freed "
            "pt_dma_desc (use after free in pt_do_cmd_complete); callback not run")
        return True
    if done_in_hw:
        # A terminated descriptor had finished before the terminate (its status was
        # W1C-cleared by pt_terminate_all): this completion really is tdata.cmd's.
        pt.terminated_inflight = 0
        return False
    assert desc.tx is not None
    if pt.terminated_inflight > 0:
        pt.terminated_inflight -= 1
        kind, why = "after_terminate", "late completion after terminate"
    else:
        kind, why = "double_status", "status consumed twice by concurrent status checks"
    late = PtLateCompletion(now, False, repr(desc.tx), kind)
    pt.late_completions.append(late)
    pt.kernel.printk(
        f"BUG: {pt.name}: {why}: the driver completes the live descriptor "
        f"{late.attributed_to} before the engine has run it")
    return False


def pt_check_status_trans(pt: PtDevice, cmd_q: PtCmdQueue) -> None:
    """``pt_check_status_trans``: read INT_STATUS; if set, read Q_STATUS and Q_INT_STATUS,
    latch the first error, W1C-ack the status and complete the command."""
    status = pt_ioread32(pt, cmd_q.reg_control + CMD_Q_INTERRUPT_STATUS_BASE)
    if status:
        cmd_q.int_status = status
        cmd_q.q_status = pt_ioread32(pt, cmd_q.reg_control + CMD_Q_STATUS_BASE)
        cmd_q.q_int_status = pt_ioread32(pt, cmd_q.reg_control + CMD_Q_INT_STATUS_BASE)
        if status & INT_ERROR:
            pt.diag_errors += 1  # port diagnostic: one failed descriptor per ERROR event
        # On error, only save the first error value
        if (status & INT_ERROR) and not cmd_q.cmd_error:
            cmd_q.cmd_error = CMD_Q_ERROR(cmd_q.q_status)
        # Acknowledge the completion
        pt_iowrite32(pt, status, cmd_q.reg_control + CMD_Q_INTERRUPT_STATUS_BASE)
        pt_do_cmd_complete(pt)


def pt_core_irq_handler(irq: int, data: object) -> None:
    """``pt_core_irq_handler``: INT_ENABLE <- 0, check status, INT_ENABLE <- 0x3."""
    pt = data
    assert isinstance(pt, PtDevice)
    cmd_q = pt.cmd_q
    pt_core_disable_queue_interrupts(pt)
    pt.total_interrupts += 1
    charge_op(pt.kernel, "pt_irq_software")
    pt_check_status_trans(pt, cmd_q)
    pt_core_enable_queue_interrupts(pt)  # return IRQ_HANDLED


def _irq_core(pt: PtDevice) -> int:
    """The core the MSI is steered to: the first core of the device's node."""
    for core in pt.kernel.cpu.cores:
        if core.node == pt.dev.node:
            return core.id
    return 0


def pt_core_init(pt: PtDevice) -> int:
    """``pt_core_init``, in the driver's order (linux-design §6.2)."""
    from drivers.ptdma.ptdma_dmaengine import pt_dmaengine_register

    kernel = pt.kernel
    cmd_q = pt.cmd_q
    # ptdma core initialisation
    pt_iowrite32(pt, CMD_CONFIG_VHB_EN, pt.io_regs + CMD_CONFIG_OFFSET)
    pt_iowrite32(pt, CMD_QUEUE_PRIO, pt.io_regs + CMD_QUEUE_PRIO_OFFSET)
    pt_iowrite32(pt, CMD_TIMEOUT_DISABLE, pt.io_regs + CMD_TIMEOUT_OFFSET)
    pt_iowrite32(pt, CMD_CLK_GATE_CONFIG, pt.io_regs + CMD_CLK_GATE_CTL_OFFSET)
    pt_iowrite32(pt, CMD_CONFIG_REQID, pt.io_regs + CMD_REQID_CONFIG_OFFSET)
    cmd_q.pt = pt
    # Page alignment satisfies our needs for N <= 128
    cmd_q.qsize = Q_SIZE(Q_DESC_SIZE)
    qbase, qbase_dma = dma_alloc_coherent(pt.dev, cmd_q.qsize)
    if qbase is None:
        kernel.printk(f"{pt.name}: unable to allocate command queue")
        return -ENOMEM
    cmd_q.qbase, cmd_q.qbase_dma = qbase, qbase_dma
    cmd_q.qidx = 0
    # Preset some register values
    cmd_q.reg_control = pt.io_regs + CMD_Q_STATUS_INCR
    # Turn off the queues and disable interrupts until ready
    pt_core_disable_queue_interrupts(pt)
    cmd_q.qcontrol = 0  # Start with nothing
    pt_iowrite32(pt, cmd_q.qcontrol, cmd_q.reg_control + CMD_Q_CONTROL_BASE)
    pt_ioread32(pt, cmd_q.reg_control + CMD_Q_INT_STATUS_BASE)
    pt_ioread32(pt, cmd_q.reg_control + CMD_Q_STATUS_BASE)
    # Clear the interrupt status
    pt_iowrite32(pt, SUPPORTED_INTERRUPTS, cmd_q.reg_control + CMD_Q_INTERRUPT_STATUS_BASE)
    # Request an irq
    pt.irq_core = _irq_core(pt)
    ret = kernel.irq.request_irq(pt.pt_irq, pt_core_irq_handler, pt.name, pt, pt.irq_core)
    if ret:
        kernel.printk(f"{pt.name}: unable to allocate an IRQ")
        dma_free_coherent(pt.dev, cmd_q.qsize, cmd_q.qbase, cmd_q.qbase_dma)
        return ret
    # Update the device registers with queue information.
    cmd_q.qcontrol &= ~CMD_Q_SIZE
    cmd_q.qcontrol |= (QUEUE_SIZE_VAL << CMD_Q_SIZE_SHIFT) & CMD_Q_SIZE
    cmd_q.qdma_tail = cmd_q.qbase_dma
    dma_addr_lo = lower_32_bits(cmd_q.qdma_tail)
    pt_iowrite32(pt, dma_addr_lo, cmd_q.reg_control + CMD_Q_TAIL_LO_BASE)
    pt_iowrite32(pt, dma_addr_lo, cmd_q.reg_control + CMD_Q_HEAD_LO_BASE)
    dma_addr_hi = upper_32_bits(cmd_q.qdma_tail)
    cmd_q.qcontrol |= dma_addr_hi << 16
    pt_iowrite32(pt, cmd_q.qcontrol, cmd_q.reg_control + CMD_Q_CONTROL_BASE)
    pt_core_enable_queue_interrupts(pt)
    # Register the DMA engine support
    ret = pt_dmaengine_register(pt)
    if ret:
        kernel.irq.free_irq(pt.pt_irq)
        dma_free_coherent(pt.dev, cmd_q.qsize, cmd_q.qbase, cmd_q.qbase_dma)
        return ret
    return 0


def pt_core_destroy(pt: PtDevice) -> None:
    """``pt_core_destroy``: unregister, quiesce the queue, free the IRQ and the ring, fail
    any queued command with -ENODEV."""
    from drivers.ptdma.ptdma_dmaengine import pt_dmaengine_unregister

    cmd_q = pt.cmd_q
    # Unregister the DMA engine
    pt_dmaengine_unregister(pt)
    # Disable and clear interrupts
    pt_core_disable_queue_interrupts(pt)
    # Turn off the run bit
    pt_stop_queue(cmd_q)
    # Clear the interrupt status
    pt_iowrite32(pt, SUPPORTED_INTERRUPTS, cmd_q.reg_control + CMD_Q_INTERRUPT_STATUS_BASE)
    pt_ioread32(pt, cmd_q.reg_control + CMD_Q_INT_STATUS_BASE)
    pt_ioread32(pt, cmd_q.reg_control + CMD_Q_STATUS_BASE)
    pt.kernel.irq.free_irq(pt.pt_irq)
    dma_free_coherent(pt.dev, cmd_q.qsize, cmd_q.qbase, cmd_q.qbase_dma)
    # Flush the cmd queue
    while pt.cmd:
        cmd: PtCmd = pt.cmd.pop(0)
        assert cmd.pt_cmd_callback is not None
        cmd.pt_cmd_callback(cmd.data, -ENODEV)

