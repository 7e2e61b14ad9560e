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

from typing import TYPE_CHECKING

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


def _unmap_one(dev: Device, addr: int, size: int, direction: int) -> None:
    entry = dev.mappings.pop(addr, None)
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


def dma_map_sg_attrs(
    dev: Device, sgl: list[Scatterlist], nents: int, direction: int, attrs: int = 0
) -> int:
    """``dma_map_sg_attrs``: map ``nents`` entries; returns the DMA segment count (0 = error).

    Translated IOMMU: all entries get consecutive IOVAs (one IOVA range, as
    ``iommu_dma_map_sg`` allocates), then entries are merged while the IOVAs are
    contiguous, the joint is page aligned, the segment stays within ``max_segment_size``
    and does not cross the segment boundary (``__finalise_sg``). Otherwise one segment per
    entry (dma-direct).
    """
    kernel = dev.kernel
    charge_ns(kernel, kernel.platform.preset.host.dma_map_ns, "dma_map_sg")
    charge_op(kernel, "dma_map_sg_entry", nents)
    dev.map_calls += 1
    entries = sgl[:nents]
    iommu = kernel.platform.iommu
    if not iommu.translating:
        for i, sg in enumerate(entries):
            addr = _map_one(dev, sg.phys(), sg.length, direction)
            if addr == DMA_MAPPING_ERROR:
                for prev in entries[:i]:
                    _unmap_one(dev, prev.dma_address, prev.dma_length, direction)
                return 0
            sg.dma_address, sg.dma_length = addr, sg.length
        return len(entries)
    iovas = [
        iommu.map(dev.name, sg.phys(), sg.length, writable=direction != DMA_TO_DEVICE)
        for sg in entries
    ]
    segs: list[tuple[int, int]] = []
    cur_iova, cur_len = iovas[0], entries[0].length
    max_len = dev.max_segment_size
    bmask = dev.seg_boundary_mask
    for sg, iova in zip(entries[1:], iovas[1:], strict=True):
        end = cur_iova + cur_len
        can_merge = (
            iova == end
            and end % PAGE_SIZE == 0
            and sg.offset % PAGE_SIZE == 0
            and cur_len + sg.length <= max_len
            and (cur_iova | bmask) == ((end + sg.length - 1) | bmask)
        )
        if can_merge:
            cur_len += sg.length
        else:
            segs.append((cur_iova, cur_len))
            cur_iova, cur_len = iova, sg.length
    segs.append((cur_iova, cur_len))
    for sg in entries:
        sg.dma_address, sg.dma_length = 0, 0
    for sg, (iova, length) in zip(entries, segs, strict=False):
        sg.dma_address, sg.dma_length = iova, length
        dev.mappings[iova] = (-1, length, direction)
    return len(segs)


def dma_unmap_sg_attrs(
    dev: Device, sgl: list[Scatterlist], nents: int, direction: int, attrs: int = 0
) -> None:
    """``dma_unmap_sg_attrs``: ``nents`` here is the count passed to map (orig_nents)."""
    kernel = dev.kernel
    charge_ns(kernel, kernel.platform.preset.host.dma_map_ns, "dma_unmap_sg")
    charge_op(kernel, "dma_map_sg_entry", nents)
    dev.unmap_calls += 1
    for sg in sgl[:nents]:
        if sg.dma_length:
            _unmap_one(dev, sg.dma_address, sg.dma_length, direction)


def dma_map_sgtable(dev: Device, sgt: SgTable, direction: int, attrs: int = 0) -> int:
    """``dma_map_sgtable``: 0 with ``sgt.nents`` set, or -EINVAL / -ENOMEM."""
    if sgt.orig_nents <= 0:
        return -EINVAL
    nents = dma_map_sg_attrs(dev, sgt.entries, sgt.orig_nents, direction, attrs)
    if nents <= 0:
        return -ENOMEM
    sgt.nents = nents
    return 0


def dma_unmap_sgtable(dev: Device, sgt: SgTable, direction: int, attrs: int = 0) -> None:
    """``dma_unmap_sgtable``."""
    dma_unmap_sg_attrs(dev, sgt.entries, sgt.orig_nents, direction, attrs)


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
