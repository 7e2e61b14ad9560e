"""The fault campaign (``dcbm-emu faults``): the quick campaign loses and leaks nothing in its
default configuration, every fault kind really fires, hung engines are detected and their
channels recovered; the plan is seeded; the leak audit catches leaks; the command's exit
status and summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from drivers.dmaengine.dma_mapping import DMA_TO_DEVICE, dma_map_page
from drivers.dmaengine.dmaengine import DMA_MEMCPY, DmaCapMask, dma_request_channel
from drivers.ptdma.ptdma import PtdmaDriverConfig
from emulator.cli import main
from emulator.experiments.faults import (
    MIGRATORS,
    CampaignConfig,
    applicable,
    quick_config,
    run_campaign,
    run_cell,
)
from emulator.experiments.stack import build_machine, move_pages_to, populate_workload
from emulator.fault_injection import FAULT_KINDS, Baseline, FaultPlan, audit
from emulator.frame_allocator import PAGE_SIZE


@pytest.mark.parametrize("migrator", MIGRATORS)
def test_quick_campaign_loses_and_leaks_nothing(migrator: str) -> None:
    cfg = quick_config(migrators=(migrator,))
    res = run_campaign(cfg)
    bad = [(r.kind, r.order, r.problems[:3], r.leaks[:3]) for r in res.cells if not r.ok]
    assert res.ok, bad
    assert res.lost_pages == 0 and res.leaks == 0
    kinds = {k for k in FAULT_KINDS if any(applicable(migrator, o, k) for o in (0, 9))
             and cfg.hazard(migrator, k) is None}
    assert {r.kind for r in res.cells} == kinds
    fired: Counter[str] = Counter()
    for r in res.cells:
        fired[r.kind] += sum(r.fired.values())
        assert r.migrations >= cfg.iterations and r.survived == r.migrations
        assert r.bytes_verified == r.migrations * (64 if r.order == 0 else 1024) * PAGE_SIZE
        assert r.channels_recovered == r.channels_faulted  # each faulted channel came back
        assert r.hangs_detected == r.hangs
    for kind in kinds:
        assert fired[kind] > 0, f"{kind} never fired on {migrator}"
    if migrator.startswith("dcbm-"):
        # engine errors (v3: lost MSIs and its 10 s timeout) went back to the CPU
        device = [r for r in res.cells if r.kind in ("bus", "hang", "iommu", "msi_lost")]
        assert sum(r.fallbacks for r in device) > 0
        assert sum(r.channels_faulted for r in device) > 0


def test_default_configuration_leaves_out_exactly_the_known_hazards() -> None:
    cfg = CampaignConfig()
    _cells, skipped = cfg.cells()
    assert {(m, k) for m, k, _ in skipped} == {
        ("dcbm-v3", "bus"), ("dcbm-v3", "hang"), ("dcbm-v3", "iommu"),
        ("dcbm-latest", "msi_lost")}
    assert "strict" in cfg.describe() and "10 ms" in cfg.describe()
    faithful = CampaignConfig(error_reporting="faithful")
    _cells, skipped = faithful.cells()
    assert ("dcbm-latest", "bus") in {(m, k) for m, k, _ in skipped}
    assert ("dcbm-v1", "iommu") in {(m, k) for m, k, _ in skipped}
    assert CampaignConfig(error_reporting="faithful", v1_double_copy=True).hazard(
        "dcbm-v1", "bus") is None  # the trailing CPU copy hides it
    assert CampaignConfig(watchdog_ms=0).hazard("dcbm-latest", "hang") is not None


def test_known_hazard_cells_do_lose_data() -> None:
    """The cells left out are left out for a reason: run, they lose pages or hang."""
    cfg = quick_config(known_hazards=True)
    r = run_cell(cfg, "dcbm-v3", 0, "bus")
    assert r.lost_pages > 0 and not r.ok and r.hazard is not None
    r = run_cell(cfg, "dcbm-latest", 0, "msi_lost")
    assert r.hung_migrations == 1 and not r.ok
    r = run_cell(quick_config(known_hazards=True, error_reporting="faithful"), "dcbm-latest",
                 9, "iommu")
    assert r.lost_pages > 0


def test_plan_is_seeded_and_covers_every_kind() -> None:
    a = FaultPlan.generate(3, FAULT_KINDS, 16)
    assert a.steps == FaultPlan.generate(3, FAULT_KINDS, 16).steps
    assert a.steps != FaultPlan.generate(4, FAULT_KINDS, 16).steps
    labels = a.labels()
    assert {lab.split("/")[0] for lab in labels} == set(FAULT_KINDS)
    assert all(len(step) == 1 for step in a.steps)
    assert FaultPlan.generate(1, ("bus",), 4, first_clean=2).steps[:2] == [[], []]
    with pytest.raises(ValueError):
        FaultPlan.generate(1, ("meteor",), 2)


def test_audit_reports_every_kind_of_leak() -> None:
    m = build_machine(seed=2, n_engines=1, iommu="translated", flavour="latest",
                      driver=PtdmaDriverConfig(error_reporting="strict"))
    base = Baseline.capture(m)
    w = populate_workload(m, 8 * PAGE_SIZE, 1)
    assert move_pages_to(m, w, 0)[0] == 0
    assert audit(m, w.task, base) == []
    folios = m.mm.folios_of(w.task, w.addr, 8 * PAGE_SIZE)
    folios[1].refcount += 1  # a reference nobody will drop
    m.mm.nr_isolated[0] += 1
    m.mm.alloc_folio(1)  # a frame nobody owns
    chan = dma_request_channel(m.kernel, DmaCapMask(DMA_MEMCPY))  # a channel never released
    assert chan is not None
    pt = m.pts[0]
    dma_map_page(pt.dev, folios[2].phys, 0, PAGE_SIZE, DMA_TO_DEVICE)  # never unmapped
    problems = audit(m, w.task, base)
    text = "\n".join(problems)
    assert "refcount 2" in text
    assert "nr_isolated" in text
    assert "node 1: " in text and "+1" in text
    assert "1 DMA channels held, expected 0" in text
    assert "streaming DMA mappings" in text and "IOMMU pages mapped" in text


def test_cli_runs_the_quick_campaign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "faults.json"
    rc = main(["faults", "--quick", "--migrators", "cpu,dcbm-latest", "--kinds",
               "bus,alloc,busy", "--seed", "5", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "PTDMA error reporting strict" in text and "watchdog 10 ms" in text
    assert "Faults injected" in text and "nothing lost, nothing leaked" in text
    assert "dcbm-latest" in text and "bus/" in text
    data = json.loads(out.read_text())
    assert data["ok"] and data["lost_pages"] == 0 and data["config"]["seed"] == 5
    assert {c["kind"] for c in data["cells"]} == {"bus", "alloc", "busy"}


def test_cli_exit_status_when_pages_are_lost(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["faults", "--known-hazards", "--migrators", "dcbm-v3", "--kinds", "bus",
               "--folio-sizes", "4K", "--iterations", "2"])
    text = capsys.readouterr().out
    assert rc == 1 and "pages lost" in text and "known hazard" in text


def test_cli_help_says_what_it_measures(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["faults", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for word in ("bus errors", "hangs", "lost and spurious MSIs", "IOMMU faults",
                 "migrations survived", "bytes verified", "fallbacks", "channels recovered",
                 "leaks", "--seed", "--runs", "--iterations", "--quick", "Exit status 1"):
        assert word in text, word


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_long_campaign_loses_and_leaks_nothing(seed: int) -> None:
    res = run_campaign(CampaignConfig(seed=seed, runs=2, iterations=10))
    bad = [(r.migrator, r.kind, r.order, r.problems[:3], r.leaks[:3])
           for r in res.cells if not r.ok]
    assert res.ok, bad
