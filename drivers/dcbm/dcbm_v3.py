"""DCBM v3 (RFC v3 7/9, ``drivers/migoffcopy/dcbm/dcbm.c``): per-call channels, SG tables.

Per batch: request up to ``min(nr_dma_chan, nr_folios, 16)`` channels with
``dma_request_chan_by_mask``; give channel i the contiguous slice
``nr*(i+1)/C - nr*i/C``; build two SG tables per channel (``sg_set_folio``) and map them with
``dma_map_sgtable`` (a translating IOMMU may merge entries; src/dst ``nents`` mismatch ->
-EINVAL); one memcpy descriptor per DMA segment, only the last one with
DMA_PREP_INTERRUPT and the callback; ``dma_async_issue_pending``; then
``wait_for_completion_timeout(10 s)`` per channel; cleanup terminates a channel only if its
work is still pending, unmaps, releases the channel. Any error -> the whole batch is copied
by ``folios_mc_copy`` on the CPU, and the function returns 0 (linux-design §4).

Consequences kept: descriptor statuses are never checked (a PTDMA error, or any error the
callback does not see, goes unnoticed); with PTDMA's int_en "last prep wins" every
descriptor of the batch runs with the queue interrupt enabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drivers.dmaengine.costs import charge_op
from drivers.dmaengine.dma_mapping import (
    DMA_ATTR_NO_KERNEL_MAPPING,
    DMA_ATTR_SKIP_CPU_SYNC,
    DMA_FROM_DEVICE,
    DMA_TO_DEVICE,
    dma_map_sgtable,
    dma_unmap_sgtable,
)
from drivers.dmaengine.dmaengine import (
    DMA_CTRL_ACK,
    DMA_MEMCPY,
    DMA_PREP_INTERRUPT,
    IS_ERR,
    DmaCapMask,
    DmaChan,
    dma_async_issue_pending,
    dma_cap_set,
    dma_cap_zero,
    dma_release_channel,
    dma_request_chan_by_mask,
    dma_submit_error,
    dmaengine_get_dma_device,
    dmaengine_prep_dma_memcpy,
    dmaengine_submit,
    dmaengine_terminate_sync,
)
from drivers.dmaengine.scatterlist import (
    SgTable,
    for_each_sgtable_dma_sg,
    sg_alloc_table,
    sg_dma_address,
    sg_dma_len,
    sg_free_table,
    sg_next,
    sg_set_folios,
)
from drivers.mm.errno import EINVAL, EIO, ENODEV, ETIMEDOUT
from drivers.mm.folio import Folio
from drivers.mm.folio_copy import folios_mc_copy
from drivers.mm.migrate_dma import Migrator, MigratorRegistry
from emulator.event_kernel import MS
from emulator.sync import Completion

if TYPE_CHECKING:
    from drivers.dcbm.dcbm import Dcbm

MAX_DMA_CHANNELS = 16
DCBM_V3_TIMEOUT_MS = 10000  # wait_for_completion_timeout(.., msecs_to_jiffies(10000))
SG_ATTRS = DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_NO_KERNEL_MAPPING


@dataclass
class DmaWork:
    """``struct dma_work``: one channel's share of a batch."""

    chan: DmaChan | None = None
    done: Completion | None = None
    pending: int = 0
    src_sgt: SgTable | None = None
    dst_sgt: SgTable | None = None
    mapped: bool = False
    nr_folios: int = 0
    descs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class DcbmV3:
    """State of the v3 module and its ``folios_copy_dma``."""

    def __init__(self, dcbm: Dcbm) -> None:
        self.dcbm = dcbm
        self.kernel = dcbm.kernel
        self.dma_migrator = Migrator(name="DCBM", migrate_dma=self.folios_copy_dma,
                                     can_migrate_dma=None, owner=dcbm.module)
        self.fallbacks = 0
        self.last_error = 0
        self.last_descs = 0  # descriptors submitted by the last batch (for IOMMU-merge tests)
        self.last_channels = 0

    def enable(self) -> int:
        """``offloading_store(1)``: ``start_offloading(&dma_migrator)``."""
        self.kernel.subsystem(MigratorRegistry).start_offloading(self.dma_migrator)
        self.kernel.printk("dcbm: migration offloading is now ON")
        return 0

    def disable(self) -> int:
        """``offloading_store(0)``: ``stop_offloading()``."""
        self.kernel.subsystem(MigratorRegistry).stop_offloading()
        self.kernel.printk("dcbm: migration offloading is now OFF")
        return 0

    # ------------------------------------------------------------------ helpers
    def dma_completion_callback(self, data: Any) -> None:
        """``dma_completion_callback``: ``atomic_dec_and_test(pending)`` -> ``complete``."""
        work = data
        assert isinstance(work, DmaWork)
        work.pending -= 1
        if work.pending == 0:
            assert work.done is not None
            charge_op(self.kernel, "complete_wakeup")
            work.done.complete()

    def setup_sg_tables(
        self, work: DmaWork, src_list: list[Folio], dst_list: list[Folio], pos: int, nr: int
    ) -> int:
        """``setup_sg_tables``: two tables of ``nr`` folios from ``pos``, mapped TO/FROM."""
        kernel = self.kernel
        charge_op(kernel, "dcbm_folio", nr)
        work.src_sgt = SgTable()
        work.dst_sgt = SgTable()
        ret = sg_alloc_table(work.src_sgt, nr, kernel)
        if ret:
            work.src_sgt = work.dst_sgt = None
            return ret
        ret = sg_alloc_table(work.dst_sgt, nr, kernel)
        if ret:
            sg_free_table(work.src_sgt)
            work.src_sgt = work.dst_sgt = None
            return ret
        # for (i = 0; i < nr; i++) {
        #         sg_set_folio(sg_src, src_list[pos + i], folio_size(src), 0);
        #         sg_set_folio(sg_dst, dst_list[pos + i], folio_size(dst), 0);
        #         sg_src = sg_next(sg_src); sg_dst = sg_next(sg_dst);
        # }
        # as one pass per table (sg_set_folios: the same entries and sg_set_entry charges).
        sg_set_folios(work.src_sgt, src_list[pos : pos + nr], kernel)
        sg_set_folios(work.dst_sgt, dst_list[pos : pos + nr], kernel)
        assert work.chan is not None
        dev = dmaengine_get_dma_device(work.chan)
        ret = dma_map_sgtable(dev, work.src_sgt, DMA_TO_DEVICE, SG_ATTRS)
        if ret:
            self._free_tables(work)
            return ret
        ret = dma_map_sgtable(dev, work.dst_sgt, DMA_FROM_DEVICE, SG_ATTRS)
        if ret:
            dma_unmap_sgtable(dev, work.src_sgt, DMA_TO_DEVICE, SG_ATTRS)
            self._free_tables(work)
            return ret
        # Verify mapping produced same number of entries
        if work.src_sgt.nents != work.dst_sgt.nents:
            kernel.printk(f"dcbm: Mismatched SG entries after mapping: "
                          f"src={work.src_sgt.nents} dst={work.dst_sgt.nents}")
            dma_unmap_sgtable(dev, work.dst_sgt, DMA_FROM_DEVICE, SG_ATTRS)
            dma_unmap_sgtable(dev, work.src_sgt, DMA_TO_DEVICE, SG_ATTRS)
            self._free_tables(work)
            return -EINVAL
        work.mapped = True
        return 0

    @staticmethod
    def _free_tables(work: DmaWork) -> None:
        for t in (work.src_sgt, work.dst_sgt):
            if t is not None:
                sg_free_table(t)
        work.src_sgt = work.dst_sgt = None

    def cleanup_dma_work(self, works: list[DmaWork], actual_channels: int) -> None:
        """``cleanup_dma_work``: terminate if still pending, unmap, release the channel."""
        for w in works[:actual_channels]:
            if w.chan is None:
                continue
            dev = dmaengine_get_dma_device(w.chan)
            # Terminate any pending transfers
            if w.pending > 0:
                dmaengine_terminate_sync(w.chan)
            if w.mapped:
                assert w.src_sgt is not None and w.dst_sgt is not None
                dma_unmap_sgtable(dev, w.src_sgt, DMA_TO_DEVICE, SG_ATTRS)
                dma_unmap_sgtable(dev, w.dst_sgt, DMA_FROM_DEVICE, SG_ATTRS)
                self._free_tables(w)
                w.mapped = False
            dma_release_channel(w.chan)

    def submit_dma_transfers(self, work: DmaWork) -> int:
        """``submit_dma_transfers``: one memcpy per DMA segment; the last one interrupts and
        carries the callback; ``pending`` is 1 for the whole batch."""
        flags = DMA_CTRL_ACK
        work.pending = 1
        assert work.src_sgt is not None and work.dst_sgt is not None and work.chan is not None
        sg_dst = work.dst_sgt.sgl
        last = work.src_sgt.nents - 1
        for i, sg_src in for_each_sgtable_dma_sg(work.src_sgt):
            assert sg_dst is not None
            if i == last:
                flags |= DMA_PREP_INTERRUPT
            tx = dmaengine_prep_dma_memcpy(work.chan, sg_dma_address(sg_dst),
                                           sg_dma_address(sg_src), sg_dma_len(sg_src), flags)
            if tx is None:
                work.pending = 0
                return -EIO
            if i == last:
                tx.callback = self.dma_completion_callback
                tx.callback_param = work
            cookie = dmaengine_submit(tx)
            if dma_submit_error(cookie):
                work.pending = 0
                return -EIO
            work.descs += 1
            sg_dst = sg_next(sg_dst)
        return 0

    # ------------------------------------------------------------------ the batch copy
    def folios_copy_dma(self, dst_list: list[Folio], src_list: list[Folio], nr_folios: int) -> int:
        """``folios_copy_dma``: returns 0; on any error the batch is CPU-copied."""
        kernel = self.kernel
        dcbm = self.dcbm
        dcbm.batches += 1
        charge_op(kernel, "dcbm_setup")
        ret = 0
        max_channels = min(dcbm.nr_dma_channels, nr_folios, MAX_DMA_CHANNELS)
        works = [DmaWork() for _ in range(max(max_channels, 0))]
        mask = DmaCapMask()
        dma_cap_zero(mask)
        dma_cap_set(DMA_MEMCPY, mask)
        actual_channels = 0
        for _ in range(max_channels):
            chan = dma_request_chan_by_mask(kernel, mask)
            if IS_ERR(chan):
                break
            assert isinstance(chan, DmaChan)
            works[actual_channels].chan = chan
            works[actual_channels].done = Completion(kernel.sim, "dma_work.done")
            actual_channels += 1
        self.last_channels = actual_channels
        self.last_descs = 0
        if actual_channels == 0:
            ret = -ENODEV
            return self._fallback(dst_list, src_list, nr_folios, ret)
        pos = 0
        failed = False
        for i in range(actual_channels):
            per_chan = nr_folios * (i + 1) // actual_channels - nr_folios * i // actual_channels
            works[i].nr_folios = per_chan
            if per_chan == 0:
                continue
            ret = self.setup_sg_tables(works[i], src_list, dst_list, pos, per_chan)
            pos += per_chan
            if ret:
                failed = True
                break
        if not failed:
            for i in range(actual_channels):
                ret = self.submit_dma_transfers(works[i])
                self.last_descs += works[i].descs
                if ret:
                    kernel.printk(f"dcbm: Failed to submit transfers for channel {i}")
                    failed = True
                    break
        if not failed:
            for w in works[:actual_channels]:
                if w.pending > 0:
                    assert w.chan is not None
                    dma_async_issue_pending(w.chan)
            for i, w in enumerate(works[:actual_channels]):
                if w.pending > 0:
                    assert w.done is not None
                    left = w.done.wait_for_completion_timeout(DCBM_V3_TIMEOUT_MS * MS)
                    if not left:
                        kernel.printk(f"dcbm: DMA timeout on channel {i}")
                        ret = -ETIMEDOUT
                        failed = True
                        break
        # cleanup:
        self.cleanup_dma_work(works, actual_channels)
        if ret:
            return self._fallback(dst_list, src_list, nr_folios, ret)
        dcbm.folios_migrated += nr_folios
        return 0

    def _fallback(self, dst_list: list[Folio], src_list: list[Folio], nr: int, err: int) -> int:
        """``fallback:``: ``folios_mc_copy`` of the whole batch on the CPU; returns 0."""
        self.kernel.printk(f"dcbm: Falling back to CPU copy ({err})")
        self.fallbacks += 1
        self.last_error = err
        self.dcbm.folios_failures += nr
        folios_mc_copy(self.kernel, dst_list, src_list, nr)
        return 0
