"""The platform: one event kernel, NUMA memory, MMIO bus, MSI controller, CPUs and IOMMU.

``Platform("zen3-epyc-2s")`` builds everything from a preset (``emulator.presets``); devices
(the PTDMA engines in ``hdl_model``) attach to it through its bus, its interrupt controller
and a ``DmaPort`` each, and software runs on it as processes (``spawn``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .bus import MmioBus
from .clock import ClockDomain
from .cpu import CpuModel
from .dma_port import DmaPort
from .event_kernel import Process, Simulator
from .frame_allocator import MAX_ORDER, PAGE_SIZE, FrameAllocator
from .interrupts import InterruptController
from .iommu import Iommu
from .memory import PhysicalMemory
from .numa_timing import NumaTiming
from .presets import PlatformPreset, get_preset

if TYPE_CHECKING:
    from .tracing import Tracer

LOW_RESERVED = PAGE_SIZE << MAX_ORDER  # node 0's first 2 MiB is never handed out (no PA 0)


class Platform:
    """A complete emulated machine, deterministic for a given ``seed``."""

    def __init__(
        self,
        preset: PlatformPreset | str = "zen3-epyc-2s",
        *,
        seed: int = 0,
        iommu_mode: str = "off",
        jitter: bool = False,
        **overrides: Any,
    ) -> None:
        p = get_preset(preset) if isinstance(preset, str) else preset
        if overrides:
            p = p.replace(**overrides)
        self.sim = Simulator(seed)
        if jitter:  # one seeded draw of run-to-run variation (presets.JitterParams)
            p = p.perturbed(self.sim.rng)
        self.preset = p
        self.seed = seed
        self.cpu_clock = ClockDomain("cpu", p.clocks.cpu_freq_hz)
        self.device_clock = ClockDomain("device", p.clocks.device_freq_hz)
        topo = p.topology
        self.nr_nodes = topo.sockets
        self.mem = PhysicalMemory()
        self.frames: list[FrameAllocator] = []
        for n in range(self.nr_nodes):
            base = n * topo.node_size_bytes
            self.mem.add_node(base, topo.node_size_bytes)
            lo = LOW_RESERVED if base == 0 else 0
            frames = FrameAllocator(n, base + lo, topo.node_size_bytes - lo)
            # Fresh frames are about to be written: their host memory is faulted in on the
            # prefault thread while the emulator works on (emulator.host_backing).
            frames.on_fresh = self.mem.prefault
            self.frames.append(frames)
        self.timing = NumaTiming(p.memory, self.nr_nodes)
        self.bus = MmioBus(self.sim, self.mem, p.mmio)
        self.irq = InterruptController(self.sim, p.interrupts)
        self.iommu = Iommu(iommu_mode)
        self.cpu = CpuModel(
            self.sim, self.cpu_clock, topo, p.cpu_copy, p.cpu_op_cycles, self.mem, self.timing
        )
        self.devices: list[Any] = []
        # Set by emulator.tracing.Tracer.attach(); components emit spans when it is set.
        self.tracer: Tracer | None = None

    # ------------------------------------------------------------ topology
    def node_base(self, node: int) -> int:
        return self.mem.nodes[node].base

    def engine_mmio_base(self, engine: int) -> int:
        """MMIO window of DMA engine ``engine`` (ptdma-model §1: BASE + n x 0x1_0000)."""
        t = self.preset.topology
        if not 0 <= engine < t.dma_engine_slots:
            raise ValueError(f"engine {engine} outside 0..{t.dma_engine_slots - 1}")
        return t.mmio_base + engine * t.mmio_window

    def engine_node(self, engine: int) -> int:
        """NUMA node of DMA engine ``engine`` (its PCI device's node)."""
        return min(engine // self.preset.topology.dma_engines_per_node, self.nr_nodes - 1)

    def dma_port(self, device: str, node: int) -> DmaPort:
        return DmaPort(self.mem, self.iommu, device, node)

    # ------------------------------------------------------------ memory
    def alloc_pages(self, node: int, order: int = 0) -> int:
        return self.frames[node].alloc_pages(order)

    def free_pages(self, addr: int, order: int | None = None) -> None:
        self.frames[self.mem.node_of(addr)].free_pages_block(addr, order)

    # ------------------------------------------------------------ running software
    def spawn(
        self,
        fn: Callable[..., Any],
        *args: Any,
        core: int = 0,
        name: str | None = None,
        delay: int = 0,
    ) -> Process:
        return self.sim.spawn(fn, *args, core=core, name=name, delay=delay)

    def run(self, until: int | None = None, **kw: Any) -> int:
        return self.sim.run(until, **kw)

    def call(self, fn: Callable[..., Any], *args: Any, core: int = 0) -> Any:
        """Run ``fn(*args)`` as a process to completion and return its result."""
        proc = self.spawn(fn, *args, core=core)
        self.sim.run(until_finished=proc)
        if not proc.finished:
            raise RuntimeError(f"{proc} blocked forever (nothing left to run)")
        if proc.exception is not None:
            raise proc.exception
        return proc.result

    @property
    def now_ps(self) -> int:
        return self.sim.now

    def cpu_cycles(self, ps: int) -> float:
        return self.cpu_clock.ps_to_cycles(ps)
