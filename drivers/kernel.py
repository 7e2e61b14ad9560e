"""The emulated kernel: one instance per platform, holding each subsystem's state.

The C code keeps subsystem state in globals; the ports keep it here so several platforms
can live in one Python process. Subsystems attach themselves with ``subsystem(cls)``,
which builds ``cls(kernel)`` once and returns the same instance afterwards.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from emulator.platform import Platform

T = TypeVar("T")


class Kernel:
    """Per-platform kernel context: the platform plus lazily built subsystems."""

    def __init__(self, platform: Platform, release: str = "6.8") -> None:
        self.platform = platform
        # The kernel release decides the CPU cost of its operations (presets.KERNEL_OP_CYCLES):
        # "6.8" for the seed's runs, "6.16" for RFC v3's.
        self.release = release
        platform.cpu.op_cycles.update(platform.preset.op_cycles_for(release))
        self.sim = platform.sim
        self.cpu = platform.cpu
        self.bus = platform.bus
        self.irq = platform.irq
        self.mem = platform.mem
        self._subsystems: dict[type[Any], Any] = {}
        self.log: list[tuple[int, str]] = []  # (time ps, message): the port's printk

    def subsystem(self, cls: type[T]) -> T:
        """The kernel's single instance of ``cls`` (constructed as ``cls(kernel)``)."""
        obj = self._subsystems.get(cls)
        if obj is None:
            obj = cast(Any, cls)(self)
            self._subsystems[cls] = obj
        return obj  # Any from the dict: no typing.cast call on this hot path

    def printk(self, msg: str) -> None:
        self.log.append((self.sim.now, msg))
