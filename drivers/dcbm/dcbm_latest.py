"""DCBM, latest form (``shivankgarg98/linux drivers/migrate_offload/dcbm/dcbm.c``, §5.3).

Channels are requested when offloading is enabled (``dma_request_chan_by_mask`` until
``nr_dma_chan`` or an error) and held until it is disabled; consecutive channels of the same
DMA device form a *group* (node = ``dev_to_node(dev)``). A batch claims channels from one
group only (its mappings are against that group's device): groups on the destination
node first, then the others, each pass starting at a rotating cursor, ``mutex_trylock``
per channel until ``want = min(nr_dma_chan, nr_folios, 16)``; the first group that yields a
channel wins. Nothing free -> ``batches_refused++`` and -EBUSY (the core CPU-copies). Per
folio ``dma_map_page_attrs``; every descriptor has DMA_PREP_INTERRUPT (+ cache control)
and a ``callback_result``; ``pending`` = 1 + descriptors; ``wait_for_completion`` without
timeout; nothing is ever terminated. Success marks every destination
``FOLIO_CONTENT_COPIED``; failure returns the error and the core copies per folio.

With PTDMA (one channel per device) each group holds one channel, so one batch uses one
channel; several channels serve concurrent batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from drivers.dmaengine.costs import charge_op
from drivers.dmaengine.dma_mapping import (
    DMA_FROM_DEVICE,
    DMA_TO_DEVICE,
    Device,
    dev_to_node,
    dma_map_page_attrs,
    dma_mapping_error,
    dma_unmap_page_attrs,
)
from drivers.dmaengine.dmaengine import (
    DMA_CTRL_ACK,
    DMA_MEMCPY,
    DMA_MEMCPY_SG,
    DMA_PREP_CACHE_CONTROL,
    DMA_PREP_INTERRUPT,
    DMA_TRANS_NOERROR,
    IS_ERR,
    DmaCapMask,
    DmaChan,
    DmaengineResult,
    dma_async_issue_pending,
    dma_cap_set,
    dma_cap_zero,
    dma_has_cap,
    dma_release_channel,
    dma_request_chan_by_mask,
    dma_submit_error,
    dmaengine_get_dma_device,
    dmaengine_prep_dma_memcpy,
    dmaengine_prep_dma_memcpy_sg,
    dmaengine_submit,
)
from drivers.dmaengine.scatterlist import SgTable, sg_alloc_table, sg_set_page
from drivers.mm.errno import EBUSY, EIO, ENODEV, ENOMEM
from drivers.mm.folio import FOLIO_CONTENT_COPIED, Folio, folio_nid, folio_size
from drivers.mm.migrate_copy_offload import MigrateCopyOffload, OffloadMigrator
from emulator.sync import Completion, Mutex

if TYPE_CHECKING:
    from drivers.dcbm.dcbm import Dcbm

MAX_DMA_CHANNELS = 16


@dataclass
class DcbmChan:
    """A held channel and the lock a batch claims it with."""

    chan: DmaChan
    lock: Mutex


@dataclass
class DcbmGroup:
    """Consecutive channels of one DMA device: {dev, node, first, nr}."""

    dev: Device
    node: int
    first: int
    nr: int


class DcbmWork:
    """One claimed channel's share of a batch: completion, pending count, error."""

    def __init__(self, c: DcbmChan, done: Completion) -> None:
        self.c = c
        self.done = done
        self.pending = 1  # the submitter's reference
        self.error = 0
        self.first = 0
        self.nr = 0


class DcbmLatest:
    """State of the latest module: held channels, groups, the cursor, the migrator."""

    def __init__(self, dcbm: Dcbm) -> None:
        self.dcbm = dcbm
        self.kernel = dcbm.kernel
        self.chans: list[DcbmChan] = []
        self.groups: list[DcbmGroup] = []
        self.group_cursor = 0
        self.dma_migrator = OffloadMigrator(name="DCBM", offload_copy=self.folios_copy_dma,
                                            owner=dcbm.module)
        self.last_claimed: list[str] = []  # channel names claimed by the last batch
        self.claims: list[list[str]] = []  # every batch's claimed channels, in claim order

    # ------------------------------------------------------------------ channels
    def dcbm_get_channels(self) -> int:
        """Request up to ``nr_dma_chan`` channels and group them by device."""
        mask = DmaCapMask()
        dma_cap_zero(mask)
        dma_cap_set(DMA_MEMCPY, mask)
        for _ in range(self.dcbm.nr_dma_channels):
            chan = dma_request_chan_by_mask(self.kernel, mask)
            if IS_ERR(chan):
                break
            assert isinstance(chan, DmaChan)
            self.chans.append(DcbmChan(chan, Mutex(self.kernel.sim, f"dcbm:{chan.name}")))
        if not self.chans:
            return -ENODEV
        for i, c in enumerate(self.chans):
            dev = dmaengine_get_dma_device(c.chan)
            if self.groups and self.groups[-1].dev is dev:
                self.groups[-1].nr += 1
            else:
                self.groups.append(DcbmGroup(dev, dev_to_node(dev), i, 1))
        return 0

    def dcbm_put_channels(self) -> None:
        """Release every held channel."""
        for c in self.chans:
            dma_release_channel(c.chan)
        self.chans = []
        self.groups = []

    def enable(self) -> int:
        """Get channels, then ``migrate_offload_register(&dma_migrator, reason_mask)``."""
        ret = self.dcbm_get_channels()
        if ret:
            return ret
        core = self.kernel.subsystem(MigrateCopyOffload)
        ret = core.migrate_offload_register(self.dma_migrator, self.dcbm.reason_mask)
        if ret:
            self.dcbm_put_channels()
            return ret
        return 0

    def disable(self) -> int:
        """Unregister (waits for batches in flight), then release all channels."""
        core = self.kernel.subsystem(MigrateCopyOffload)
        core.migrate_offload_unregister(self.dma_migrator)
        self.dcbm_put_channels()
        return 0

    def set_reason_mask(self, mask: int) -> int:
        """``reason_mask`` store while enabled."""
        core = self.kernel.subsystem(MigrateCopyOffload)
        return core.migrate_offload_set_reason_mask(self.dma_migrator, mask)

    def dcbm_claim(self, want: int, node: int) -> tuple[DcbmGroup | None, list[DcbmChan]]:
        """Claim up to ``want`` free channels of one group, destination node first."""
        for local in (True, False):
            cands = [g for g in self.groups if (g.node == node) == local]
            if not cands:
                continue
            self.group_cursor += 1  # atomic_inc_return(&group_cursor)
            off = self.group_cursor % len(cands)
            for j in range(len(cands)):
                g = cands[(off + j) % len(cands)]
                got: list[DcbmChan] = []
                for c in self.chans[g.first : g.first + g.nr]:
                    if len(got) >= want:
                        break
                    charge_op(self.kernel, "mutex_op")
                    if c.lock.trylock():
                        got.append(c)
                if got:
                    return g, got
        return None, []

    # ------------------------------------------------------------------ the batch copy
    def dcbm_callback(self, param: object, result: DmaengineResult | None) -> None:
        """``callback_result`` of every descriptor: error on a non-NOERROR (or NULL)
        result; the last reference completes the work."""
        work = param
        assert isinstance(work, DcbmWork)
        if result is None or result.result != DMA_TRANS_NOERROR:
            work.error = -EIO
        work.pending -= 1
        if work.pending == 0:
            charge_op(self.kernel, "complete_wakeup")
            work.done.complete()

    def folios_copy_dma(self, dst_list: list[Folio], src_list: list[Folio], nr_folios: int) -> int:
        """Copy a batch on held channels; 0 (all dst marked copied), -EBUSY or the error."""
        kernel = self.kernel
        dcbm = self.dcbm
        dcbm.batches += 1
        nr = min(nr_folios, len(src_list), len(dst_list))
        if nr <= 0:
            return 0
        want = min(dcbm.nr_dma_channels, nr, MAX_DMA_CHANNELS)
        node = folio_nid(dst_list[0])
        group, claimed = self.dcbm_claim(want, node)
        if group is None:
            dcbm.batches_refused += 1
            return -EBUSY
        self.last_claimed = [c.chan.name for c in claimed]
        self.claims.append(self.last_claimed)
        dev = group.dev
        charge_op(kernel, "dcbm_folio", nr)
        # Per-folio mappings against the group's device (pairs never depend on merging).
        src_dma: list[int] = []
        dst_dma: list[int] = []
        err = 0
        for i in range(nr):
            s = dma_map_page_attrs(dev, src_list[i].phys, 0, folio_size(src_list[i]),
                                   DMA_TO_DEVICE, 0)
            if dma_mapping_error(dev, s):
                err = -ENOMEM
                break
            d = dma_map_page_attrs(dev, dst_list[i].phys, 0, folio_size(dst_list[i]),
                                   DMA_FROM_DEVICE, 0)
            if dma_mapping_error(dev, d):
                dma_unmap_page_attrs(dev, s, folio_size(src_list[i]), DMA_TO_DEVICE, 0)
                err = -ENOMEM
                break
            src_dma.append(s)
            dst_dma.append(d)
        works: list[DcbmWork] = []
        if not err:
            flags = DMA_CTRL_ACK | DMA_PREP_INTERRUPT
            if dcbm.cache_ctrl:
                flags |= DMA_PREP_CACHE_CONTROL
            n_ch = len(claimed)
            for i, c in enumerate(claimed):
                w = DcbmWork(c, Completion(kernel.sim, f"dcbm:{c.chan.name}"))
                w.first = nr * i // n_ch
                w.nr = nr * (i + 1) // n_ch - w.first
                works.append(w)
                if w.nr:
                    self._submit(w, src_list, dst_list, src_dma, dst_dma, flags)
                dma_async_issue_pending(c.chan)
                # drop the submitter's reference
                w.pending -= 1
                if w.pending == 0:
                    w.done.complete()
            for w in works:
                w.done.wait_for_completion()  # no timeout: nothing is ever terminated
            for w in works:
                if w.error and not err:
                    err = w.error
        for i in range(len(src_dma)):
            dma_unmap_page_attrs(dev, src_dma[i], folio_size(src_list[i]), DMA_TO_DEVICE, 0)
            dma_unmap_page_attrs(dev, dst_dma[i], folio_size(dst_list[i]), DMA_FROM_DEVICE, 0)
        if not err:
            for folio in dst_list[:nr]:
                folio.migrate_info |= FOLIO_CONTENT_COPIED
        for c in claimed:
            c.lock.unlock()
            charge_op(kernel, "mutex_op")
        if err:
            dcbm.folios_failures += nr
            return err
        dcbm.folios_migrated += nr
        return 0

    def _submit(
        self,
        w: DcbmWork,
        src_list: list[Folio],
        dst_list: list[Folio],
        src_dma: list[int],
        dst_dma: list[int],
        flags: int,
    ) -> None:
        """Prep and submit one channel's slice: memcpy_sg in chunks of ``sg_elems`` when the
        device has DMA_MEMCPY_SG (DSA), else one memcpy per folio (PTDMA)."""
        chan = w.c.chan
        assert chan.device is not None
        if dma_has_cap(DMA_MEMCPY_SG, chan.device.cap_mask):
            step = max(1, self.dcbm.sg_elems)
            for a in range(w.first, w.first + w.nr, step):
                b = min(a + step, w.first + w.nr)
                ssg, dsg = SgTable(), SgTable()
                sg_alloc_table(ssg, b - a, self.kernel)
                sg_alloc_table(dsg, b - a, self.kernel)
                for k, idx in enumerate(range(a, b)):
                    size = folio_size(src_list[idx])
                    sg_set_page(ssg.entries[k], src_list[idx].phys, size, 0)
                    sg_set_page(dsg.entries[k], dst_list[idx].phys, size, 0)
                    ssg.entries[k].dma_address, ssg.entries[k].dma_length = src_dma[idx], size
                    dsg.entries[k].dma_address, dsg.entries[k].dma_length = dst_dma[idx], size
                assert ssg.sgl is not None and dsg.sgl is not None
                tx = dmaengine_prep_dma_memcpy_sg(chan, dsg.sgl, b - a, ssg.sgl, b - a, flags)
                if not self._queue(w, tx):
                    return
            return
        for idx in range(w.first, w.first + w.nr):
            tx = dmaengine_prep_dma_memcpy(chan, dst_dma[idx], src_dma[idx],
                                           folio_size(src_list[idx]), flags)
            if not self._queue(w, tx):
                return

    def _queue(self, w: DcbmWork, tx: object) -> bool:
        """Attach the callback, count the reference, submit; False (and the error) on a
        prep or submit failure (what was queued is waited out)."""
        from drivers.dmaengine.dmaengine import DmaAsyncTxDescriptor

        if tx is None:
            w.error = -ENOMEM
            return False
        assert isinstance(tx, DmaAsyncTxDescriptor)
        tx.callback_result = self.dcbm_callback
        tx.callback_param = w
        w.pending += 1
        cookie = dmaengine_submit(tx)
        if dma_submit_error(cookie):
            w.pending -= 1
            w.error = -EIO
            return False
        return True
