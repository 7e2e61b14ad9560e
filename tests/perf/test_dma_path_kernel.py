"""Fast paths of the DMA completion path in the event kernel and the interrupt controller.

Both must compute exactly what the general path computes: a process handing the CPU
straight to the next process (``Simulator._switch_out``) runs the events the loop would run,
in its order and at its times; an MSI handler delivered in its line's parked thread runs
when and where a freshly spawned handler process would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulator.event_kernel import NS, Simulator
from emulator.interrupts import InterruptController
from emulator.presets import InterruptParams
from emulator.sync import Completion, WaitQueue


def _workload(sim: Simulator, log: list[tuple[int, str]]) -> None:
    """Processes that sleep, wait, wake each other, spawn and end, with device-like
    callbacks and cancelled events in between (every kind of heap entry)."""
    rng = sim.rng
    wq = WaitQueue(sim, "wq")
    done = Completion(sim, "done")

    def worker(k: int) -> None:
        for i in range(40):
            d = int(rng.integers(0, 5)) * 50 * NS  # equal times happen often
            sim.sleep(d)
            log.append((sim.now, f"w{k}.{i}"))
            if i % 7 == k % 7:
                wq.wake_one()
            if i % 11 == 3:
                wq.wait(300 * NS)
                log.append((sim.now, f"w{k}.woke{i}"))
            if i % 13 == 5:
                sim.yield_now()
            if i % 17 == 2:
                sim.spawn(child, k, i, delay=int(rng.integers(0, 3)) * 100 * NS)
        done.complete()

    def child(k: int, i: int) -> None:
        sim.sleep(70 * NS)
        log.append((sim.now, f"c{k}.{i}"))

    def tick(n: int) -> None:
        log.append((sim.now, f"tick{n}"))
        ev = sim.schedule(25 * NS, tick_never, n)
        if n % 2:
            ev.cancel()
        if n < 60:
            sim.schedule(int(rng.integers(1, 4)) * 100 * NS, tick, n + 1)

    def tick_never(n: int) -> None:
        log.append((sim.now, f"late{n}"))

    for k in range(6):
        sim.spawn(worker, k, core=k)
    sim.schedule(0, tick, 0)


def _run(direct: bool, until: int | None = None) -> tuple[list[tuple[int, str]], int, int]:
    sim = Simulator(7)
    log: list[tuple[int, str]] = []
    _workload(sim, log)
    cond: Callable[[], bool] | None = None if direct else (lambda: False)
    n = sim.run(until=until, condition=cond)
    return log, n, sim.events_processed


@pytest.mark.parametrize("until", [None, 3000 * NS])
def test_hand_off_runs_the_loops_events_in_its_order(until: int | None) -> None:
    """A condition that never holds turns the hand-offs off (the loop runs every event)."""
    fast = _run(True, until)
    slow = _run(False, until)
    assert fast == slow
    assert len(fast[0]) > 150


def test_hand_offs_happen_and_are_counted() -> None:
    sim = Simulator(0)

    def p(k: int) -> None:
        for _ in range(50):
            sim.sleep(100 * NS + k)

    for k in range(4):
        sim.spawn(p, k)
    n = sim.run()
    assert sim._handoffs > 100
    assert n == sim.events_processed


def test_an_exception_after_a_hand_off_still_stops_the_run() -> None:
    sim = Simulator(0)

    def sleeper() -> None:
        for _ in range(10):
            sim.sleep(10 * NS)

    def failing() -> None:
        sim.sleep(25 * NS)
        raise ValueError("boom")

    sim.spawn(sleeper)
    sim.spawn(failing)
    with pytest.raises(ValueError, match="boom"):
        sim.run()


def _controller(sim: Simulator) -> InterruptController:
    return InterruptController(sim, InterruptParams(msi_to_handler_ns=1000.0,
                                                    handler_software_ns=200.0))


def _deliveries(reuse: bool) -> tuple[list[tuple[int, str, int, bool, Any]], int, list[int]]:
    """MSIs of one device through the controller; ``reuse=False`` schedules each delivery
    as a new process, the general path the line's parked thread stands for."""
    sim = Simulator(0)
    irq = _controller(sim)
    v = irq.allocate_vector("dev")
    seen: list[tuple[int, str, int, bool, Any]] = []

    def handler(vector: int, dev: Any) -> None:
        proc = sim.current
        assert proc is not None
        seen.append((sim.now, proc.name, proc.core, proc.data.get("in_irq", False),
                     proc.data.get("x")))
        proc.data["x"] = 1
        sim.sleep(300 * NS)

    irq.request_irq(v, handler, "dev", None, core=3)
    if not reuse:
        def spawn_each(line: Any) -> None:
            line.in_flight = True
            sim.spawn(irq._deliver, line, name=f"irq{line.vector}:{line.name}",
                      core=line.core, delay=int(irq.params.msi_to_handler_ns * NS))

        irq._schedule = spawn_each  # type: ignore[method-assign]

    def device() -> None:
        for d in (0, 100, 100, 5000, 10):
            sim.sleep(d * NS)
            irq.raise_msi(v)

    sim.spawn(device)
    sim.run()
    return seen, irq.lines[v].delivered, irq.lines[v].times


def test_msi_deliveries_match_fresh_handler_processes() -> None:
    """Times, cores, fresh per-process data and coalescing as with one process per MSI."""
    fast = _deliveries(True)
    assert fast == _deliveries(False)
    assert fast[1] == 4  # one edge coalesced while the handler ran


def test_msi_thread_follows_the_lines_core_and_survives_a_failing_handler() -> None:
    sim = Simulator(0)
    irq = _controller(sim)
    v = irq.allocate_vector("dev")
    calls: list[tuple[int, int]] = []

    def handler(vector: int, dev: Any) -> None:
        proc = sim.current
        assert proc is not None
        calls.append((sim.now, proc.core))
        if len(calls) == 2:
            raise RuntimeError("handler bug")

    irq.request_irq(v, handler, "dev", None, core=1)
    irq.raise_msi(v)
    sim.run()
    first = irq.lines[v].thread
    irq.raise_msi(v)
    with pytest.raises(RuntimeError, match="handler bug"):
        sim.run()
    irq.lines[v].in_flight = False  # the failed handler never returned
    irq.free_irq(v)
    irq.request_irq(v, handler, "dev", None, core=2)
    irq.raise_msi(v)
    sim.run()
    assert irq.lines[v].thread is not first
    assert [c for _, c in calls] == [1, 1, 2]
