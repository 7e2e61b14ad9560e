"""pyuvm tests of the PTDMA twin with the Python model as scoreboard (one test per sim run).

Environment variables (set by ``tests/cocotb/test_uvm.py``): ``PTDMA_SEED`` (stimulus and
model seed), ``PTDMA_P_STALL`` (probability of a pause cycle on every AXI channel),
``PTDMA_COV_FILE`` (where the coverage summary is written for the pytest report).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cocotb
import pyuvm
from cocotb.triggers import Event
from pyuvm import ConfigDB, uvm_test

from emulator.platform import Platform

from .bench import PtdmaBench
from .uvm_env import (
    AbortSeq,
    AbortThenCopySeq,
    ClockGateSeq,
    CoalSeq,
    ErrorSeq,
    FaultSeq,
    InitSeq,
    PtdmaCoverage,
    PtdmaEnv,
    PtdmaSeq,
    RandomStreamSeq,
    RegisterSemanticsSeq,
    TimeoutSeq,
    WrapSeq,
    WriteBackSeq,
)


class PtdmaBaseTest(uvm_test):
    """Bench + environment; subclasses list their sequences."""

    ring_log2 = 5
    p_stall = 0.0

    def sequences(self) -> list[PtdmaSeq]:
        return []

    def build_phase(self) -> None:
        seed = int(os.environ.get("PTDMA_SEED", "1"))
        p_stall = float(os.environ.get("PTDMA_P_STALL", str(self.p_stall)))
        self.bench = PtdmaBench(cocotb.top, Platform("zen3-epyc-2s", seed=seed))
        self.ready = Event()
        cfg = ConfigDB()
        cfg.set(None, "*", "BENCH", self.bench)
        cfg.set(None, "*", "BENCH_READY", self.ready)
        cfg.set(None, "*", "SEED", seed)
        cfg.set(None, "*", "P_STALL", p_stall)
        self.env = PtdmaEnv("env", self)
        cfg.set(None, "*", "ENV", self.env)

    async def run_phase(self) -> None:
        self.raise_objection()
        await self.bench.start()
        self.env.mem.start()
        self.env.sb.paused = self.env.mem.p_stall > 0
        self.env.sb.start_monitors()
        self.ready.set()
        await InitSeq("init", self.ring_log2).start(self.env.axil.seqr)
        for seq in self.sequences():
            await seq.start(self.env.axil.seqr)
        await self.env.sb.checkpoint(InitSeq("final"), "final")
        self.drop_objection()

    def report_phase(self) -> None:
        lines = PtdmaCoverage.report(self.logger)
        path = os.environ.get("PTDMA_COV_FILE")
        sb = self.env.sb
        summary = (
            f"{type(self).__name__}: {sb.checks} checks, {sb.compared_completions} completions, "
            f"{sb.compared_msis} MSIs, max |dt| "
            + ", ".join(f"{k} {v / 1000:.1f} ns" for k, v in sorted(sb.max_dt.items()))
        )
        if path:
            Path(path).write_text("\n".join([summary, *lines]) + "\n")
            Path(path).with_suffix(".json").write_text(json.dumps(PtdmaCoverage.bins()))
        assert not sb.errors, f"{len(sb.errors)} scoreboard errors; first: {sb.errors[0]}"
        assert sb.compared_completions > 0 or not self.sequences()


@pyuvm.test()
class PtdmaRandomTest(PtdmaBaseTest):
    """Random descriptor streams (lengths, alignments, 4 KiB crossings, nodes, batches)."""

    def sequences(self) -> list[PtdmaSeq]:
        return [RandomStreamSeq("random", n_desc=24, max_batch=9)]


@pyuvm.test()
class PtdmaBackpressureTest(PtdmaBaseTest):
    """Random streams with random pauses on all five AXI channels."""

    p_stall = 0.3

    def sequences(self) -> list[PtdmaSeq]:
        return [RandomStreamSeq("random_bp", n_desc=14, max_batch=5, max_len=8192)]


@pyuvm.test()
class PtdmaErrorTest(PtdmaBaseTest):
    """Validation errors, AXI SLVERR/DECERR on both sides, CMD_TIMEOUT; halts and recovery."""

    def sequences(self) -> list[PtdmaSeq]:
        return [ErrorSeq("errors"), FaultSeq("faults"), TimeoutSeq("timeout")]


@pyuvm.test()
class PtdmaAbortTest(PtdmaBaseTest):
    """ABORT mid-copy and while idle."""

    def sequences(self) -> list[PtdmaSeq]:
        return [AbortSeq("abort")]


@pyuvm.test()
class PtdmaRingTest(PtdmaBaseTest):
    """8-entry ring wrapping, coalescing, write-back records, clock gating, pause/resume,
    register and interrupt semantics (§9 C, D)."""

    ring_log2 = 3

    def sequences(self) -> list[PtdmaSeq]:
        return [WrapSeq("wrap"), CoalSeq("coal"), WriteBackSeq("wb"), ClockGateSeq("gate"),
                RegisterSemanticsSeq("regs")]


@pyuvm.test()
class PtdmaAbortThenCopyTest(PtdmaBaseTest):
    """A copy right after an ABORT takes its normal time (model regression check)."""

    def sequences(self) -> list[PtdmaSeq]:
        return [AbortThenCopySeq("abort_then_copy")]


@pyuvm.test()
class PtdmaLongTest(PtdmaBaseTest):
    """Long regression: many descriptors up to 256 KiB with back-pressure (slow)."""

    p_stall = 0.1

    def sequences(self) -> list[PtdmaSeq]:
        return [RandomStreamSeq("long", n_desc=80, max_batch=12, max_len=262144)]


def _unused(*_: Any) -> None:
    """Keep imports referenced for readers of the module (sequences used by the tests)."""
