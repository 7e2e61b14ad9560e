"""Virtual DMA channels: descriptor lists allocated / submitted / issued / completed.

Port of ``drivers/dma/virt-dma.h`` and ``virt-dma.c``. A driver descriptor embeds a
``VirtDmaDesc`` (subclass it), which embeds the client-visible ``DmaAsyncTxDescriptor``;
a driver channel embeds a ``VirtDmaChan`` which embeds the ``DmaChan``. ``container``
back-pointers replace ``container_of``. The lists are Python lists in list order; the
``vc.lock`` spinlock is implicit because none of these helpers blocks in simulated time.
The channel's lists are deques: descriptors leave them from the front (submit, completion),
which costs a list a move of every other entry (thousands per channel on long queues).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, MutableSequence
from typing import TYPE_CHECKING

from drivers.dmaengine.costs import charge_op
from drivers.dmaengine.dmaengine import (
    DMA_TRANS_NOERROR,
    DmaAsyncTxDescriptor,
    DmaChan,
    DmaDevice,
    DmaengineDescCallback,
    DmaengineResult,
    dma_async_tx_descriptor_init,
    dma_cookie_assign,
    dma_cookie_complete,
    dma_cookie_init,
    dmaengine_desc_callback_invoke,
    dmaengine_desc_clear_reuse,
    dmaengine_desc_get_callback,
    dmaengine_desc_test_reuse,
)

if TYPE_CHECKING:
    from emulator.event_kernel import Process


class VirtDmaDesc:
    """``struct virt_dma_desc``: the tx descriptor, its result and its list membership."""

    def __init__(self) -> None:
        self.tx: DmaAsyncTxDescriptor | None = None
        self.tx_result = DmaengineResult(DMA_TRANS_NOERROR, 0)
        self.node: MutableSequence[VirtDmaDesc] | None = None  # the list it is on


class VirtDmaChan:
    """``struct virt_dma_chan``."""

    def __init__(self) -> None:
        self.chan = DmaChan()
        self.chan.container = self
        self.desc_free: Callable[[VirtDmaDesc], None] | None = None
        self.desc_allocated: deque[VirtDmaDesc] = deque()
        self.desc_submitted: deque[VirtDmaDesc] = deque()
        self.desc_issued: deque[VirtDmaDesc] = deque()
        self.desc_completed: deque[VirtDmaDesc] = deque()
        self.cyclic: VirtDmaDesc | None = None
        self.vd_terminated: VirtDmaDesc | None = None
        self._tasklet: Process | None = None


def to_virt_chan(chan: DmaChan) -> VirtDmaChan:
    """``to_virt_chan`` (container_of)."""
    vc = chan.container
    assert isinstance(vc, VirtDmaChan)
    return vc


def to_virt_desc(tx: DmaAsyncTxDescriptor) -> VirtDmaDesc:
    """``to_virt_desc`` (container_of)."""
    vd = tx.container
    assert isinstance(vd, VirtDmaDesc)
    return vd


# --------------------------------------------------------------------------- list helpers
def _list_del(vd: VirtDmaDesc) -> None:
    """``list_del(&vd->node)``."""
    if vd.node is not None:
        vd.node.remove(vd)
        vd.node = None


def _list_add_tail(vd: VirtDmaDesc, head: MutableSequence[VirtDmaDesc]) -> None:
    head.append(vd)
    vd.node = head


def _list_add(vd: VirtDmaDesc, head: MutableSequence[VirtDmaDesc]) -> None:
    head.insert(0, vd)
    vd.node = head


def _list_move_tail(vd: VirtDmaDesc, head: MutableSequence[VirtDmaDesc]) -> None:
    _list_del(vd)
    _list_add_tail(vd, head)


def _list_splice_tail_init(src: MutableSequence[VirtDmaDesc],
                           dst: MutableSequence[VirtDmaDesc]) -> None:
    for vd in src:
        vd.node = dst
    dst.extend(src)
    src.clear()


# --------------------------------------------------------------------------- virt-dma.c
def vchan_tx_submit(tx: DmaAsyncTxDescriptor) -> int:
    """``vchan_tx_submit``: assign a cookie and move the descriptor to ``desc_submitted``."""
    vc = to_virt_chan(tx.chan)
    vd = to_virt_desc(tx)
    cookie = dma_cookie_assign(tx)
    _list_move_tail(vd, vc.desc_submitted)
    charge_op(tx.chan.kernel, "dmaengine_submit")
    return cookie


def vchan_tx_desc_free(tx: DmaAsyncTxDescriptor) -> int:
    """``vchan_tx_desc_free``: free a reusable descriptor."""
    vc = to_virt_chan(tx.chan)
    vd = to_virt_desc(tx)
    _list_del(vd)
    assert vc.desc_free is not None
    vc.desc_free(vd)
    return 0


def vchan_find_desc(vc: VirtDmaChan, cookie: int) -> VirtDmaDesc | None:
    """``vchan_find_desc``: an issued descriptor by cookie."""
    for vd in vc.desc_issued:
        assert vd.tx is not None
        if vd.tx.cookie == cookie:
            return vd
    return None


def vchan_complete(vc: VirtDmaChan) -> None:
    """``vchan_complete``: the tasklet that runs callbacks of completed descriptors."""
    head: list[VirtDmaDesc] = []
    _list_splice_tail_init(vc.desc_completed, head)
    vd = vc.cyclic
    cb = DmaengineDescCallback()
    if vd is not None:
        vc.cyclic = None
        assert vd.tx is not None
        dmaengine_desc_get_callback(vd.tx, cb)
        dmaengine_desc_callback_invoke(cb, vd.tx_result)
    for vd in list(head):
        assert vd.tx is not None
        cb = DmaengineDescCallback()
        dmaengine_desc_get_callback(vd.tx, cb)
        _list_del(vd)
        vchan_vdesc_fini(vd)
        dmaengine_desc_callback_invoke(cb, vd.tx_result)
        charge_op(vc.chan.kernel, "dmaengine_callback")


def vchan_dma_desc_free_list(vc: VirtDmaChan, head: MutableSequence[VirtDmaDesc]) -> None:
    """``vchan_dma_desc_free_list``: free (or park, if reusable) every descriptor on head."""
    for vd in list(head):
        assert vd.tx is not None
        if dmaengine_desc_test_reuse(vd.tx):
            _list_move_tail(vd, vc.desc_allocated)
        else:
            _list_del(vd)
            assert vc.desc_free is not None
            vc.desc_free(vd)
    head.clear()


def vchan_init(vc: VirtDmaChan, dmadev: DmaDevice) -> None:
    """``vchan_init``: cookies, lists, tasklet; add the channel to the device."""
    dma_cookie_init(vc.chan)
    vc.desc_allocated.clear()
    vc.desc_submitted.clear()
    vc.desc_issued.clear()
    vc.desc_completed.clear()
    vc.chan.device = dmadev
    dmadev.channels.append(vc.chan)


# --------------------------------------------------------------------------- virt-dma.h
def vchan_tx_prep(vc: VirtDmaChan, vd: VirtDmaDesc, tx_flags: int) -> DmaAsyncTxDescriptor:
    """``vchan_tx_prep``: initialise the tx descriptor, put it on ``desc_allocated``."""
    tx = DmaAsyncTxDescriptor(vc.chan)
    dma_async_tx_descriptor_init(tx, vc.chan)
    tx.container = vd
    tx.flags = tx_flags
    tx.tx_submit = vchan_tx_submit
    tx.desc_free = vchan_tx_desc_free
    vd.tx = tx
    vd.tx_result = DmaengineResult(DMA_TRANS_NOERROR, 0)
    _list_add_tail(vd, vc.desc_allocated)
    return tx


def vchan_issue_pending(vc: VirtDmaChan) -> bool:
    """``vchan_issue_pending``: move submitted descriptors to the issued list."""
    _list_splice_tail_init(vc.desc_submitted, vc.desc_issued)
    return bool(vc.desc_issued)


def vchan_cookie_complete(vd: VirtDmaDesc) -> None:
    """``vchan_cookie_complete``: complete the cookie, queue for the completion tasklet."""
    assert vd.tx is not None
    vc = to_virt_chan(vd.tx.chan)
    dma_cookie_complete(vd.tx)
    _list_move_tail(vd, vc.desc_completed)
    tasklet_schedule(vc)


def vchan_vdesc_fini(vd: VirtDmaDesc) -> None:
    """``vchan_vdesc_fini``: free the descriptor, or park it for reuse."""
    assert vd.tx is not None
    vc = to_virt_chan(vd.tx.chan)
    if dmaengine_desc_test_reuse(vd.tx):
        _list_add(vd, vc.desc_allocated)
    else:
        assert vc.desc_free is not None
        vc.desc_free(vd)


def vchan_terminate_vdesc(vd: VirtDmaDesc) -> None:
    """``vchan_terminate_vdesc``."""
    assert vd.tx is not None
    vc = to_virt_chan(vd.tx.chan)
    if vc.vd_terminated is not None:
        vchan_vdesc_fini(vc.vd_terminated)
    vc.vd_terminated = vd
    if vc.cyclic is vd:
        vc.cyclic = None


def vchan_next_desc(vc: VirtDmaChan) -> VirtDmaDesc | None:
    """``vchan_next_desc``: first issued descriptor, or None."""
    return vc.desc_issued[0] if vc.desc_issued else None


def vchan_get_all_descriptors(vc: VirtDmaChan, head: MutableSequence[VirtDmaDesc]) -> None:
    """``vchan_get_all_descriptors``: splice every list onto ``head``."""
    _list_splice_tail_init(vc.desc_allocated, head)
    _list_splice_tail_init(vc.desc_submitted, head)
    _list_splice_tail_init(vc.desc_issued, head)
    _list_splice_tail_init(vc.desc_completed, head)


def vchan_free_chan_resources(vc: VirtDmaChan) -> None:
    """``vchan_free_chan_resources``: free every descriptor the channel still holds."""
    head: list[VirtDmaDesc] = []
    vchan_get_all_descriptors(vc, head)
    for vd in head:
        assert vd.tx is not None
        dmaengine_desc_clear_reuse(vd.tx)
    vchan_dma_desc_free_list(vc, head)


def vchan_synchronize(vc: VirtDmaChan) -> None:
    """``vchan_synchronize``: wait for a scheduled completion tasklet, free vd_terminated."""
    kernel = vc.chan.kernel
    charge_op(kernel, "vchan_synchronize")
    t = vc._tasklet
    if t is not None and t.alive and kernel.sim.current is not None and kernel.sim.current is not t:
        t.join()  # tasklet_kill
    if vc.vd_terminated is not None:
        vchan_vdesc_fini(vc.vd_terminated)
        vc.vd_terminated = None


def tasklet_schedule(vc: VirtDmaChan) -> None:
    """``tasklet_schedule(&vc->task)``: run ``vchan_complete`` soon, as its own context."""
    t = vc._tasklet
    if t is not None and t.alive and not t.started:
        return  # already scheduled
    kernel = vc.chan.kernel
    core = kernel.sim.current.core if kernel.sim.current is not None else 0
    vc._tasklet = kernel.sim.spawn(vchan_complete, vc, name=f"tasklet:{vc.chan.name}", core=core)
