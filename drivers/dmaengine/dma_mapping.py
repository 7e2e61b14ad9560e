"""The DMA mapping API: ``struct device``, dma_map_page / sg tables / coherent memory.

Port of ``include/linux/dma-mapping.h`` over the platform IOMMU (``emulator.iommu``): with
the IOMMU ``off`` or in ``passthrough`` the bus address is the physical address
(dma-direct, never merges sg entries); in ``translated`` mode every mapping gets an IOVA in
the device's domain (named by the device, i.e. ``pci.dma_name``), the device reaches only
what is mapped, and ``dma_map_sg`` merges IOVA-contiguous page entries into segments up to
the device's ``max_segment_size`` (64 KiB PCI default), like ``iommu_dma_map_sg`` /
``__finalise_sg``. Each ``dma_map_page``/``dma_unmap_page`` costs the CPU
``preset.host.dma_map_ns``. A small dma-debug style table catches unmaps of addresses that
were never mapped.
"""

from __future__ import annotations

from itertools import compress
from operator import add
from typing import TYPE_CHECKING

import numpy as np

from drivers.dmaengine.costs import charge_ns, charge_op
from drivers.dmaengine.scatterlist import Scatterlist, SgTable
from drivers.mm.errno import EINVAL, ENOMEM
from emulator.frame_allocator import PAGE_SIZE, OutOfMemory

if TYPE_CHECKING:
    from drivers.kernel import Kernel

# enum dma_data_direction
DMA_BIDIRECTIONAL = 0
DMA_TO_DEVICE = 1
DMA_FROM_DEVICE = 2
DMA_NONE = 3

# DMA attributes (include/linux/dma-mapping.h)
DMA_ATTR_WEAK_ORDERING = 1 << 1
DMA_ATTR_WRITE_COMBINE = 1 << 2
DMA_ATTR_NO_KERNEL_MAPPING = 1 << 4
DMA_ATTR_SKIP_CPU_SYNC = 1 << 5
DMA_ATTR_FORCE_CONTIGUOUS = 1 << 6
DMA_ATTR_ALLOC_SINGLE_PAGES = 1 << 7
DMA_ATTR_NO_WARN = 1 << 8

DMA_MAPPING_ERROR = (1 << 64) - 1  # (~(dma_addr_t)0)
PCI_DEFAULT_MAX_SEGMENT_SIZE = 65536  # dma_get_max_seg_size default for PCI devices
DEFAULT_SEG_BOUNDARY_MASK = 0xFFFF_FFFF


def DMA_BIT_MASK(n: int) -> int:
    """``DMA_BIT_MASK(n)``."""
    return (1 << n) - 1 if n < 64 else (1 << 64) - 1


class Device:
    """``struct device`` as the DMA API sees it: name (IOMMU domain), node, DMA limits."""

    def __init__(
        self,
        kernel: Kernel,
        name: str,
        node: int = 0,
        *,
        dma_mask: int = DMA_BIT_MASK(64),
        max_segment_size: int = PCI_DEFAULT_MAX_SEGMENT_SIZE,
        seg_boundary_mask: int = DEFAULT_SEG_BOUNDARY_MASK,
    ) -> None:
        self.kernel = kernel
        self.name = name
        self.node = node
        self.dma_mask = dma_mask
        self.coherent_dma_mask = dma_mask
        self.max_segment_size = max_segment_size
        self.seg_boundary_mask = seg_boundary_mask
        self.driver_data: object = None
        # dma-debug: bus address -> (phys, size, direction) of every live streaming mapping
        self.mappings: dict[int, tuple[int, int, int]] = {}
        self.map_calls = 0
        self.unmap_calls = 0
        self.debug_errors: list[str] = []

    def __repr__(self) -> str:
        return f"<device {self.name} node={self.node}>"


def dev_name(dev: Device) -> str:
    """``dev_name``."""
    return dev.name


def dev_to_node(dev: Device) -> int:
    """``dev_to_node``."""
    return dev.node


def dma_set_mask_and_coherent(dev: Device, mask: int) -> int:
    """``dma_set_mask_and_coherent``."""
    dev.dma_mask = dev.coherent_dma_mask = mask
    return 0


def dma_set_max_seg_size(dev: Device, size: int) -> int:
    """``dma_set_max_seg_size``."""
    dev.max_segment_size = size
    return 0


def dma_get_max_seg_size(dev: Device) -> int:
    """``dma_get_max_seg_size``."""
    return dev.max_segment_size


def _debug_error(dev: Device, msg: str) -> None:
    dev.debug_errors.append(msg)
    dev.kernel.printk(f"DMA-API: {dev.name}: {msg}")


def _map_one(dev: Device, phys: int, size: int, direction: int) -> int:
    """Map one range without charging time; DMA_MAPPING_ERROR if unreachable."""
    iommu = dev.kernel.platform.iommu
    if not iommu.translating:
        if phys + max(size, 1) - 1 > dev.dma_mask:  # dma_capable() fails; no swiotlb here
            return DMA_MAPPING_ERROR
        addr = phys
    else:
        addr = iommu.map(dev.name, phys, size, writable=direction != DMA_TO_DEVICE)
    dev.mappings[addr] = (phys, size, direction)
    return addr


def _check_unmap(dev: Device, addr: int, size: int, direction: int,
                 entry: tuple[int, int, int] | None) -> None:
    """dma-debug's ``check_unmap`` on the record ``entry`` just taken for ``addr`` (None:
    never mapped): report a free of unmapped memory, a wrong size or a wrong direction."""
    if entry is None:
        _debug_error(dev, f"device driver tries to free DMA memory it has not allocated "
                          f"[device address={addr:#x}] [size={size} bytes]")
        return
    if entry[1] != size:
        _debug_error(dev, f"device driver frees DMA memory with different size "
                          f"[device address={addr:#x}] [map size={entry[1]}] [unmap size={size}]")
    if entry[2] != direction:
        _debug_error(dev, f"device driver frees DMA memory with different direction "
                          f"[device address={addr:#x}]")


def _unmap_one(dev: Device, addr: int, size: int, direction: int) -> None:
    entry = dev.mappings.pop(addr, None)
    _check_unmap(dev, addr, size, direction, entry)
    if entry is not None:
        dev.kernel.platform.iommu.unmap(dev.name, addr, entry[1])


def dma_map_page_attrs(
    dev: Device, page: int, offset: int, size: int, direction: int, attrs: int = 0
) -> int:
    """``dma_map_page_attrs``: bus address of ``page + offset`` (``page`` = its physical
    address), or ``DMA_MAPPING_ERROR``. Costs ``preset.host.dma_map_ns``."""
    charge_ns(dev.kernel, dev.kernel.platform.preset.host.dma_map_ns, "dma_map_page")
    dev.map_calls += 1
    return _map_one(dev, page + offset, size, direction)


def dma_map_page(dev: Device, page: int, offset: int, size: int, direction: int) -> int:
    """``dma_map_page`` = ``dma_map_page_attrs(..., 0)``."""
    return dma_map_page_attrs(dev, page, offset, size, direction, 0)


def dma_unmap_page_attrs(
    dev: Device, addr: int, size: int, direction: int, attrs: int = 0
) -> None:
    """``dma_unmap_page_attrs``. Costs ``preset.host.dma_map_ns``."""
    charge_ns(dev.kernel, dev.kernel.platform.preset.host.dma_map_ns, "dma_unmap_page")
    dev.unmap_calls += 1
    _unmap_one(dev, addr, size, direction)


def dma_unmap_page(dev: Device, addr: int, size: int, direction: int) -> None:
    """``dma_unmap_page``."""
    dma_unmap_page_attrs(dev, addr, size, direction, 0)


def dma_mapping_error(dev: Device, dma_addr: int) -> int:
    """``dma_mapping_error``: -ENOMEM for ``DMA_MAPPING_ERROR``, else 0."""
    return -ENOMEM if dma_addr == DMA_MAPPING_ERROR else 0


def _int64_array(values: list[int]) -> np.ndarray:
    """``np.array(values, np.int64)``, filled without a conversion per element when every
    value is the same (the usual offsets and lengths of a table)."""
    if values and values.count(values[0]) == len(values):
        return np.full(len(values), values[0], np.int64)
    return np.array(values, np.int64)


def __finalise_sg(
    iovas: np.ndarray, lengths: np.ndarray, offsets: np.ndarray, max_len: int, bmask: int
) -> tuple[list[int], list[int]]:
    """The DMA segments (addresses, lengths) of entries mapped at ``iovas``, merged as
    ``iommu_dma_map_sg`` / ``__finalise_sg`` do: an entry joins the current segment when its
    IOVA follows it, the joint is page aligned, the segment stays within ``max_len`` and
    does not cross the ``bmask`` segment boundary.

    The entries of one ``iommu_dma_map_sg`` call (positive lengths, so ascending ends) with
    a ``2^n - 1`` boundary mask (what ``dma_set_seg_boundary`` accepts) take a vectorised
    form of the same greedy merge (``_finalise_sg_runs``); anything else walks the entries.
    """
    n = len(iovas)
    ends = iovas + lengths
    if (
        n > 1
        and bmask & (bmask + 1) == 0
        and max(bmask, max_len) < 1 << 62  # int64 arithmetic
        and bool((lengths > 0).all())
        and bool((ends[1:] > ends[:-1]).all())
    ):
        return _finalise_sg_runs(iovas, ends, offsets, max_len, bmask)
    return _finalise_sg_walk(iovas, lengths, offsets, max_len, bmask)


def _finalise_sg_walk(
    iovas: np.ndarray, lengths: np.ndarray, offsets: np.ndarray, max_len: int, bmask: int
) -> tuple[list[int], list[int]]:
    """``__finalise_sg``'s merge, entry by entry (any input)."""
    seg_addr: list[int] = []
    seg_len: list[int] = []
    it = zip(iovas.tolist(), lengths.tolist(), offsets.tolist(), strict=True)
    cur_iova, cur_len, _ = next(it)
    end = cur_iova + cur_len
    for iova, length, offset in it:
        if (
            iova == end
            and end % PAGE_SIZE == 0
            and offset % PAGE_SIZE == 0
            and cur_len + length <= max_len
            and (cur_iova | bmask) == ((end + length - 1) | bmask)
        ):
            cur_len += length
        else:
            seg_addr.append(cur_iova)
            seg_len.append(cur_len)
            cur_iova, cur_len = iova, length
        end = iova + length
    seg_addr.append(cur_iova)
    seg_len.append(cur_len)
    return seg_addr, seg_len


def _finalise_sg_runs(
    iovas: np.ndarray, ends: np.ndarray, offsets: np.ndarray, max_len: int, bmask: int
) -> tuple[list[int], list[int]]:
    """``__finalise_sg``'s merge for positive lengths, ascending ends and a ``2^n - 1``
    boundary mask, without a Python step per entry.

    Joint k (entry k after k-1) can merge at all when ``iovas[k] == ends[k-1]``, that end
    is page aligned and ``offsets[k]`` too: such joints form runs. Inside a run a segment
    started at s is contiguous, so entry k joins it iff ``ends[k] - iovas[s] <= max_len``
    and ``ends[k] - 1`` stays in the boundary window of ``iovas[s]``, i.e. ``ends[k] <=
    limit[s] = min(iovas[s] + max_len, (iovas[s] | bmask) + 1)``; both hold up to some k and
    then never again (``ends`` ascends), so the segment after s starts at ``nxt[s]`` = the
    first entry past ``limit[s]`` (at least s + 1, at most the end of s's run).
    """
    n = len(iovas)
    mask = PAGE_SIZE - 1
    joint = ((iovas[1:] == ends[:-1]) & ((ends[:-1] & mask) == 0)
             & ((offsets[1:] & mask) == 0))
    limit = np.minimum(iovas + max_len, (iovas | bmask) + 1)
    nxt = np.maximum(np.searchsorted(ends, limit, side="right"), np.arange(1, n + 1))
    breaks = np.flatnonzero(~joint) + 1  # entries that start a run
    if breaks.size:  # no segment reaches past the end of its run
        run_end = np.append(breaks, n)[np.searchsorted(breaks, np.arange(n), side="right")]
        nxt = np.minimum(nxt, run_end)
    starts = []
    s = 0
    step = nxt.item
    while s < n:  # the greedy chain: one step per segment
        starts.append(s)
        s = step(s)
    first = np.array(starts)
    seg_addr = iovas[first]
    return seg_addr.tolist(), (ends[nxt[first] - 1] - seg_addr).tolist()


def dma_map_sg_attrs(
    dev: Device, sgl: Scatterlist, nents: int, direction: int, attrs: int = 0
) -> int:
    """``dma_map_sg_attrs``: map ``nents`` entries from ``sgl``; returns the DMA segment
    count (0 = error).

    Translated IOMMU: all entries get consecutive IOVAs (one IOVA range, as
    ``iommu_dma_map_sg`` allocates; one vectorised page-table update), then entries are
    merged while the IOVAs are contiguous, the joint is page aligned, the segment stays
    within ``max_segment_size`` and does not cross the segment boundary (``__finalise_sg``).
    Otherwise one segment per entry (dma-direct, ``dma_direct_map_sg``).
    """
    kernel = dev.kernel
    charge_ns(kernel, kernel.platform.preset.host.dma_map_ns, "dma_map_sg")
    charge_op(kernel, "dma_map_sg_entry", nents)
    dev.map_calls += 1
    sgt, lo = sgl
    hi = lo + nents
    whole = lo == 0 and hi == len(sgt.page)  # the usual call: no copies of the lists
    lengths = sgt.length if whole else sgt.length[lo:hi]
    offsets = sgt.offset if whole else sgt.offset[lo:hi]
    pages = sgt.page if whole else sgt.page[lo:hi]
    iommu = kernel.platform.iommu
    if not iommu.translating:
        phys = list(map(add, pages, offsets))  # sg_phys
        # dma_direct_map_sg: each entry's bus address is its physical address, if the device
        # can reach it (dma_capable(); no swiotlb here). The highest byte any entry reaches,
        # max(phys + max(length, 1) - 1), is the larger of max(phys + length) - 1 and max(phys).
        if max(max(map(add, phys, lengths)) - 1, max(phys)) > dev.dma_mask:
            for i, (p, n) in enumerate(zip(phys, lengths, strict=True)):
                addr = _map_one(dev, p, n, direction)
                if addr == DMA_MAPPING_ERROR:  # undo the entries mapped before this one
                    for prev in range(lo, lo + i):
                        _unmap_one(dev, sgt.dma_address[prev], sgt.dma_length[prev],
                                   direction)
                    return 0
                sgt.dma_address[lo + i], sgt.dma_length[lo + i] = addr, n
        dev.mappings.update(
            zip(phys, zip(phys, lengths, [direction] * nents, strict=True), strict=True))
        sgt.dma_address[lo:hi] = phys
        sgt.dma_length[lo:hi] = lengths
        return nents
    offs = _int64_array(offsets)
    lens = _int64_array(lengths)
    iovas = iommu.map_sg(dev.name, np.array(pages, np.int64) + offs, lens,
                         writable=direction != DMA_TO_DEVICE)
    seg_addr, seg_len = __finalise_sg(iovas, lens, offs, dev.max_segment_size,
                                      dev.seg_boundary_mask)
    nsegs = len(seg_addr)
    sgt.dma_address[lo:hi] = seg_addr + [0] * (nents - nsegs)
    sgt.dma_length[lo:hi] = seg_len + [0] * (nents - nsegs)
    dev.mappings.update(
        zip(seg_addr, zip([-1] * nsegs, seg_len, [direction] * nsegs, strict=True),
            strict=True))
    return nsegs


def dma_unmap_sg_attrs(
    dev: Device, sgl: Scatterlist | None, nents: int, direction: int, attrs: int = 0
) -> None:
    """``dma_unmap_sg_attrs``: ``nents`` here is the count passed to map (orig_nents); every
    entry with a DMA length is one segment to unmap (dma-debug checks each), and the IOMMU
    clears the segments' IOVA pages (``iommu_dma_unmap_sg``: one contiguous IOVA range)."""
    kernel = dev.kernel
    charge_ns(kernel, kernel.platform.preset.host.dma_map_ns, "dma_unmap_sg")
    charge_op(kernel, "dma_map_sg_entry", nents)
    dev.unmap_calls += 1
    if sgl is None:  # an empty table
        return
    sgt, lo = sgl
    hi = lo + nents
    seg_len = sgt.dma_length[lo:hi]
    segs = compress(zip(sgt.dma_address[lo:hi], seg_len, strict=True), seg_len)
    unmapped = []
    pop = dev.mappings.pop
    for addr, size in segs:
        entry = pop(addr, None)
        if entry is None or entry[1] != size or entry[2] != direction:
            _check_unmap(dev, addr, size, direction, entry)
            if entry is None:
                continue
        unmapped.append((addr, entry[1]))
    kernel.platform.iommu.unmap_many(dev.name, unmapped)


def dma_map_sgtable(dev: Device, sgt: SgTable, direction: int, attrs: int = 0) -> int:
    """``dma_map_sgtable``: 0 with ``sgt.nents`` set, or -EINVAL / -ENOMEM."""
    if sgt.orig_nents <= 0:
        return -EINVAL
    sgl = sgt.sgl
    assert sgl is not None
    nents = dma_map_sg_attrs(dev, sgl, sgt.orig_nents, direction, attrs)
    if nents <= 0:
        return -ENOMEM
    sgt.nents = nents
    return 0


def dma_unmap_sgtable(dev: Device, sgt: SgTable, direction: int, attrs: int = 0) -> None:
    """``dma_unmap_sgtable``."""
    dma_unmap_sg_attrs(dev, sgt.sgl, sgt.orig_nents, direction, attrs)


def get_order(size: int) -> int:
    """``get_order``: smallest order with 2^order pages >= size."""
    order = 0
    while (PAGE_SIZE << order) < size:
        order += 1
    return order


def dma_alloc_coherent(dev: Device, size: int) -> tuple[int | None, int]:
    """``dma_alloc_coherent``: zeroed, page aligned memory on the device's node.

    Returns ``(cpu_addr, dma_handle)``; ``cpu_addr`` is the physical address the CPU uses
    through ``kernel.mem`` (no virtual memory in the port), ``(None, 0)`` on failure.
    """
    kernel = dev.kernel
    order = get_order(size)
    try:
        phys = kernel.platform.alloc_pages(dev.node, order)
    except OutOfMemory:
        return None, 0
    nbytes = PAGE_SIZE << order
    kernel.mem.fill(phys, nbytes, 0)
    addr = _map_one(dev, phys, nbytes, DMA_BIDIRECTIONAL)
    if addr == DMA_MAPPING_ERROR:
        kernel.platform.free_pages(phys, order)
        return None, 0
    return phys, addr


def dma_free_coherent(dev: Device, size: int, cpu_addr: int, dma_handle: int) -> None:
    """``dma_free_coherent``."""
    order = get_order(size)
    _unmap_one(dev, dma_handle, PAGE_SIZE << order, DMA_BIDIRECTIONAL)
    dev.kernel.platform.free_pages(cpu_addr, order)
