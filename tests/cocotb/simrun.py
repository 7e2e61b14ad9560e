"""Run a cocotb test module against the PTDMA twin through cocotb's Python runner.

``run_sim(name, module, ...)`` builds ``hdl_model/rtl/*.v`` with Icarus (``SIM=verilator``
for Verilator) into ``build/cocotb/<name>/`` (git-ignored), runs the cocotb module there,
parses the results XML and raises ``AssertionError`` naming every failing cocotb test (or a
missing/empty results file). ``WAVES=1`` records an FST of the whole design (the runner's
dump module on Icarus; ``--trace-fst`` on Verilator) next to the results.
"""

from __future__ import annotations

import os
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RTL_DIR = ROOT / "hdl_model" / "rtl"
BUILD_ROOT = ROOT / "build" / "cocotb"
RTL_SOURCES = ("ptdma_regs.v", "ptdma_axil_slave.v", "ptdma_engine.v", "ptdma_top.v")
TOPLEVEL = "ptdma_top"
TIMESCALE = ("1ns", "1ps")


@dataclass
class SimResult:
    """Outcome of one simulator run: cocotb test names, failures, the results file."""

    tests: list[str]
    failures: list[tuple[str, str]]
    results_xml: Path
    build_dir: Path


def preset_parameters(preset_name: str = "zen3-epyc-2s", data_w: int = 256) -> dict[str, object]:
    """Verilog parameters of the twin from the platform preset (one source for timing too).

    FETCH_EXTRA/DECODE/COMPLETION cycles, RD_SLOTS, the ring limit and the streaming cap in
    milli-bytes per device cycle come from ``preset.dma`` and ``preset.clocks``; MEM_LIMIT is
    the end of the platform's RAM (ILLEGAL_MEM_ADDR above it).
    """
    from emulator.presets import get_preset

    p = get_preset(preset_name)
    ghz = p.clocks.device_freq_hz / 1e9
    return {
        "DATA_W": data_w,
        "RD_SLOTS": p.dma.rd_slots,
        "MAX_RING_LOG2": p.dma.max_ring_log2,
        "TIMEBASE_PS": round(1e12 / p.clocks.device_freq_hz),
        "FETCH_EXTRA_CYCLES": round(p.dma.desc_fetch_extra_ns * ghz),
        "DECODE_CYCLES": p.dma.decode_cycles,
        "COMPLETION_CYCLES": p.dma.completion_cycles,
        "GATE_IDLE_CYCLES": round(p.dma.clock_gate_idle_ns * ghz),
        "UNGATE_CYCLES": round(p.dma.clock_ungate_ns * ghz),
        "CAP_MBPC": round(p.dma.engine_cap_gbps / ghz * 1000),
        "MEM_LIMIT": f"48'h{p.topology.sockets * p.topology.node_size_bytes:X}",
    }


def datapath_cap_gbps(data_w: int, preset_name: str = "zen3-epyc-2s") -> float:
    """The twin's streaming limit: min(preset cap, one beat per device cycle)."""
    from emulator.presets import get_preset

    p = get_preset(preset_name)
    return min(p.dma.engine_cap_gbps, data_w / 8 * p.clocks.device_freq_hz / 1e9)


def simulator() -> str:
    """The simulator to use: ``SIM`` (icarus by default, ``verilator`` optional)."""
    return os.environ.get("SIM", "icarus").lower()


def have_simulator(sim: str | None = None) -> bool:
    """True when the simulator's executable is on PATH."""
    sim = sim or simulator()
    return shutil.which("iverilog" if sim == "icarus" else "verilator") is not None


def parse_results(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(test names, [(name, message)] of failures) of a cocotb JUnit results file."""
    if not path.exists():
        raise AssertionError(f"cocotb wrote no results file at {path} (simulator crashed?)")
    root = ET.parse(path).getroot()
    names: list[str] = []
    failures: list[tuple[str, str]] = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}.{case.get('name', '')}"
        names.append(name)
        for tag in ("failure", "error"):
            for el in case.iter(tag):
                failures.append((name, (el.get("message") or el.text or tag).strip()))
    return names, failures


def run_sim(
    name: str,
    module: str,
    *,
    parameters: Mapping[str, object] | None = None,
    testcase: str | Sequence[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    seed: int | None = None,
    defines: Mapping[str, object] | None = None,
) -> SimResult:
    """Build the twin and run cocotb ``module`` (a dotted module name) against it."""
    from cocotb_tools.runner import get_runner

    sim = simulator()
    if str(ROOT) not in sys.path:  # the runner exports sys.path as the simulator's PYTHONPATH
        sys.path.insert(0, str(ROOT))
    build_dir = BUILD_ROOT / f"{name}-{sim}"
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    waves = os.environ.get("WAVES", "0") not in ("", "0")
    build_args: list[str] = []
    test_args: list[str] = []
    if sim == "verilator":
        build_args = ["-Wno-fatal", "--timing"]
        if waves:
            build_args += ["--trace-fst", "--trace-structs"]
    else:
        build_args = ["-Wall", "-Wno-timescale", "-Wno-implicit-dimensions"]
    runner.build(
        sources=[RTL_DIR / s for s in RTL_SOURCES],
        includes=[RTL_DIR],
        hdl_toplevel=TOPLEVEL,
        build_dir=build_dir,
        parameters=dict(parameters or {}),
        defines={"PTDMA_ASSERTIONS": 1, **dict(defines or {})},
        build_args=build_args,
        timescale=TIMESCALE,
        waves=waves,
        always=(sim == "icarus"),
    )
    env = {
        "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "INFO"),
        "PYTHONHASHSEED": "0",
        # cocotbext-axi 0.1.28 on cocotb 2.x: DeprecationWarnings only (toolchain.md §3)
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::DeprecationWarning"),
        **dict(extra_env or {}),
    }
    results = build_dir / f"{name}.results.xml"
    try:
        runner.test(
            test_module=module,
            hdl_toplevel=TOPLEVEL,
            build_dir=build_dir,
            test_dir=build_dir,
            testcase=testcase,
            seed=seed,
            extra_env=env,
            waves=waves,
            test_args=test_args,
            results_xml=str(results),
            parameters=dict(parameters or {}),
        )
    except SystemExit as exc:  # the runner exits on failures under pytest; report them below
        if not results.exists():
            raise AssertionError(f"simulator exited with {exc.code} and no results") from exc
    names, failures = parse_results(results)
    if not names:
        raise AssertionError(f"{results}: no cocotb test ran")
    if failures:
        lines = "\n".join(f"  {n}: {m}" for n, m in failures)
        raise AssertionError(f"{len(failures)} of {len(names)} cocotb tests failed:\n{lines}")
    sys.stdout.flush()
    return SimResult(names, failures, results, build_dir)
