"""Linux dmaengine core, virt-dma, DMA mapping, scatterlists and dmatest, ported."""
