"""DCBM v1, the seed's patch 5/5 (``drivers/dma/dcbm/dcbm.c``), faithful to the posting.

One channel is requested with ``dma_request_channel`` when offloading is switched on. The
migrator "DCBM" accepts order-0 folios only (``can_migrate_dma``) and copies one 4 KiB page
per synchronous round trip: map src and dst (DMA_BIDIRECTIONAL), prep (DMA_CTRL_ACK, no
interrupt), submit, ``dma_sync_wait`` (polled), ``dmaengine_terminate_sync`` after every
page, unmap, and a per-page ``folio_copy`` on error. ``v1_double_copy`` (default on) keeps
the posted quirks (linux-design §2.5):

- after the loop control falls into ``fail:`` and ``folios_copy`` copies the whole list
  again on the CPU (the seed's measured DMA folio_copy cost includes it);
- a failed enable leaves ``chan = ERR_PTR(-ENODEV)``, which ``if (!chan)`` does not catch
  (a later call dereferences it: ``KernelOops``);
- the store returns ``sizeof(action)`` instead of ``count``.

On ``ret``: the posted loop assigns ``ret = dma_mapping_error()`` at the top of every
iteration, so an error does *not* stay set for the following pages; the port keeps the code
as posted (see the report). With ``v1_double_copy`` off the port is what the code meant:
no trailing CPU copy, a NULL channel on a failed enable, ``count`` returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.dmaengine.dma_mapping import (
    DMA_BIDIRECTIONAL,
    dma_map_page,
    dma_mapping_error,
    dma_unmap_page,
)
from drivers.dmaengine.dmaengine import (
    DMA_COMPLETE,
    DMA_CTRL_ACK,
    DMA_MEMCPY,
    IS_ERR_OR_NULL,
    DmaCapMask,
    DmaChan,
    ErrPtr,
    dma_cap_set,
    dma_cap_zero,
    dma_release_channel,
    dma_request_channel,
    dma_submit_error,
    dma_sync_wait,
    dmaengine_get_dma_device,
    dmaengine_terminate_sync,
)
from drivers.mm.errno import EBUSY, EINVAL, ENODEV
from drivers.mm.folio import (
    Folio,
    folio_has_private,
    folio_nr_pages,
    folio_test_hugetlb,
)
from drivers.mm.folio_copy import folio_copy, folios_copy
from drivers.mm.migrate_dma import Migrator, MigratorRegistry

if TYPE_CHECKING:
    from drivers.dcbm.dcbm import Dcbm

V1_COPY_SIZE = 4096  # the posted code maps and copies exactly 4096 bytes per folio
SIZEOF_INT = 4


class DcbmV1:
    """State of the v1 module: ``chan``, ``is_dispatching``, ``dmigrator``."""

    def __init__(self, dcbm: Dcbm) -> None:
        self.dcbm = dcbm
        self.kernel = dcbm.kernel
        self.chan: DmaChan | ErrPtr | None = None
        self.is_dispatching = 0
        self.dmigrator = Migrator(
            name="DCBM",
            migrate_dma=self.migrate_dma,
            can_migrate_dma=self.can_migrate_dma,
            owner=dcbm.module,
        )
        self.pages_dma = 0  # port counters: pages copied by a completed descriptor
        self.pages_cpu_fallback = 0  # pages copied by the per-page folio_copy on error

    # ------------------------------------------------------------------ sysfs
    def offloading_set(self, action: int, count: int) -> int:
        """``offloading_set``: 1 = request a channel and start offloading, 0 = stop."""
        faithful = self.dcbm.v1_double_copy
        registry = self.kernel.subsystem(MigratorRegistry)
        mutex = self.dcbm.mutex
        if action == 0:
            mutex.lock()
            if self.is_dispatching == 1:
                registry.stop_offloading()
                assert isinstance(self.chan, DmaChan)
                dma_release_channel(self.chan)
                self.is_dispatching = 0
                self.dcbm.offloading_enabled = False
            else:
                self.kernel.printk("dcbm: migration offloading is already OFF")
            mutex.unlock()
        elif action == 1:
            mutex.lock()
            if self.is_dispatching == 0:
                mask = DmaCapMask()
                dma_cap_zero(mask)
                dma_cap_set(DMA_MEMCPY, mask)
                chan = dma_request_channel(self.kernel, mask, None, None)
                if chan is None:
                    self.chan = ErrPtr(-ENODEV) if faithful else None
                    self.kernel.printk("dcbm: Error requesting DMA channel")
                    mutex.unlock()
                    return -ENODEV
                self.chan = chan
                registry.start_offloading(self.dmigrator)
                self.is_dispatching = 1
                self.dcbm.offloading_enabled = True
            else:
                self.kernel.printk("dcbm: migration offloading is already ON")
            mutex.unlock()
        else:
            self.kernel.printk(f"dcbm: input should be zero or one, parsed as {action}")
        return SIZEOF_INT if faithful else count

    def enable(self) -> int:
        """``offloading`` <- 1 (for the generic control surface)."""
        ret = self.offloading_set(1, SIZEOF_INT)
        return ret if ret < 0 else 0

    def disable(self) -> int:
        """``offloading`` <- 0."""
        ret = self.offloading_set(0, SIZEOF_INT)
        return ret if ret < 0 else 0

    # ------------------------------------------------------------------ migrator
    @staticmethod
    def can_migrate_dma(dst: Folio, src: Folio) -> bool:
        """``can_migrate_dma``: no hugetlb, no private data, equal sizes, order 0 only."""
        return not (
            folio_test_hugetlb(src)
            or folio_test_hugetlb(dst)
            or folio_has_private(src)
            or folio_has_private(dst)
            or folio_nr_pages(src) != folio_nr_pages(dst)
            or folio_nr_pages(src) != 1
        )

    def migrate_dma(self, dst_list: list[Folio], src_list: list[Folio], folio_cnt: int) -> None:
        """The registered ``migrate_dma`` (v1 returns nothing)."""
        self.folios_copy_dma(dst_list, src_list, folio_cnt)

    def folios_copy_dma(self, dst_list: list[Folio], src_list: list[Folio], nr: int = -1) -> int:
        """``folios_copy_dma(dst_list, src_list)``: one polled DMA round trip per page.

        Returns 0 (the C function is void; the int is for the generic control surface).
        """
        kernel = self.kernel
        dcbm = self.dcbm
        faithful = dcbm.v1_double_copy
        dcbm.batches += 1
        chan = self.chan
        ret = 0
        if (chan is None) if faithful else IS_ERR_OR_NULL(chan):
            kernel.printk("dcbm: error chan uninitialized")
            return self._fail(dst_list, src_list)
        assert chan is not None
        dev = chan.device  # an ERR_PTR oopses here, as in the C code
        if dev is None:
            kernel.printk("dcbm: error dev is NULL")
            return self._fail(dst_list, src_list)
        assert isinstance(chan, DmaChan)
        dma_dev = dmaengine_get_dma_device(chan)
        flags = DMA_CTRL_ACK
        for src, dst in zip(src_list, dst_list, strict=False):
            srcdma_handle = dma_map_page(dma_dev, src.phys, 0, V1_COPY_SIZE, DMA_BIDIRECTIONAL)
            ret = dma_mapping_error(dma_dev, srcdma_handle)
            if ret:
                kernel.printk("dcbm: src mapping error")
            else:
                dstdma_handle = dma_map_page(dma_dev, dst.phys, 0, V1_COPY_SIZE,
                                             DMA_BIDIRECTIONAL)
                ret = dma_mapping_error(dma_dev, dstdma_handle)
                if ret:
                    kernel.printk("dcbm: dst mapping error")
                else:
                    ret = self._one_page(chan, dstdma_handle, srcdma_handle, flags)
                    # fail3:
                    dma_unmap_page(dma_dev, dstdma_handle, V1_COPY_SIZE, DMA_BIDIRECTIONAL)
                # fail2:
                dma_unmap_page(dma_dev, srcdma_handle, V1_COPY_SIZE, DMA_BIDIRECTIONAL)
            # fail1:
            if ret:
                folio_copy(kernel, dst, src)
                self.pages_cpu_fallback += 1
                dcbm.folios_failures += 1
            else:
                self.pages_dma += 1
                dcbm.folios_migrated += 1
        if faithful:
            # fail: reached by falling through after the loop: the whole list again.
            folios_copy(kernel, dst_list, src_list)
        return 0

    def _one_page(self, chan: DmaChan, dst: int, src: int, flags: int) -> int:
        """prep, submit, ``dma_sync_wait``, ``dmaengine_terminate_sync`` for one page."""
        dev = chan.device
        assert dev is not None and dev.device_prep_dma_memcpy is not None
        tx = dev.device_prep_dma_memcpy(chan, dst, src, V1_COPY_SIZE, flags)
        if tx is None:
            self.kernel.printk("dcbm: prep_dma_error")
            return -EBUSY
        assert tx.tx_submit is not None
        cookie = tx.tx_submit(tx)
        if dma_submit_error(cookie):
            self.kernel.printk("dcbm: dma_submit_error")
            return -EINVAL
        status = dma_sync_wait(chan, cookie)
        dmaengine_terminate_sync(chan)
        if status != DMA_COMPLETE:
            self.kernel.printk("dcbm: error while dma wait")
            return -EINVAL
        return 0

    def _fail(self, dst_list: list[Folio], src_list: list[Folio]) -> int:
        """The ``fail:`` label: ``folios_copy`` of the whole list on the CPU."""
        folios_copy(self.kernel, dst_list, src_list)
        self.dcbm.folios_failures += len(src_list)
        return 0
