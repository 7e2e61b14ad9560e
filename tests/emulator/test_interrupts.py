"""MSI delivery: latency, handler context, edge coalescing, masking."""

from __future__ import annotations

from emulator.event_kernel import NS, US
from emulator.platform import Platform


def test_msi_runs_handler_in_a_process_after_the_delivery_latency(platform: Platform) -> None:
    irq = platform.irq
    v = irq.allocate_vector("dev")
    seen: list[tuple[int, object, bool]] = []

    def handler(vector: int, dev_id: object) -> None:
        proc = platform.sim.current
        assert proc is not None
        seen.append((platform.sim.now, dev_id, proc.data.get("in_irq", False)))
        platform.sim.sleep(100 * NS)  # handlers may block (MMIO reads)

    assert irq.request_irq(v, handler, "dev", dev_id="cookie", core=3) == 0
    assert irq.request_irq(v, handler, "again") == -16  # -EBUSY
    platform.sim.schedule(2 * US, irq.raise_msi, v)
    platform.run()
    assert seen == [(3 * US, "cookie", True)]
    assert irq.lines[v].delivered == 1


def test_edges_during_the_handler_coalesce_into_one_more_delivery(platform: Platform) -> None:
    irq = platform.irq
    v = irq.allocate_vector()
    times: list[int] = []

    def handler(vector: int, dev_id: object) -> None:
        times.append(platform.sim.now)
        platform.sim.sleep(5 * US)

    irq.request_irq(v, handler)
    for t in (0, 2 * US, 3 * US, 4 * US):  # three edges while the first is in flight
        platform.sim.schedule(t, irq.raise_msi, v)
    platform.run()
    assert len(times) == 2 and irq.lines[v].raised == 4


def test_disabled_vector_stays_pending_and_unhandled_vector_is_spurious(platform: Platform) -> None:
    irq = platform.irq
    v = irq.allocate_vector()
    hits: list[int] = []
    irq.request_irq(v, lambda vec, d: hits.append(platform.sim.now))
    irq.disable_irq(v)
    irq.raise_msi(v)
    platform.run()
    assert hits == []
    irq.enable_irq(v)
    platform.run()
    assert len(hits) == 1
    w = irq.allocate_vector()
    irq.raise_msi(w)
    platform.run()
    assert irq.lines[w].spurious == 1
