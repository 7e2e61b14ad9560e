"""DCBM, the DMA Core Batch Migrator (seed v1, RFC v3 and latest forms), ported."""
