"""Device callbacks run by a sleeping process (``Simulator._switch_out``) instead of the loop.

The process runs the next callback itself exactly as the loop would: same events, order
and times, ``sim.current`` None inside the callback, and a callback's exception raised out
of ``run()`` (not into the process), which stays parked and resumes on a later ``run()``.
The hand-offs are turned off by a condition that never holds (the loop runs every event).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.event_kernel import NS, Simulator


class _Boom(Exception):
    """The error a device callback raises."""


def _scenario(direct: bool) -> tuple[list[tuple[int, str]], list[str], int]:
    """Two processes sleeping around device callbacks, one of which raises once."""
    sim = Simulator(3)
    log: list[tuple[int, str]] = []
    errors: list[str] = []

    def proc(k: int) -> None:
        for i in range(30):
            try:
                sim.sleep((k + 1) * 40 * NS)
            except _Boom:  # a callback's error must never land in a process
                log.append((sim.now, f"p{k} caught"))
            log.append((sim.now, f"p{k}.{i}"))

    def dev(n: int) -> None:
        log.append((sim.now, f"dev{n} current={sim.current is None}"))
        if n == 7:
            raise _Boom(n)
        if n < 25:
            sim.schedule(55 * NS, dev, n + 1)

    sim.spawn(proc, 0)
    sim.spawn(proc, 1, core=1)
    sim.schedule(10 * NS, dev, 0)
    cond: Callable[[], bool] | None = None if direct else (lambda: False)
    for _ in range(3):  # the run that sees the error, then the rest
        try:
            sim.run(condition=cond)
        except _Boom as exc:
            errors.append(f"{sim.now}:{exc}")
    return log, errors, sim.events_processed


def test_callbacks_in_a_process_match_the_loop() -> None:
    fast = _scenario(True)
    slow = _scenario(False)
    assert fast == slow
    log, errors, _ = fast
    assert len(errors) == 1
    assert not [e for e in log if "caught" in e[1] or "current=False" in e[1]]
    assert (log[-1][1], sum(1 for e in log if e[1].startswith("p"))) == ("p1.29", 60)


@pytest.mark.parametrize("direct", [True, False])
def test_callback_error_leaves_the_process_resumable(direct: bool) -> None:
    log, errors, _ = _scenario(direct)
    assert errors and any(e[1] == "p0.29" for e in log)
