"""RTL simulation speed for ``dcbm-emu bench``: cycles per wall-clock second of a counter top.

A 32-bit counter clocked by an HDL clock (``always #5 clk = ~clk``, 10 ns) is built with
cocotb's Python runner (toolchain.md §4) on Icarus (and Verilator when it is installed);
the cocotb test measures two rates: the design free-running under one ``Timer`` (the
simulator's own speed) and a Python coroutine awaiting every rising edge (the cost of
cocotb's scheduler, the bound for per-cycle Python testbenches, toolchain.md §5). The
figures are written as JSON to ``$BENCH_RTL_OUT`` by the test and read back by the bench.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUILD_ROOT = ROOT / "build" / "bench"
TOPLEVEL = "bench_counter"
CLOCK_PERIOD_NS = 10

COUNTER_V = """\
`timescale 1ns/1ps
// dcbm-emu bench: a free-running 32-bit counter with its clock generated in HDL.
module bench_counter (
    output reg clk,
    output reg [31:0] count
);
  initial begin
    clk = 1'b0;
    count = 32'd0;
  end
  always #5 clk = ~clk;
  always @(posedge clk) count <= count + 32'd1;
endmodule
"""


def _count(dut: Any) -> int:
    return int(dut.count.value)


try:  # the cocotb test (collected only when the simulator imports this module)
    import cocotb
    from cocotb.triggers import RisingEdge, Timer

    @cocotb.test()
    async def rate(dut: Any) -> None:
        """Free-running and per-edge cycles per second of wall time."""
        free_cycles = int(os.environ.get("BENCH_RTL_FREE_CYCLES", "2000000"))
        edge_cycles = int(os.environ.get("BENCH_RTL_EDGE_CYCLES", "100000"))
        await Timer(CLOCK_PERIOD_NS * 4, unit="ns")
        c0 = _count(dut)
        t0 = time.perf_counter()
        await Timer(CLOCK_PERIOD_NS * free_cycles, unit="ns")
        free_wall = time.perf_counter() - t0
        free = _count(dut) - c0
        c0 = _count(dut)
        t0 = time.perf_counter()
        for _ in range(edge_cycles):
            await RisingEdge(dut.clk)
        edge_wall = time.perf_counter() - t0
        edge = _count(dut) - c0
        out = os.environ.get("BENCH_RTL_OUT")
        if out:
            Path(out).write_text(json.dumps({
                "free_cycles": free, "free_wall_s": free_wall,
                "edge_cycles": edge, "edge_wall_s": edge_wall,
            }))
        assert free > 0 and edge > 0

except ImportError:  # pragma: no cover - cocotb is a pinned dependency
    pass


def available(sim: str) -> bool:
    """True when the simulator's executable is on PATH."""
    return shutil.which("iverilog" if sim == "icarus" else "verilator") is not None


def measure(sim: str = "icarus", free_cycles: int = 2_000_000,
            edge_cycles: int = 100_000) -> dict[str, float]:
    """Build and run the counter on ``sim``; cycles/s free-running and per awaited edge."""
    from cocotb_tools.runner import get_runner

    build_dir = BUILD_ROOT / f"counter-{sim}"
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / "bench_counter.v"
    src.write_text(COUNTER_V)
    out = build_dir / "rate.json"
    out.unlink(missing_ok=True)
    if str(ROOT) not in sys.path:  # the runner exports sys.path to the simulator's Python
        sys.path.insert(0, str(ROOT))
    runner = get_runner(sim)
    t0 = time.perf_counter()
    runner.build(
        sources=[src],
        hdl_toplevel=TOPLEVEL,
        build_dir=build_dir,
        build_args=["-Wno-fatal", "--timing"] if sim == "verilator" else [],
        timescale=("1ns", "1ps"),
        always=True,
    )
    build_s = time.perf_counter() - t0
    env = {
        "BENCH_RTL_OUT": str(out),
        "BENCH_RTL_FREE_CYCLES": str(free_cycles),
        "BENCH_RTL_EDGE_CYCLES": str(edge_cycles),
        "COCOTB_LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    t0 = time.perf_counter()
    # The runner exits on failure; the missing output file says so below.
    with contextlib.suppress(SystemExit):
        runner.test(
            test_module="emulator.experiments.bench_rtl",
            hdl_toplevel=TOPLEVEL,
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env=env,
            results_xml=str(build_dir / "results.xml"),
        )
    run_s = time.perf_counter() - t0
    if not out.exists():
        raise RuntimeError(f"{sim}: the counter test wrote no result (see {build_dir})")
    r = json.loads(out.read_text())
    return {
        "free_cycles_per_s": r["free_cycles"] / r["free_wall_s"],
        "edge_cycles_per_s": r["edge_cycles"] / r["edge_wall_s"],
        "build_s": build_s,
        "run_s": run_s,
    }
