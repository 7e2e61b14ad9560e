"""Co-validation: the same driver test body over the Python model and over the Verilog twin."""

from __future__ import annotations

import dataclasses
import json

import pytest

from .covalidation import copy_pages_body, python_backend
from .simrun import BUILD_ROOT, have_simulator, preset_parameters, run_sim, simulator

N_PAGES = 8


def test_body_on_python_model() -> None:
    """Plain pytest, no simulator: driver, DCBM and move_pages on the model, exact data."""
    res = copy_pages_body(python_backend(seed=1), N_PAGES, N_PAGES, 2 * N_PAGES)
    assert res.irq_order == list(range(N_PAGES))
    assert res.dcbm_migrated == N_PAGES and res.late_completions == 0
    assert res.msis >= N_PAGES  # one MSI per interrupt-driven descriptor at least


@pytest.mark.cocotb
@pytest.mark.skipif(not have_simulator(), reason="HDL simulator not installed")
def test_body_on_verilog_twin() -> None:
    """The same body over the twin (lockstep co-simulation); same observable results."""
    _compare_backends(N_PAGES)


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.skipif(not have_simulator(), reason="HDL simulator not installed")
def test_body_on_verilog_twin_many_pages() -> None:
    """Longer co-validation: 32 pages, 32 folios, 64 migrated pages."""
    _compare_backends(32, seed=2)


def _compare_backends(n_pages: int, seed: int = 1) -> None:
    out = BUILD_ROOT / f"coval-{n_pages}-{simulator()}" / "result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    run_sim(
        f"coval-{n_pages}",
        "tests.cocotb.tb.tb_covalidate",
        parameters=preset_parameters(),
        extra_env={"PTDMA_SEED": str(seed), "PTDMA_COVAL_OUT": str(out),
                   "PTDMA_COVAL_PAGES": str(n_pages)},
    )
    twin = json.loads(out.read_text())
    model = dataclasses.asdict(copy_pages_body(python_backend(seed=seed), n_pages, n_pages,
                                               2 * n_pages))
    got = twin["result"]
    # functional results agree exactly; MSI counts are timing-dependent (edges coalesce
    # while a handler runs) and only bounded
    for key in ("irq_order", "polled_status", "dcbm_rc", "dcbm_migrated", "move_pages_rc",
                "late_completions"):
        assert got[key] == model[key], f"{key}: twin {got[key]} model {model[key]}"
    assert got["msis"] >= n_pages and twin["msis"] == got["msis"]
    # the whole body's simulated time: same latencies on both sides, so within 5 % (the
    # per-descriptor tolerance of the pyuvm scoreboard, see TimingTolerance)
    assert abs(got["elapsed_ps"] - model["elapsed_ps"]) <= 0.05 * model["elapsed_ps"], (
        f"elapsed: twin {got['elapsed_ps'] / 1e6:.1f} us, model {model['elapsed_ps'] / 1e6:.1f} us"
    )
    assert twin["late_ps_max"] < 100_000  # accesses/MSIs at most 100 ns behind the emulator
