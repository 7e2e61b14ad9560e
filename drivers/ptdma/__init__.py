"""AMD PTDMA driver (ptdma-dev.c, ptdma-dmaengine.c, ptdma-pci.c), ported."""
