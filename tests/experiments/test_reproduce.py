"""dcbm-emu reproduce: JSON shape, determinism, and the accuracy of the seed's table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.experiments import reproduce as R
from emulator.experiments.reference import CONFIGS, seed_row


def test_quick_command_writes_json_csv_plot_in_the_documented_shape(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    rc = main(["reproduce", "--quick", "--runs", "2", "--json", str(out),
               "--csv", str(tmp_path / "r.csv"), "--plot", str(tmp_path / "r.png"), "--check"])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert set(doc) == {"platform", "runs", "seed", "rows", "dma_net_throughput_MBps"}
    assert doc["platform"] == "zen3-epyc-2s" and doc["runs"] == 2
    assert {(r["size"], r["config"]) for r in doc["rows"]} == {
        (s, c) for s in ("4KB", "2MB") for c in CONFIGS
    }
    for row in doc["rows"]:
        for key in ("migrate_pages_cycles_per_page", "folio_copy_cycles_per_page", "F"):
            assert set(row[key]) == {"mean", "sd"}
            assert row[key]["mean"] > 0 and row[key]["sd"] >= 0
        assert 0 < row["F"]["mean"] < 1
    assert doc["dma_net_throughput_MBps"] > 0
    assert (tmp_path / "r.csv").read_text().count("\n") == 7
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    a = R.run_once("cpu_batch", "2MB", seed=3)
    b = R.run_once("cpu_batch", "2MB", seed=3)
    c = R.run_once("cpu_batch", "2MB", seed=4)
    assert a == b
    assert a.migrate_pages_cycles_per_page != c.migrate_pages_cycles_per_page


def test_without_jitter_the_model_is_exactly_deterministic_and_copy_is_inside_total() -> None:
    r = R.run_once("dma", "4KB", seed=0, jitter=False)
    assert r.pages == 1 and r.calls == 1
    assert 0 < r.folio_copy_cycles_per_page < r.migrate_pages_cycles_per_page
    assert r == R.run_once("dma", "4KB", seed=0, jitter=False)


@pytest.mark.parametrize("size", ["4KB", "2MB", "256MB"])
def test_seed_table_cells_are_inside_their_bands(size: str) -> None:
    """Every cell within ±15 % (cycles per page) and ±0.05 (F) of the seed's mean."""
    runs = 3 if size != "256MB" else 1
    cells = R.summarize_runs(R.run_experiment([size], CONFIGS, runs, seed=1))
    assert len(cells) == 3
    for cell in cells:
        ref = seed_row(cell.config, cell.size)
        band = cell.within_band()
        assert all(band.values()), (
            f"{cell.config} {size}: migrate_pages {cell.migrate_pages.mean:.0f} vs "
            f"{ref.migrate_pages.mean}, folio_copy {cell.folio_copy.mean:.0f} vs "
            f"{ref.folio_copy.mean}, F {cell.F.mean:.4f} vs {ref.F.mean}"
        )


@pytest.mark.slow
def test_seed_table_1gb_cells_are_inside_their_bands() -> None:
    cells = R.summarize_runs(R.run_experiment(["1GB"], CONFIGS, 1, seed=1))
    for cell in cells:
        assert all(cell.within_band().values()), cell


def test_dma_offload_adds_copy_time_only() -> None:
    """calibration §2: DMA − CPU batch is the same in migrate_pages and in folio_copy."""
    cpu = R.run_once("cpu_batch", "2MB", seed=0, jitter=False)
    dma = R.run_once("dma", "2MB", seed=0, jitter=False)
    d_total = dma.migrate_pages_cycles_per_page - cpu.migrate_pages_cycles_per_page
    d_copy = dma.folio_copy_cycles_per_page - cpu.folio_copy_cycles_per_page
    assert d_copy > 5000
    assert abs(d_total - d_copy) < 0.02 * d_copy


def test_worker_processes_give_the_same_results() -> None:
    one = R.run_experiment(["4KB", "2MB"], ["generic", "dma"], 2, seed=5, jobs=1)
    two = R.run_experiment(["4KB", "2MB"], ["generic", "dma"], 2, seed=5, jobs=2)
    assert one == two
