"""PTDMA driver structures (``drivers/dma/ptdma/ptdma.h``) and the port's switches.

Register offsets and bit masks come from ``drivers/ptdma/ptdma_regs.py``, generated from
``hdl_model/ptdma.rdl`` (the one register source). The structures keep the C field names;
``PtdmaDriverConfig`` holds the switches of linux-design §8 (``ptdma_error_reporting``,
``ptdma_int_en``), which default to the driver-faithful behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from drivers.dmaengine.dmaengine import DMA_IN_PROGRESS, DmaDevice, DmaStatus
from drivers.dmaengine.virt_dma import VirtDmaChan, VirtDmaDesc
from drivers.ptdma.ptdma_regs import PT_ERROR_CODES
from emulator.sync import Mutex

if TYPE_CHECKING:
    from drivers.dmaengine.dma_mapping import Device
    from drivers.kernel import Kernel

EINPROGRESS = 115  # include/uapi/asm-generic/errno.h
ERROR_REPORTING_MODES = ("faithful", "strict")
INT_EN_MODES = ("last_prep", "per_desc")


@dataclass(frozen=True)
class PtdmaDriverConfig:
    """Port switches (linux-design §8).

    ``error_reporting``: "faithful" = a hardware error completes to dmaengine clients as
    DMA_COMPLETE / NOERROR (``cmd->ret`` is the zero return of ``pt_core_perform_passthru``);
    "strict" = the descriptor completes with DMA_ERROR, ``tx_status`` says DMA_ERROR and
    ``callback_result`` gets READ_FAILED / WRITE_FAILED (what-if runs).
    ``int_en``: "last_prep" = the queue interrupt enable comes from the most recently
    *prepared* descriptor (the driver's device-wide ``cmd_q->int_en``); "per_desc" = from
    the descriptor being started.
    """

    error_reporting: str = "faithful"
    int_en: str = "last_prep"

    def __post_init__(self) -> None:
        if self.error_reporting not in ERROR_REPORTING_MODES:
            raise ValueError(f"ptdma_error_reporting {self.error_reporting!r} "
                             f"not in {ERROR_REPORTING_MODES}")
        if self.int_en not in INT_EN_MODES:
            raise ValueError(f"ptdma_int_en {self.int_en!r} not in {INT_EN_MODES}")


class PciDevice(Protocol):
    """What the driver may read of a PTDMA function: its PCI config (``engine.pci``)."""

    vendor: int
    device: int
    name: str
    bar_base: int
    bar_size: int
    msi_vector: int
    node: int
    dma_name: str


def pt_error_string(code: int) -> str:
    """``pt_log_error`` lookup, as a dict: safe for every code (the C array overruns)."""
    name = PT_ERROR_CODES.get(code)
    if name is not None:
        return f"ERR {code:02d}: {name}"
    return f"ERR {code:02d}: 0x{code:X} Reserved" if code else ""


@dataclass
class PtPassthruEngine:
    """``struct pt_passthru_engine`` (+ ``int_en`` for the per_desc what-if switch)."""

    mask: int = 0
    mask_len: int = 0
    src_dma: int = 0
    dst_dma: int = 0
    src_len: int = 0
    int_en: bool = False


class PtCmd:
    """``struct pt_cmd``: one PTDMA operation request and its completion callback."""

    def __init__(self) -> None:
        self.pt: PtDevice | None = None
        self.ret = 0
        self.engine = 0
        self.engine_error = 0
        self.passthru = PtPassthruEngine()
        self.pt_cmd_callback: Callable[[Any, int], None] | None = None
        self.data: Any = None


class PtDmaDesc(VirtDmaDesc):
    """``struct pt_dma_desc``: virt-dma descriptor + PTDMA command."""

    def __init__(self) -> None:
        super().__init__()
        self.pt: PtDevice | None = None
        self.status: DmaStatus = DMA_IN_PROGRESS
        self.len = 0
        self.issued_to_hw = False
        self.pt_cmd = PtCmd()
        self.freed = False  # port-only: kmem_cache_free happened (use-after-free detection)
        self.hw_seq = -1  # port-only: order in which it was written to the ring


class PtDmaChan(VirtDmaChan):
    """``struct pt_dma_chan``."""

    def __init__(self) -> None:
        super().__init__()
        self.pt: PtDevice | None = None
        # port-only (strict reporting): cookies completed with an error
        self.error_cookies: set[int] = set()


@dataclass
class PtTaskletData:
    """``struct pt_tasklet_data``: the command whose completion the next IRQ reports."""

    cmd: PtCmd | None = None


class PtCmdQueue:
    """``struct pt_cmd_queue``: the one hardware queue of a PTDMA function."""

    def __init__(self, kernel: Kernel) -> None:
        self.pt: PtDevice | None = None
        self.qbase = 0  # CPU (physical) address of the ring (dma_alloc_coherent)
        self.qidx = 0
        self.qsize = 0
        self.qbase_dma = 0  # bus address of the ring (IOVA with a translating IOMMU)
        self.qdma_tail = 0
        self.active = 0
        self.suspended = 0
        self.int_en = False
        self.reg_control = 0  # io_regs + CMD_Q_STATUS_INCR
        self.qcontrol = 0  # cached CONTROL register
        self.int_status = 0
        self.q_status = 0
        self.q_int_status = 0
        self.cmd_error = 0
        self.total_pt_ops = 0
        self.q_mutex = Mutex(kernel.sim, "pt_q_mutex")


@dataclass
class PtLateCompletion:
    """A completion the driver processed for a descriptor the hardware had not finished,
    or through a ``tdata.cmd`` that points into freed memory (port diagnostic).

    ``kind``: "use_after_free" (tdata.cmd names a freed descriptor: the callback is not
    run), "after_terminate" (the engine finished a descriptor ``pt_terminate_all`` freed
    while it ran, and the driver completes the next live one in its place), or
    "double_status" (the same status was consumed twice by concurrent
    ``pt_check_status_trans`` callers, e.g. two pollers of one channel, and the second
    completes a descriptor the engine has not run yet).
    """

    time: int
    cmd_desc_freed: bool  # tdata.cmd pointed into freed memory (use after free)
    attributed_to: str  # what the driver completed instead (or "nothing")
    kind: str = "use_after_free"


class PtDevice:
    """``struct pt_device``: one PTDMA function (one queue, one dmaengine channel)."""

    def __init__(
        self, kernel: Kernel, dev: Device, pci: PciDevice, config: PtdmaDriverConfig
    ) -> None:
        self.kernel = kernel
        self.ord = 0
        self.name = pci.name
        self.dev = dev
        self.pci = pci
        self.config = config
        self.pt_irq = pci.msi_vector
        self.io_regs = pci.bar_base
        self.cmd: list[PtCmd] = []
        self.cmd_q = PtCmdQueue(kernel)
        self.dma_dev = DmaDevice(kernel, dev)
        self.pt_dma_chan: PtDmaChan | None = None
        self.total_interrupts = 0
        self.tdata = PtTaskletData()
        self.irq_core = 0
        # port-only diagnostics (never change the driver's behaviour)
        self.hw_started = 0  # descriptors written to the ring
        self.errors_logged: list[tuple[int, int, str]] = []  # (time, code, string)
        self.terminated_inflight = 0  # hw descriptors pt_terminate_all left running
        self.late_completions: list[PtLateCompletion] = []
        self.completions_without_cmd = 0
        self.diag_errors = 0  # ERROR events seen (failed descriptors)

    def __repr__(self) -> str:
        return f"<pt_device {self.name} regs={self.io_regs:#x} irq={self.pt_irq}>"


@dataclass
class PtdmaDriver:
    """Per-kernel PTDMA driver state: bound devices and the default switches."""

    kernel: Kernel
    config: PtdmaDriverConfig = field(default_factory=PtdmaDriverConfig)
    devices: list[PtDevice] = field(default_factory=list)
