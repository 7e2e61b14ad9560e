"""Event kernel: ordering, cancellation, run bounds, processes, determinism."""

from __future__ import annotations

import pytest

from emulator.event_kernel import NS, US, SimulationError, Simulator
from emulator.sync import Completion, Mutex, WaitQueue


def test_events_run_in_time_priority_sequence_order() -> None:
    sim = Simulator()
    seen: list[str] = []
    sim.schedule(10, seen.append, "t10")
    sim.schedule(5, seen.append, "t5-prio1", priority=1)
    sim.schedule(5, seen.append, "t5-prio0-first")
    sim.schedule(5, seen.append, "t5-prio0-second")
    sim.schedule(0, seen.append, "t0")
    assert sim.run() == 5
    assert seen == ["t0", "t5-prio0-first", "t5-prio0-second", "t5-prio1", "t10"]
    assert sim.now == 10


def test_cancelled_event_never_runs() -> None:
    sim = Simulator()
    seen: list[int] = []
    ev = sim.schedule(5, seen.append, 1)
    sim.schedule(6, seen.append, 2)
    ev.cancel()
    sim.run()
    assert seen == [2]


def test_run_until_time_stops_at_the_bound_and_resumes() -> None:
    sim = Simulator()
    seen: list[int] = []
    for t in (1, 2, 3, 4):
        sim.schedule(t * NS, seen.append, t)
    sim.run(until=2 * NS)
    assert seen == [1, 2] and sim.now == 2 * NS
    sim.run(until=10 * NS)
    assert seen == [1, 2, 3, 4] and sim.now == 10 * NS  # the clock reaches the bound


def test_run_until_condition() -> None:
    sim = Simulator()
    box = {"n": 0}

    def tick() -> None:
        box["n"] += 1
        sim.schedule(NS, tick)

    sim.schedule(0, tick)
    assert sim.run_until(lambda: box["n"] == 7)
    assert box["n"] == 7 and sim.now == 6 * NS
    assert not sim.run_until(lambda: False, timeout=5 * NS)


def test_scheduling_in_the_past_is_an_error() -> None:
    sim = Simulator()
    sim.run(until=100)
    with pytest.raises(SimulationError):
        sim.schedule_at(50, lambda: None)
    with pytest.raises(SimulationError):
        sim.schedule(-1, lambda: None)


def test_process_sleeps_in_simulated_time_and_interleaves() -> None:
    sim = Simulator()
    log: list[tuple[int, str]] = []

    def worker(name: str, period: int, n: int) -> str:
        for _ in range(n):
            sim.sleep(period)
            log.append((sim.now, name))
        return name.upper()

    a = sim.spawn(worker, "a", 3 * NS, 3)
    b = sim.spawn(worker, "b", 2 * NS, 4)
    sim.run()
    assert log == [
        (2 * NS, "b"),
        (3 * NS, "a"),
        (4 * NS, "b"),
        (6 * NS, "a"),
        (6 * NS, "b"),
        (8 * NS, "b"),
        (9 * NS, "a"),
    ] or log == [
        (2 * NS, "b"),
        (3 * NS, "a"),
        (4 * NS, "b"),
        (6 * NS, "b"),
        (6 * NS, "a"),
        (8 * NS, "b"),
        (9 * NS, "a"),
    ]
    assert a.result == "A" and b.result == "B" and a.finished and b.finished


def test_fast_forward_never_skips_a_due_event() -> None:
    sim = Simulator()
    log: list[tuple[int, str]] = []
    sim.schedule(5 * NS, lambda: log.append((sim.now, "event")))

    def proc() -> None:
        sim.sleep(10 * NS)  # must not jump over the event at 5 ns
        log.append((sim.now, "proc"))

    sim.spawn(proc)
    sim.run()
    assert log == [(5 * NS, "event"), (10 * NS, "proc")]
    assert sim.fast_forwards == 0

    sim2 = Simulator()

    def lone() -> None:
        for _ in range(100):
            sim2.sleep(NS)

    sim2.spawn(lone)
    sim2.run()
    assert sim2.now == 100 * NS and sim2.fast_forwards == 100


def test_blocking_outside_a_process_is_an_error() -> None:
    sim = Simulator()
    with pytest.raises(SimulationError):
        sim.sleep(1)


def test_exception_in_a_process_stops_the_run() -> None:
    sim = Simulator()

    def bad() -> None:
        sim.sleep(NS)
        raise ValueError("boom")

    sim.spawn(bad)
    with pytest.raises(ValueError, match="boom"):
        sim.run()


def test_direct_hand_offs_give_the_loops_order() -> None:
    """Overlapping processes (each wait resumes another, as 16 MSI handlers do) run in
    exactly the order and at exactly the times of the plain loop (``max_events`` turns
    the direct hand-offs off), with device callbacks and ties in between."""

    handoffs: list[int] = []

    def trace(direct: bool) -> list[tuple[int, str, int]]:
        sim = Simulator()
        seen: list[tuple[int, str, int]] = []

        def handler(k: int) -> None:
            for step in range(6):
                seen.append((sim.now, f"p{k}", step))
                sim.sleep((150 + 37 * k + 11 * step) * NS % (400 * NS) + NS)

        def device(k: int) -> None:
            seen.append((sim.now, "dev", k))

        for k in range(5):
            sim.spawn(handler, k, delay=k * 3 * NS)
            sim.schedule(k * 200 * NS, device, k)
            sim.schedule(k * 200 * NS, device, 10 + k)  # a tie with the one before
        if direct:
            sim.run()
        else:
            sim.run(max_events=10**6)
        handoffs.append(sim._handoffs)
        return seen

    fast, plain = trace(True), trace(False)
    assert fast == plain and len(fast) == 5 * 6 + 10
    assert handoffs[0] > 10 and handoffs[1] == 0  # the hand-offs did run, then did not


def test_ended_processes_greenlets_are_reused() -> None:
    """A new process runs on a pooled greenlet of an ended one (no greenlet, with its
    host data stack, per MSI delivery); the pool grows only to the processes alive at
    once, and a process that failed leaves a usable greenlet behind."""
    sim = Simulator()
    ran: list[tuple[int, int]] = []

    def job(k: int) -> None:
        sim.sleep(10 * NS)
        ran.append((k, sim.now))

    def spawner() -> None:
        for k in range(50):
            sim.spawn(job, k)
            sim.sleep(100 * NS)  # each job ends before the next starts

    sim.spawn(spawner)
    sim.run()
    assert ran == [(k, k * 100 * NS + 10 * NS) for k in range(50)]
    assert len(sim._pool) == 2  # the spawner's greenlet and one for all 50 jobs

    def boom() -> None:
        sim.sleep(NS)
        raise ValueError("boom")

    sim.spawn(boom)
    with pytest.raises(ValueError, match="boom"):
        sim.run()
    assert len(sim._pool) == 2 and not any(g.dead for g in sim._pool)
    sim.spawn(job, 99)
    sim.run()
    assert ran[-1][0] == 99


def test_join_returns_and_reraises() -> None:
    sim = Simulator()

    def child() -> None:
        sim.sleep(5 * NS)
        raise KeyError("child failed")

    def parent() -> str:
        c = sim.spawn(child)
        try:
            c.join()
        except KeyError:
            return f"caught at {sim.now}"
        return "not raised"

    p = sim.spawn(parent)
    sim.run()
    assert p.result == f"caught at {5 * NS}"


def test_waitqueue_timeout_and_wakeup() -> None:
    sim = Simulator()
    wq = WaitQueue(sim)
    results: list[tuple[str, bool, int]] = []

    def waiter(name: str, timeout: int) -> None:
        ok = wq.wait(timeout)
        results.append((name, ok, sim.now))

    sim.spawn(waiter, "short", 2 * US)
    sim.spawn(waiter, "long", 10 * US)
    sim.schedule(5 * US, wq.wake_all)
    sim.run()
    assert ("short", False, 2 * US) in results
    assert ("long", True, 5 * US) in results


def test_late_wakeup_cannot_resume_a_process_in_a_later_wait() -> None:
    sim = Simulator()
    wq1, wq2 = WaitQueue(sim), WaitQueue(sim)
    log: list[tuple[str, bool, int]] = []

    def proc() -> None:
        log.append(("first", wq1.wait(1 * US), sim.now))  # times out at 1 us
        log.append(("second", wq2.wait(10 * US), sim.now))

    sim.spawn(proc)
    sim.schedule(1 * US, wq1.wake_all)  # same instant as the timeout, scheduled later
    sim.schedule(3 * US, wq2.wake_all)
    sim.run()
    assert log[1] == ("second", True, 3 * US)


def test_completion_semantics() -> None:
    sim = Simulator()
    done = Completion(sim)
    out: list[int] = []

    def waiter() -> None:
        out.append(done.wait_for_completion_timeout(10 * US))
        out.append(done.wait_for_completion_timeout(1 * US))  # nothing left: times out

    sim.spawn(waiter)
    sim.schedule(4 * US, done.complete)
    sim.run()
    assert out == [6 * US, 0]
    done.complete()
    assert done.try_wait_for_completion() and not done.try_wait_for_completion()


def test_mutex_trylock_and_fifo_handoff() -> None:
    sim = Simulator()
    m = Mutex(sim)
    order: list[str] = []

    def user(name: str, hold: int) -> None:
        m.lock()
        order.append(name)
        sim.sleep(hold)
        m.unlock()

    sim.spawn(user, "a", 5 * NS)
    sim.spawn(user, "b", 1 * NS)
    sim.spawn(user, "c", 1 * NS)
    sim.run()
    assert order == ["a", "b", "c"]
    assert m.trylock() and not m.trylock()
    m.unlock()
    with pytest.raises(RuntimeError):
        m.unlock()


def _random_workload(seed: int) -> list[tuple[int, int]]:
    sim = Simulator(seed)
    log: list[tuple[int, int]] = []

    def worker(i: int) -> None:
        for _ in range(20):
            sim.sleep(int(sim.rng.integers(1, 1000)))
            log.append((sim.now, i))

    for i in range(5):
        sim.spawn(worker, i)
    sim.run()
    return log


def test_same_seed_same_run_different_seed_different_run() -> None:
    assert _random_workload(7) == _random_workload(7)
    assert _random_workload(7) != _random_workload(8)
