"""Clock domains and preset overrides."""

from __future__ import annotations

import pytest

from emulator.clock import ClockDomain
from emulator.platform import Platform
from emulator.presets import get_preset


def test_clock_conversions() -> None:
    cpu = ClockDomain("cpu", 2_000_000_000)
    dev = ClockDomain("dev", 1_000_000_000)
    assert cpu.period_ps == 500 and dev.period_ps == 1000
    assert cpu.cycles_to_ps(3) == 1500 and cpu.ps_to_cycles(1500) == 3
    assert dev.cycle_at(2500) == 2 and dev.next_edge(2500) == 3000 and dev.next_edge(3000) == 3000


def test_preset_replace_and_platform_overrides() -> None:
    p = get_preset()
    q = p.replace(dma__engine_cap_gbps=16.0, cpu_op_cycles__lru_add=1)
    assert q.dma.engine_cap_gbps == 16.0 and p.dma.engine_cap_gbps == 12.5
    assert q.cpu_op_cycles["lru_add"] == 1 and p.cpu_op_cycles["lru_add"] != 1
    plat = Platform(mmio__read_round_trip_ns=500.0)
    assert plat.preset.mmio.read_round_trip_ns == 500.0
    with pytest.raises(ValueError):
        get_preset("no-such-box")
    assert plat.engine_node(0) == 0 and plat.engine_node(15) == 1
    assert plat.engine_mmio_base(1) - plat.engine_mmio_base(0) == 0x10000


def test_jitter_is_seeded_and_bounded() -> None:
    a = Platform(seed=5, jitter=True).preset
    b = Platform(seed=5, jitter=True).preset
    c = Platform(seed=6, jitter=True).preset
    base = get_preset()
    assert a == b and a != c
    assert a.memory.read_latency_local_ns != base.memory.read_latency_local_ns
    assert 0.5 <= a.mmio.read_round_trip_ns / base.mmio.read_round_trip_ns <= 2.0
    assert a.topology == base.topology and a.clocks == base.clocks  # sizes never jitter
    assert Platform(seed=5).preset == base
