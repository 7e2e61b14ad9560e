"""Fast paths of the DMA completion path in the event kernel and the interrupt controller.

Both must compute exactly what the general path computes: a process handing the CPU
straight to the next process (``Simulator._switch_out``) runs the events the loop would run,
in its order and at its times.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.event_kernel import NS, Simulator
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
