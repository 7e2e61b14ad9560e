"""Tests of the DMA driver stack: dmaengine, DMA mapping, PTDMA, dmatest, DCBM."""
