"""PTDMA PCI probe/remove and a bus walk that binds every PTDMA function on the platform.

Port of ``drivers/dma/ptdma/ptdma-pci.c``. The driver reads only the device's PCI config
(``engine.pci``: BAR, MSI vector, NUMA node, DMA name) and then talks to it through MMIO,
shared memory and its MSI, never through the model's Python methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.dmaengine.dma_mapping import DMA_BIT_MASK, Device, dma_set_mask_and_coherent
from drivers.ptdma.ptdma import PciDevice, PtDevice, PtdmaDriver, PtdmaDriverConfig
from drivers.ptdma.ptdma_dev import pt_core_destroy, pt_core_init
from drivers.ptdma.ptdma_regs import PCI_DEVICE_ID_AMD_PTDMA, PCI_VENDOR_ID_AMD

if TYPE_CHECKING:
    from drivers.kernel import Kernel


def pt_pci_match(pci: object) -> bool:
    """The ``pt_pci_table`` match: vendor 0x1022, device 0x1498."""
    return (
        getattr(pci, "vendor", None) == PCI_VENDOR_ID_AMD
        and getattr(pci, "device", None) == PCI_DEVICE_ID_AMD_PTDMA
    )


def pt_pci_probe(
    kernel: Kernel, pci: PciDevice, config: PtdmaDriverConfig | None = None
) -> PtDevice | None:
    """``pt_pci_probe``: allocate the pt_device, set a 48-bit DMA mask, take the MSI vector
    and BAR, then ``pt_core_init``. Returns the device, or None if init failed."""
    drv = kernel.subsystem(PtdmaDriver)
    cfg = config if config is not None else drv.config
    dev = Device(kernel, pci.dma_name, pci.node)
    if dma_set_mask_and_coherent(dev, DMA_BIT_MASK(48)):
        dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32))
    pt = PtDevice(kernel, dev, pci, cfg)
    pt.ord = len(drv.devices)
    dev.driver_data = pt  # dev_set_drvdata
    ret = pt_core_init(pt)
    if ret:
        kernel.printk(f"{pci.name}: pt_core_init failed ({ret})")
        return None
    drv.devices.append(pt)
    kernel.printk(f"{pci.name}: PTDMA enabled, regs {pci.bar_base:#x}, irq {pci.msi_vector}, "
                  f"node {pci.node}")
    return pt


def pt_pci_remove(pt: PtDevice) -> None:
    """``pt_pci_remove`` -> ``pt_destroy`` -> ``pt_core_destroy``."""
    pt_core_destroy(pt)
    drv = pt.kernel.subsystem(PtdmaDriver)
    if pt in drv.devices:
        drv.devices.remove(pt)


def ptdma_probe_all(kernel: Kernel, config: PtdmaDriverConfig | None = None) -> list[PtDevice]:
    """Bind the driver to every PTDMA function in ``platform.devices``, in order.

    Call it inside a process (``platform.call(ptdma_probe_all, kernel)``) to account the
    init sequence's MMIO time; outside one the accesses are immediate.
    """
    drv = kernel.subsystem(PtdmaDriver)
    if config is not None:
        drv.config = config
    bound = {id(p.pci) for p in drv.devices}
    out: list[PtDevice] = []
    for device in kernel.platform.devices:
        pci = getattr(device, "pci", None)
        if pci is None or not pt_pci_match(pci) or id(pci) in bound:
            continue
        pt = pt_pci_probe(kernel, pci, drv.config)
        if pt is not None:
            out.append(pt)
    return out


def ptdma_remove_all(kernel: Kernel) -> None:
    """Unbind every PTDMA function (module exit)."""
    drv = kernel.subsystem(PtdmaDriver)
    for pt in list(drv.devices):
        pt_pci_remove(pt)
