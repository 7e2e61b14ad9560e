"""The DMA controller: PTDMA register map (one SystemRDL source), Python model, Verilog twin.

- ``ptdma.rdl`` -> ``regmap_gen`` -> ``generated/regmap.py`` (model table),
  ``drivers/ptdma/ptdma_regs.py`` (driver constants), ``generated/REGISTERS.md``;
- ``descriptor``: the 32-byte CCP-v5 descriptor codec and §5 validation;
- ``ptdma_engine.attach_ptdma(platform, n_engines, **config)``: the engines (``registers``,
  ``timing``, ``faults``, ``observe`` are its parts);
- ``rtl/``: the Verilog twin.
"""

# The engine's modules may be served compiled: install that finder first (emulator.accel).
import emulator as _emulator  # noqa: F401
