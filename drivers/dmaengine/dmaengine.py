"""The dmaengine core: capabilities, channels, descriptors, cookies, request/release, waits.

Port of ``include/linux/dmaengine.h``, ``drivers/dma/dmaengine.c`` and the cookie helpers of
``drivers/dma/dmaengine.h``. State that the C code keeps in globals (``dma_device_list``,
``channel_table``, ``dmaengine_ref_count``) lives in the per-kernel ``DmaEngine`` subsystem.
Function names, arguments and return conventions follow the kernel: ``None`` stands for a
NULL pointer, ``ErrPtr`` for an ``ERR_PTR()`` and negative ints for ``-Exxx``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from drivers.dmaengine.costs import charge_op
from drivers.mm.errno import EINVAL, ENODEV, ENOSYS
from emulator.event_kernel import MS

if TYPE_CHECKING:
    from drivers.dmaengine.dma_mapping import Device
    from drivers.dmaengine.scatterlist import Scatterlist
    from drivers.kernel import Kernel

EPROBE_DEFER = 517  # include/linux/errno.h (kernel internal)


# --------------------------------------------------------------------------- ERR_PTR
class ErrPtr:
    """``ERR_PTR(err)``: a pointer value that encodes a negative errno (never NULL)."""

    __slots__ = ("err",)

    def __init__(self, err: int) -> None:
        self.err = err

    def __getattr__(self, name: str) -> Any:
        # Dereferencing an ERR_PTR is a kernel oops: make it loud, never silently None.
        raise KernelOops(f"dereference of ERR_PTR({self.err}) (field {name!r})")

    def __repr__(self) -> str:
        return f"ERR_PTR({self.err})"


class KernelOops(RuntimeError):
    """A fault the C code would take as an oops (NULL / ERR_PTR dereference, BUG_ON)."""


def IS_ERR(ptr: object) -> bool:
    """``IS_ERR``."""
    return isinstance(ptr, ErrPtr)


def IS_ERR_OR_NULL(ptr: object) -> bool:
    """``IS_ERR_OR_NULL``."""
    return ptr is None or isinstance(ptr, ErrPtr)


def PTR_ERR(ptr: ErrPtr) -> int:
    """``PTR_ERR``."""
    return ptr.err


# --------------------------------------------------------------------------- enums
class DmaTransactionType(IntEnum):
    """``enum dma_transaction_type`` (include/linux/dmaengine.h)."""

    DMA_MEMCPY = 0
    DMA_MEMCPY_SG = 1
    DMA_XOR = 2
    DMA_PQ = 3
    DMA_XOR_VAL = 4
    DMA_PQ_VAL = 5
    DMA_MEMSET = 6
    DMA_MEMSET_SG = 7
    DMA_INTERRUPT = 8
    DMA_PRIVATE = 9
    DMA_ASYNC_TX = 10
    DMA_SLAVE = 11
    DMA_CYCLIC = 12
    DMA_INTERLEAVE = 13
    DMA_COMPLETION_NO_ORDER = 14
    DMA_REPEAT = 15
    DMA_LOAD_EOT = 16
    DMA_TX_TYPE_END = 17


DMA_MEMCPY = DmaTransactionType.DMA_MEMCPY
DMA_MEMCPY_SG = DmaTransactionType.DMA_MEMCPY_SG
DMA_XOR = DmaTransactionType.DMA_XOR
DMA_PQ = DmaTransactionType.DMA_PQ
DMA_MEMSET = DmaTransactionType.DMA_MEMSET
DMA_INTERRUPT = DmaTransactionType.DMA_INTERRUPT
DMA_PRIVATE = DmaTransactionType.DMA_PRIVATE
DMA_SLAVE = DmaTransactionType.DMA_SLAVE
DMA_COMPLETION_NO_ORDER = DmaTransactionType.DMA_COMPLETION_NO_ORDER
DMA_TX_TYPE_END = DmaTransactionType.DMA_TX_TYPE_END


class DmaStatus(IntEnum):
    """``enum dma_status``."""

    DMA_COMPLETE = 0
    DMA_IN_PROGRESS = 1
    DMA_PAUSED = 2
    DMA_ERROR = 3
    DMA_OUT_OF_ORDER = 4


DMA_COMPLETE = DmaStatus.DMA_COMPLETE
DMA_IN_PROGRESS = DmaStatus.DMA_IN_PROGRESS
DMA_PAUSED = DmaStatus.DMA_PAUSED
DMA_ERROR = DmaStatus.DMA_ERROR
DMA_OUT_OF_ORDER = DmaStatus.DMA_OUT_OF_ORDER


class DmaengineTxResult(IntEnum):
    """``enum dmaengine_tx_result``."""

    DMA_TRANS_NOERROR = 0
    DMA_TRANS_READ_FAILED = 1
    DMA_TRANS_WRITE_FAILED = 2
    DMA_TRANS_ABORTED = 3


DMA_TRANS_NOERROR = DmaengineTxResult.DMA_TRANS_NOERROR
DMA_TRANS_READ_FAILED = DmaengineTxResult.DMA_TRANS_READ_FAILED
DMA_TRANS_WRITE_FAILED = DmaengineTxResult.DMA_TRANS_WRITE_FAILED
DMA_TRANS_ABORTED = DmaengineTxResult.DMA_TRANS_ABORTED

# enum dma_ctrl_flags
DMA_PREP_INTERRUPT = 1 << 0
DMA_CTRL_ACK = 1 << 1
DMA_PREP_PQ_DISABLE_P = 1 << 2
DMA_PREP_PQ_DISABLE_Q = 1 << 3
DMA_PREP_CONTINUE = 1 << 4
DMA_PREP_FENCE = 1 << 5
DMA_CTRL_REUSE = 1 << 6
DMA_PREP_CMD = 1 << 7
DMA_PREP_REPEAT = 1 << 8
DMA_PREP_LOAD_EOT = 1 << 9
# Latest dcbm dev tree (linux-design §5.3): LLC-warm destination hint; PTDMA ignores it.
DMA_PREP_CACHE_CONTROL = 1 << 10

DMA_MIN_COOKIE = 1
DMA_COOKIE_MAX = 0x7FFF_FFFF  # dma_cookie_t is s32
DMA_SYNC_WAIT_TIMEOUT_MS = 5000  # dma_sync_wait: msecs_to_jiffies(5000)

# enum dma_residue_granularity
DMA_RESIDUE_GRANULARITY_DESCRIPTOR = 0
DMA_RESIDUE_GRANULARITY_SEGMENT = 1
DMA_RESIDUE_GRANULARITY_BURST = 2


# --------------------------------------------------------------------------- capability mask
class DmaCapMask:
    """``dma_cap_mask_t``: a bitmap of ``DmaTransactionType``."""

    __slots__ = ("bits",)

    def __init__(self, *caps: DmaTransactionType) -> None:
        self.bits = 0
        for c in caps:
            self.bits |= 1 << int(c)

    def copy(self) -> DmaCapMask:
        """A copy of the mask (``dma_cap_mask_t`` is passed by value in C)."""
        m = DmaCapMask()
        m.bits = self.bits
        return m

    def __repr__(self) -> str:
        names = [t.name for t in DmaTransactionType if self.bits & (1 << int(t))]
        return f"DmaCapMask({', '.join(names)})"


def dma_cap_zero(mask: DmaCapMask) -> None:
    """``dma_cap_zero``."""
    mask.bits = 0


def dma_cap_set(tx_type: DmaTransactionType, mask: DmaCapMask) -> None:
    """``dma_cap_set``."""
    mask.bits |= 1 << int(tx_type)


def dma_cap_clear(tx_type: DmaTransactionType, mask: DmaCapMask) -> None:
    """``dma_cap_clear``."""
    mask.bits &= ~(1 << int(tx_type))


def dma_has_cap(tx_type: DmaTransactionType, mask: DmaCapMask) -> bool:
    """``dma_has_cap``."""
    return bool(mask.bits & (1 << int(tx_type)))


def dma_device_satisfies_mask(device: DmaDevice, want: DmaCapMask) -> bool:
    """``dma_device_satisfies_mask``: every wanted capability is in the device's mask."""
    return (want.bits & device.cap_mask.bits) == want.bits


# --------------------------------------------------------------------------- descriptors
@dataclass
class DmaengineResult:
    """``struct dmaengine_result``: what a ``callback_result`` receives."""

    result: DmaengineTxResult = DMA_TRANS_NOERROR
    residue: int = 0


@dataclass
class DmaTxState:
    """``struct dma_tx_state``."""

    last: int = 0
    used: int = 0
    residue: int = 0
    in_flight_bytes: int = 0


DmaAsyncTxCallback = Callable[[Any], None]
DmaAsyncTxCallbackResult = Callable[[Any, DmaengineResult | None], None]


class DmaAsyncTxDescriptor:
    """``struct dma_async_tx_descriptor``: what prep returns and clients submit.

    ``container`` points back to the driver descriptor that embeds it (``container_of``).
    ``freed`` is a port-only marker set when the driver frees the memory, so a use after free
    is detected instead of silently working on a live Python object.
    """

    def __init__(self, chan: DmaChan) -> None:
        self.cookie = 0
        self.flags = 0
        self.phys = 0
        self.chan = chan
        self.tx_submit: Callable[[DmaAsyncTxDescriptor], int] | None = None
        self.desc_free: Callable[[DmaAsyncTxDescriptor], int] | None = None
        self.callback: DmaAsyncTxCallback | None = None
        self.callback_result: DmaAsyncTxCallbackResult | None = None
        self.callback_param: Any = None
        self.unmap: DmaengineUnmapData | None = None
        self.container: Any = None
        self.freed = False

    def __repr__(self) -> str:
        return f"<tx cookie={self.cookie} flags={self.flags:#x} chan={self.chan.name}>"


def dma_async_tx_descriptor_init(tx: DmaAsyncTxDescriptor, chan: DmaChan) -> None:
    """``dma_async_tx_descriptor_init``."""
    tx.chan = chan


def dmaengine_desc_test_reuse(tx: DmaAsyncTxDescriptor) -> bool:
    """``dmaengine_desc_test_reuse``."""
    return bool(tx.flags & DMA_CTRL_REUSE)


def dmaengine_desc_clear_reuse(tx: DmaAsyncTxDescriptor) -> None:
    """``dmaengine_desc_clear_reuse``."""
    tx.flags &= ~DMA_CTRL_REUSE


def async_tx_ack(tx: DmaAsyncTxDescriptor) -> None:
    """``async_tx_ack``."""
    tx.flags |= DMA_CTRL_ACK


def async_tx_test_ack(tx: DmaAsyncTxDescriptor) -> bool:
    """``async_tx_test_ack``."""
    return bool(tx.flags & DMA_CTRL_ACK)


@dataclass
class DmaengineUnmapData:
    """``struct dmaengine_unmap_data``: mappings a descriptor releases on completion."""

    dev: Device
    len: int = 0
    to_cnt: int = 0
    from_cnt: int = 0
    bidi_cnt: int = 0
    addr: list[int] = field(default_factory=list)


def dmaengine_get_unmap_data(dev: Device, nr: int) -> DmaengineUnmapData:
    """``dmaengine_get_unmap_data``."""
    return DmaengineUnmapData(dev, addr=[0] * nr)


def dmaengine_unmap_put(um: DmaengineUnmapData | None) -> None:
    """``dmaengine_unmap_put``: unmap TO, FROM then BIDIRECTIONAL entries (dmaengine_unmap)."""
    from drivers.dmaengine.dma_mapping import (
        DMA_BIDIRECTIONAL,
        DMA_FROM_DEVICE,
        DMA_TO_DEVICE,
        dma_unmap_page,
    )

    if um is None:
        return
    i = 0
    for cnt, direction in (
        (um.to_cnt, DMA_TO_DEVICE),
        (um.from_cnt, DMA_FROM_DEVICE),
        (um.bidi_cnt, DMA_BIDIRECTIONAL),
    ):
        for _ in range(cnt):
            dma_unmap_page(um.dev, um.addr[i], um.len, direction)
            i += 1
    um.to_cnt = um.from_cnt = um.bidi_cnt = 0


def dma_descriptor_unmap(tx: DmaAsyncTxDescriptor) -> None:
    """``dma_descriptor_unmap``."""
    if tx.unmap is not None:
        dmaengine_unmap_put(tx.unmap)
        tx.unmap = None


def dma_run_dependencies(tx: DmaAsyncTxDescriptor) -> None:
    """``dma_run_dependencies``: no async_tx dependency chains are built in this port."""
    return None


# --------------------------------------------------------------------------- callbacks
@dataclass
class DmaengineDescCallback:
    """``struct dmaengine_desc_callback``."""

    callback: DmaAsyncTxCallback | None = None
    callback_result: DmaAsyncTxCallbackResult | None = None
    callback_param: Any = None


def dmaengine_desc_get_callback(tx: DmaAsyncTxDescriptor, cb: DmaengineDescCallback) -> None:
    """``dmaengine_desc_get_callback``."""
    cb.callback = tx.callback
    cb.callback_result = tx.callback_result
    cb.callback_param = tx.callback_param


def dmaengine_desc_callback_invoke(
    cb: DmaengineDescCallback, result: DmaengineResult | None
) -> None:
    """``dmaengine_desc_callback_invoke``: a NULL result reaches ``callback_result`` users as
    a dummy ``{DMA_TRANS_NOERROR, 0}``."""
    if cb.callback_result is not None:
        if result is None:
            result = DmaengineResult(DMA_TRANS_NOERROR, 0)
        cb.callback_result(cb.callback_param, result)
    elif cb.callback is not None:
        cb.callback(cb.callback_param)


def dmaengine_desc_get_callback_invoke(
    tx: DmaAsyncTxDescriptor, result: DmaengineResult | None
) -> None:
    """``dmaengine_desc_get_callback_invoke``."""
    cb = DmaengineDescCallback()
    dmaengine_desc_get_callback(tx, cb)
    dmaengine_desc_callback_invoke(cb, result)


def dmaengine_desc_callback_valid(cb: DmaengineDescCallback) -> bool:
    """``dmaengine_desc_callback_valid``."""
    return cb.callback is not None or cb.callback_result is not None


# --------------------------------------------------------------------------- channel / device
class DmaChan:
    """``struct dma_chan``. ``container`` is the driver's channel (``container_of``)."""

    def __init__(self) -> None:
        self.device: DmaDevice | None = None
        self.cookie = 0
        self.completed_cookie = 0
        self.chan_id = -1
        self.name = ""
        self.client_count = 0
        self.table_count = 0
        self.private: Any = None
        self.container: Any = None
        self.memcpy_count = 0
        self.bytes_transferred = 0
        self.dbg_client_name: str | None = None

    @property
    def kernel(self) -> Kernel:
        """The kernel of the channel's device."""
        assert self.device is not None
        return self.device.kernel

    def __repr__(self) -> str:
        return f"<dma_chan {self.name} clients={self.client_count}>"


def dma_chan_name(chan: DmaChan) -> str:
    """``dma_chan_name``."""
    return chan.name


PrepMemcpy = Callable[[DmaChan, int, int, int, int], DmaAsyncTxDescriptor | None]
PrepMemcpySg = Callable[
    [DmaChan, "Scatterlist", int, "Scatterlist", int, int], DmaAsyncTxDescriptor | None
]


class DmaDevice:
    """``struct dma_device``: a DMA controller's capabilities, channels and operations."""

    def __init__(self, kernel: Kernel, dev: Device) -> None:
        self.kernel = kernel
        self.dev = dev
        self.cap_mask = DmaCapMask()
        self.channels: list[DmaChan] = []
        self.chancnt = 0
        self.privatecnt = 0
        self.dev_id = -1
        self.owner: object | None = None
        self.copy_align = 0  # log2 of the required alignment (dmaengine_check_align)
        self.max_sg_burst = 0
        self.descriptor_reuse = False
        self.residue_granularity = DMA_RESIDUE_GRANULARITY_DESCRIPTOR
        self.directions = 0
        self.registered = False
        self.device_alloc_chan_resources: Callable[[DmaChan], int] | None = None
        self.device_free_chan_resources: Callable[[DmaChan], None] | None = None
        self.device_prep_dma_memcpy: PrepMemcpy | None = None
        self.device_prep_dma_memcpy_sg: PrepMemcpySg | None = None
        self.device_prep_dma_interrupt: (
            Callable[[DmaChan, int], DmaAsyncTxDescriptor | None] | None
        ) = None
        self.device_issue_pending: Callable[[DmaChan], None] | None = None
        self.device_tx_status: Callable[[DmaChan, int, DmaTxState | None], DmaStatus] | None = (
            None
        )
        self.device_pause: Callable[[DmaChan], int] | None = None
        self.device_resume: Callable[[DmaChan], int] | None = None
        self.device_terminate_all: Callable[[DmaChan], int] | None = None
        self.device_synchronize: Callable[[DmaChan], None] | None = None

    def __repr__(self) -> str:
        return f"<dma_device {self.dev.name} id={self.dev_id} caps={self.cap_mask}>"


# --------------------------------------------------------------------------- cookies
def dma_cookie_init(chan: DmaChan) -> None:
    """``dma_cookie_init``."""
    chan.cookie = DMA_MIN_COOKIE
    chan.completed_cookie = DMA_MIN_COOKIE


def dma_cookie_assign(tx: DmaAsyncTxDescriptor) -> int:
    """``dma_cookie_assign``: a unique, non-zero, positive per-channel cookie (wraps)."""
    chan = tx.chan
    cookie = chan.cookie + 1
    if cookie < DMA_MIN_COOKIE or cookie > DMA_COOKIE_MAX:
        cookie = DMA_MIN_COOKIE
    tx.cookie = chan.cookie = cookie
    return cookie


def dma_cookie_complete(tx: DmaAsyncTxDescriptor) -> None:
    """``dma_cookie_complete``: advance ``completed_cookie``; zero the descriptor's cookie."""
    if tx.cookie < DMA_MIN_COOKIE:
        raise KernelOops(f"BUG_ON(tx->cookie < DMA_MIN_COOKIE) in dma_cookie_complete: {tx}")
    tx.chan.completed_cookie = tx.cookie
    tx.cookie = 0


def dma_async_is_complete(cookie: int, last_complete: int, last_used: int) -> DmaStatus:
    """``dma_async_is_complete``: cookie arithmetic with wrap-around."""
    if last_complete <= last_used:
        if cookie <= last_complete or cookie > last_used:
            return DMA_COMPLETE
    elif cookie <= last_complete and cookie > last_used:
        return DMA_COMPLETE
    return DMA_IN_PROGRESS


def dma_cookie_status(chan: DmaChan, cookie: int, state: DmaTxState | None) -> DmaStatus:
    """``dma_cookie_status``."""
    used = chan.cookie
    complete = chan.completed_cookie
    if state is not None:
        state.last = complete
        state.used = used
        state.residue = 0
    return dma_async_is_complete(cookie, complete, used)


def dma_set_residue(state: DmaTxState | None, residue: int) -> None:
    """``dma_set_residue``."""
    if state is not None:
        state.residue = residue


def dma_submit_error(cookie: int) -> bool:
    """``dma_submit_error``: a negative cookie is an errno."""
    return cookie < 0


# --------------------------------------------------------------------------- subsystem
class DmaEngine:
    """Per-kernel dmaengine state: ``dma_device_list``, channel table, client refcount."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.dma_device_list: list[DmaDevice] = []
        self.dmaengine_ref_count = 0
        # channel_table[cap][cpu] -> chan (the per-cpu dma_chan_tbl_ent of dmaengine.c)
        self.channel_table: dict[DmaTransactionType, dict[int, DmaChan]] = {}
        self._next_dev_id = 0
        # dma_sync_wait idle-poll fast-forward (see dma_sync_wait); on by default
        self.poll_fast_forward = True
        self.polls = 0
        self.polls_skipped = 0
        self.sync_wait_timeouts = 0

    def devices(self) -> Iterator[DmaDevice]:
        """Registered devices, in registration order (a snapshot of dma_device_list)."""
        yield from list(self.dma_device_list)


def _dmaengine(kernel: Kernel) -> DmaEngine:
    return kernel.subsystem(DmaEngine)


def dma_chan_get(chan: DmaChan) -> int:
    """``dma_chan_get``: take a client reference, allocating resources on the first one."""
    dev = chan.device
    assert dev is not None
    if chan.client_count:
        chan.client_count += 1
        return 0
    if dev.device_alloc_chan_resources is not None:
        ret = dev.device_alloc_chan_resources(chan)
        if ret < 0:
            return ret
    chan.client_count += 1
    if not dma_has_cap(DMA_PRIVATE, dev.cap_mask):
        _balance_ref_count(chan)
    return 0


def _balance_ref_count(chan: DmaChan) -> None:
    """``balance_ref_count``: public channels carry one ref per ``dmaengine_get`` client."""
    eng = _dmaengine(chan.kernel)
    while chan.client_count < eng.dmaengine_ref_count:
        chan.client_count += 1


def dma_chan_put(chan: DmaChan) -> None:
    """``dma_chan_put``: drop a client reference; free resources with the last one."""
    dev = chan.device
    assert dev is not None
    if not chan.client_count:
        return
    chan.client_count -= 1
    if not chan.client_count and dev.device_free_chan_resources is not None:
        dmaengine_synchronize(chan)  # make sure all operations have completed
        dev.device_free_chan_resources(chan)


def dma_async_device_register(device: DmaDevice) -> int:
    """``dma_async_device_register``: validate ops, name channels, publish the device."""
    if device is None:
        return -ENODEV
    need = [
        (DMA_MEMCPY, device.device_prep_dma_memcpy),
        (DMA_MEMCPY_SG, device.device_prep_dma_memcpy_sg),
        (DMA_INTERRUPT, device.device_prep_dma_interrupt),
    ]
    for cap, fn in need:
        if dma_has_cap(cap, device.cap_mask) and fn is None:
            device.kernel.printk(f"{device.dev.name}: Device claims capability {cap.name}, "
                                 "but op is not defined")
            return -EINVAL
    if device.device_tx_status is None or device.device_issue_pending is None:
        device.kernel.printk(f"{device.dev.name}: Device tx_status / issue_pending not defined")
        return -EINVAL
    eng = _dmaengine(device.kernel)
    if dma_has_cap(DMA_PRIVATE, device.cap_mask):
        device.privatecnt = 1  # Always private
    device.dev_id = eng._next_dev_id
    eng._next_dev_id += 1
    device.chancnt = 0
    for chan in device.channels:
        chan.device = device
        chan.chan_id = device.chancnt
        chan.name = f"dma{device.dev_id}chan{chan.chan_id}"
        device.chancnt += 1
    if device.chancnt == 0:
        device.kernel.printk(f"{device.dev.name}: no channels")
        return -ENODEV
    eng.dma_device_list.append(device)
    device.registered = True
    if eng.dmaengine_ref_count and not dma_has_cap(DMA_PRIVATE, device.cap_mask):
        for chan in device.channels:
            if dma_chan_get(chan) == -ENODEV:
                eng.dma_device_list.remove(device)
                device.registered = False
                return -ENODEV
    dma_channel_rebalance(device.kernel)
    return 0


def dma_async_device_unregister(device: DmaDevice) -> None:
    """``dma_async_device_unregister``."""
    eng = _dmaengine(device.kernel)
    if device in eng.dma_device_list:
        eng.dma_device_list.remove(device)
    device.registered = False
    dma_channel_rebalance(device.kernel)
    for chan in device.channels:
        if chan.client_count:
            device.kernel.printk(
                f"WARNING: {chan.name} called while {chan.client_count} clients hold a reference"
            )


def dma_channel_rebalance(kernel: Kernel) -> None:
    """``dma_channel_rebalance``: recompute the per-cpu table of public channels."""
    eng = _dmaengine(kernel)
    for dev in eng.dma_device_list:
        for chan in dev.channels:
            chan.table_count = 0
    eng.channel_table = {}
    if not eng.dmaengine_ref_count:
        return
    cores = kernel.cpu.cores
    for cap in DmaTransactionType:
        if cap in (DMA_PRIVATE, DMA_TX_TYPE_END):
            continue
        for core in cores:
            best = _min_chan(kernel, cap, core.node)
            if best is not None:
                eng.channel_table.setdefault(cap, {})[core.id] = best


def _min_chan(kernel: Kernel, cap: DmaTransactionType, node: int) -> DmaChan | None:
    """``min_chan``: the least used public channel with ``cap``, local to ``node`` first."""
    eng = _dmaengine(kernel)
    best: DmaChan | None = None
    best_local: DmaChan | None = None
    for dev in eng.dma_device_list:
        if not dma_has_cap(cap, dev.cap_mask) or dma_has_cap(DMA_PRIVATE, dev.cap_mask):
            continue
        for chan in dev.channels:
            if not chan.client_count:
                continue
            if best is None or chan.table_count < best.table_count:
                best = chan
            if dev.dev.node == node and (
                best_local is None or chan.table_count < best_local.table_count
            ):
                best_local = chan
    ret = best_local if best_local is not None else best
    if ret is not None:
        ret.table_count += 1
    return ret


def dmaengine_get(kernel: Kernel) -> None:
    """``dmaengine_get``: register interest in public channels (async_tx / net-dma style)."""
    eng = _dmaengine(kernel)
    eng.dmaengine_ref_count += 1
    for dev in eng.dma_device_list:
        if dma_has_cap(DMA_PRIVATE, dev.cap_mask):
            continue
        for chan in dev.channels:
            dma_chan_get(chan)
    if eng.dmaengine_ref_count == 1:
        dma_channel_rebalance(kernel)


def dmaengine_put(kernel: Kernel) -> None:
    """``dmaengine_put``."""
    eng = _dmaengine(kernel)
    if eng.dmaengine_ref_count <= 0:
        kernel.printk("WARNING: dmaengine_put without dmaengine_get")
        return
    eng.dmaengine_ref_count -= 1
    for dev in eng.dma_device_list:
        if dma_has_cap(DMA_PRIVATE, dev.cap_mask):
            continue
        for chan in dev.channels:
            dma_chan_put(chan)
    dma_channel_rebalance(kernel)


def dma_find_channel(kernel: Kernel, tx_type: DmaTransactionType) -> DmaChan | None:
    """``dma_find_channel``: the current cpu's public channel for ``tx_type``, or NULL.

    Only channels published by ``dma_channel_rebalance`` are returned: DMA_PRIVATE devices
    (PTDMA) never are, and nothing is published until a client called ``dmaengine_get``.
    """
    eng = _dmaengine(kernel)
    core = kernel.cpu.current_core().id
    return eng.channel_table.get(tx_type, {}).get(core)


DmaFilterFn = Callable[[DmaChan, Any], bool]


def _private_candidate(
    mask: DmaCapMask | None, dev: DmaDevice, fn: DmaFilterFn | None, fn_param: Any
) -> DmaChan | None:
    """``private_candidate``."""
    if mask is not None and not dma_device_satisfies_mask(dev, mask):
        return None
    # devices with multiple channels need special handling as we need to
    # ensure that all channels are either private or public.
    if dev.chancnt > 1 and not dma_has_cap(DMA_PRIVATE, dev.cap_mask):
        for chan in dev.channels:
            if chan.client_count:  # some channels are already publicly allocated
                return None
    for chan in dev.channels:
        if chan.client_count:
            continue
        if fn is not None and not fn(chan, fn_param):
            continue
        return chan
    return None


def _find_candidate(
    dev: DmaDevice, mask: DmaCapMask | None, fn: DmaFilterFn | None, fn_param: Any
) -> DmaChan | ErrPtr:
    """``find_candidate``: grab a suitable channel of ``dev`` as private."""
    chan = _private_candidate(mask, dev, fn, fn_param)
    if chan is None:
        return ErrPtr(-EPROBE_DEFER)
    # We first set DMA_PRIVATE to disable balance_ref_count as this channel will not
    # be published in the general-purpose allocator.
    dma_cap_set(DMA_PRIVATE, dev.cap_mask)
    dev.privatecnt += 1
    err = dma_chan_get(chan)
    if err:
        eng = _dmaengine(dev.kernel)
        if err == -ENODEV and dev in eng.dma_device_list:
            eng.dma_device_list.remove(dev)
        dev.privatecnt -= 1
        if dev.privatecnt == 0:
            dma_cap_clear(DMA_PRIVATE, dev.cap_mask)
        return ErrPtr(err)
    return chan


def __dma_request_channel(
    kernel: Kernel, mask: DmaCapMask | None, fn: DmaFilterFn | None, fn_param: Any
) -> DmaChan | None:
    """``__dma_request_channel``: first device (registration order) with a free channel."""
    charge_op(kernel, "dma_chan_request")
    eng = _dmaengine(kernel)
    for dev in list(eng.dma_device_list):
        chan = _find_candidate(dev, mask, fn, fn_param)
        if not IS_ERR(chan):
            assert isinstance(chan, DmaChan)
            return chan
    return None


def dma_request_channel(
    kernel: Kernel, mask: DmaCapMask, fn: DmaFilterFn | None = None, fn_param: Any = None
) -> DmaChan | None:
    """``dma_request_channel(mask, fn, param)``: an exclusive channel, or None (NULL)."""
    return __dma_request_channel(kernel, mask, fn, fn_param)


def dma_request_chan_by_mask(kernel: Kernel, mask: DmaCapMask | None) -> DmaChan | ErrPtr:
    """``dma_request_chan_by_mask``: an exclusive channel, or ERR_PTR(-ENODEV/-EPROBE_DEFER)."""
    if mask is None:
        return ErrPtr(-ENODEV)
    chan = __dma_request_channel(kernel, mask, None, None)
    if chan is None:
        if not _dmaengine(kernel).dma_device_list:
            return ErrPtr(-EPROBE_DEFER)
        return ErrPtr(-ENODEV)
    return chan


def dma_release_channel(chan: DmaChan) -> None:
    """``dma_release_channel``: drop the private reference and the PRIVATE count."""
    kernel = chan.kernel
    charge_op(kernel, "dma_chan_release")
    dev = chan.device
    assert dev is not None
    if chan.client_count != 1:
        kernel.printk(f"WARNING: chan reference count {chan.client_count} != 1")
    dma_chan_put(chan)
    # drop PRIVATE cap enabled by __dma_request_channel()
    dev.privatecnt -= 1
    if dev.privatecnt == 0:
        dma_cap_clear(DMA_PRIVATE, dev.cap_mask)
    chan.dbg_client_name = None


def dma_get_any_slave_channel(device: DmaDevice) -> DmaChan | None:
    """Unused by the ports; present so the API surface matches the header."""
    return None


# --------------------------------------------------------------------------- client API
def dmaengine_get_dma_device(chan: DmaChan) -> Device:
    """``dmaengine_get_dma_device``: the ``struct device`` used for DMA mapping."""
    assert chan.device is not None
    return chan.device.dev


def dmaengine_prep_dma_memcpy(
    chan: DmaChan, dest: int, src: int, length: int, flags: int
) -> DmaAsyncTxDescriptor | None:
    """``dmaengine_prep_dma_memcpy``."""
    if chan is None or chan.device is None or chan.device.device_prep_dma_memcpy is None:
        return None
    return chan.device.device_prep_dma_memcpy(chan, dest, src, length, flags)


def dmaengine_prep_dma_memcpy_sg(
    chan: DmaChan,
    dst_sg: Scatterlist,
    dst_nents: int,
    src_sg: Scatterlist,
    src_nents: int,
    flags: int,
) -> DmaAsyncTxDescriptor | None:
    """``dmaengine_prep_dma_memcpy_sg`` (DMA_MEMCPY_SG capable devices only)."""
    if chan is None or chan.device is None or chan.device.device_prep_dma_memcpy_sg is None:
        return None
    return chan.device.device_prep_dma_memcpy_sg(chan, dst_sg, dst_nents, src_sg, src_nents,
                                                 flags)


def dmaengine_submit(desc: DmaAsyncTxDescriptor) -> int:
    """``dmaengine_submit``: ``desc->tx_submit(desc)``, returns the cookie."""
    if desc.freed:
        raise KernelOops(f"dmaengine_submit of a freed descriptor {desc}")
    assert desc.tx_submit is not None
    return desc.tx_submit(desc)


def dma_async_issue_pending(chan: DmaChan) -> None:
    """``dma_async_issue_pending``."""
    assert chan.device is not None and chan.device.device_issue_pending is not None
    chan.device.device_issue_pending(chan)


def dmaengine_tx_status(chan: DmaChan, cookie: int, state: DmaTxState | None) -> DmaStatus:
    """``dmaengine_tx_status``."""
    assert chan.device is not None and chan.device.device_tx_status is not None
    return chan.device.device_tx_status(chan, cookie, state)


def dma_async_is_tx_complete(
    chan: DmaChan, cookie: int, state: DmaTxState | None = None
) -> DmaStatus:
    """``dma_async_is_tx_complete``: ``last``/``used`` come back in ``state`` if given."""
    charge_op(chan.kernel, "dmaengine_tx_status")
    st = state if state is not None else DmaTxState()
    return dmaengine_tx_status(chan, cookie, st)


def dma_sync_wait(chan: DmaChan, cookie: int) -> DmaStatus:
    """``dma_sync_wait``: issue pending, then busy-poll until not in progress; DMA_ERROR
    after 5000 ms of simulated time.

    Idle-poll fast-forward (simulation only): once two consecutive iterations took the
    same time and returned DMA_IN_PROGRESS, no event ran during the last one, and no event
    at all is scheduled before the next iteration would end, the status cannot change
    (device state changes only through events), so the clock jumps over the iterations that
    would repeat identically. Every skipped iteration is accounted exactly as the last real
    one was (MMIO reads, CPU cycles and operation counts per name);
    ``DmaEngine.polls_skipped`` counts them. Disable with
    ``kernel.subsystem(DmaEngine).poll_fast_forward = False``.
    """
    kernel = chan.kernel
    sim = kernel.sim
    cpu = kernel.cpu
    eng = _dmaengine(kernel)
    deadline = sim.now + DMA_SYNC_WAIT_TIMEOUT_MS * MS
    dma_async_issue_pending(chan)
    last: _PollIteration | None = None
    while True:
        t0, ev0, reads0 = sim.now, sim.events_processed, kernel.bus.reads
        busy0 = cpu.current_core().busy_cycles
        counts0, cycles0 = dict(cpu.op_counts), dict(cpu.op_cycles_charged)
        status = dma_async_is_tx_complete(chan, cookie, None)
        eng.polls += 1
        if sim.now >= deadline:
            eng.sync_wait_timeouts += 1
            kernel.printk(f"{dmaengine_get_dma_device(chan).name}: dma_sync_wait: timeout!")
            return DMA_ERROR
        if status != DMA_IN_PROGRESS:
            break
        charge_op(kernel, "cpu_relax")
        it = _PollIteration(
            dt=sim.now - t0,
            reads=kernel.bus.reads - reads0,
            busy=cpu.current_core().busy_cycles - busy0,
            counts={k: v - counts0.get(k, 0) for k, v in cpu.op_counts.items()
                    if v != counts0.get(k, 0)},
            cycles={k: v - cycles0.get(k, 0) for k, v in cpu.op_cycles_charged.items()
                    if v != cycles0.get(k, 0)},
        )
        quiet = sim.events_processed == ev0  # nothing at all happened during this iteration
        if eng.poll_fast_forward and quiet and last is not None and it.same_as(last):
            _poll_fast_forward(kernel, eng, it, deadline)
        last = it
    return status


@dataclass
class _PollIteration:
    """What one idle ``dma_sync_wait`` iteration cost (time, reads, cycles, op counts)."""

    dt: int
    reads: int
    busy: float
    counts: dict[str, int]
    cycles: dict[str, int]

    def same_as(self, other: _PollIteration) -> bool:
        return (self.dt > 0 and self.dt == other.dt and self.reads == other.reads
                and self.counts == other.counts)


def _poll_fast_forward(kernel: Kernel, eng: DmaEngine, it: _PollIteration, deadline: int) -> None:
    """Skip whole idle poll iterations of ``dma_sync_wait`` (see its docstring)."""
    sim = kernel.sim
    nxt = sim.peek()
    limit = deadline if nxt is None else min(nxt, deadline)
    n = (limit - sim.now) // it.dt - 1
    if n < 2:
        return
    # Account the skipped iterations exactly as the last real one was accounted.
    kernel.bus.reads += n * it.reads
    cpu = kernel.cpu
    cpu.current_core().busy_cycles += n * it.busy
    for name, c in it.counts.items():
        cpu.op_counts[name] += n * c
    for name, c in it.cycles.items():
        cpu.op_cycles_charged[name] += n * c
    eng.polls += n
    eng.polls_skipped += n
    sim.sleep(n * it.dt)


def dmaengine_terminate_async(chan: DmaChan) -> int:
    """``dmaengine_terminate_async``: ``device_terminate_all``."""
    assert chan.device is not None
    if chan.device.device_terminate_all is None:
        return -EINVAL
    return chan.device.device_terminate_all(chan)


def dmaengine_terminate_all(chan: DmaChan) -> int:
    """``dmaengine_terminate_all`` (deprecated alias of terminate_async)."""
    return dmaengine_terminate_async(chan)


def dmaengine_synchronize(chan: DmaChan) -> None:
    """``dmaengine_synchronize``: wait for running callbacks (``device_synchronize``)."""
    assert chan.device is not None
    if chan.device.device_synchronize is not None:
        chan.device.device_synchronize(chan)


def dmaengine_terminate_sync(chan: DmaChan) -> int:
    """``dmaengine_terminate_sync`` = terminate_async + synchronize."""
    ret = dmaengine_terminate_async(chan)
    if ret:
        return ret
    dmaengine_synchronize(chan)
    return 0


def dmaengine_pause(chan: DmaChan) -> int:
    """``dmaengine_pause``."""
    assert chan.device is not None
    if chan.device.device_pause is None:
        return -ENOSYS
    return chan.device.device_pause(chan)


def dmaengine_resume(chan: DmaChan) -> int:
    """``dmaengine_resume``."""
    assert chan.device is not None
    if chan.device.device_resume is None:
        return -ENOSYS
    return chan.device.device_resume(chan)

