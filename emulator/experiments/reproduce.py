"""``dcbm-emu reproduce``: the seed RFC's experiment, run on the emulated machine.

Promotion of 4KB, 2MB, 256MB and 1GB of anonymous memory (THP off: every folio is 4 KiB)
from the remote node (1) to the local node (0) with move_pages(), for three kernels:
generic (v6.8, per-folio move), patched with the CPU batch copy (the seed's batch move with
the default "kernel" migrator) and patched with the DMA batch copy (DCBM v1 on one PTDMA
channel, polled, with the posted code's CPU re-copy). migrate_pages() records t1..t4 for
every call; the table reports cycles per page of migrate_pages() and of the folio copy, and
F = (t3 - t2) / (t4 - t1), mean ± SD over seeded runs (each run draws the platform's
run-to-run jitter), beside the seed's own figures.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from emulator.event_kernel import NS

from .reference import (
    CONFIG_LABELS,
    CONFIGS,
    CYCLES_TOLERANCE,
    F_TOLERANCE,
    SEED_DMA_NET_THROUGHPUT_MBPS,
    SIZE_BYTES,
    SIZES,
    seed_row,
)
from .stack import build_machine, move_pages_to, populate_workload, records_since
from .stats import Summary, summarize
from .ui import progress_bar, wide_console

PLATFORM = "zen3-epyc-2s"
SRC_NODE, DST_NODE = 1, 0  # promotion: remote -> local, the program runs on node 0
# The test program starts well after offloading was switched on through sysfs (process
# start-up, mmap, mbind): the machine idles this long first, so idle-state effects (the
# engine's clock gating) are those of a real run. est: 1 ms.
PROGRAM_START_DELAY_NS = 1_000_000.0
QUICK_SIZES = ("4KB", "2MB")


@dataclass
class RunResult:
    """One measured move_pages() of one workload on one kernel."""

    config: str
    size: str
    seed: int
    migrate_pages_cycles_per_page: float
    folio_copy_cycles_per_page: float
    F: float
    pages: int
    calls: int
    copy_ps: int
    dma_copy_ps: int


def kernel_setup(config: str) -> dict[str, Any]:
    """build_machine() arguments of each kernel configuration."""
    if config == "generic":
        return {"flavour": "generic"}
    if config == "cpu_batch":
        return {"flavour": "seed"}
    if config == "dma":
        return {"flavour": "seed", "n_engines": 1}
    raise ValueError(f"unknown config {config!r}; one of {CONFIGS}")


def run_once(config: str, size: str, seed: int, *, jitter: bool = True) -> RunResult:
    """Build a fresh machine (seeded), populate the workload, move it, read t1..t4."""
    m = build_machine(preset=platform_preset(), seed=seed, jitter=jitter, **kernel_setup(config))
    if config == "dma":
        dcbm = m.dcbm
        if m.call(dcbm.enable, "v1", 1) != 0:
            raise RuntimeError("DCBM v1 could not be enabled")
    nbytes = SIZE_BYTES[size]
    w = populate_workload(m, nbytes, SRC_NODE, order=0, seed=seed)
    plat = m.platform
    plat.run(until=plat.sim.now + int(PROGRAM_START_DELAY_NS * NS))
    start = len(m.core.records)
    rc, status = move_pages_to(m, w, DST_NODE)
    if rc != 0 or any(s != DST_NODE for s in status):
        raise RuntimeError(f"{config} {size}: move_pages returned {rc}, status not all node 0")
    recs = records_since(m, start)
    total = sum(r.total_ps for r in recs)
    copy = sum(r.copy_ps for r in recs)
    pages = sum(r.nr_pages for r in recs)
    scale = plat.cpu_clock.freq_hz / 1e12
    dma_ps = 0
    if config == "dma":
        dma_ps = copy  # the DMA batch copy, CPU re-copy included, as the seed measured it
    return RunResult(
        config,
        size,
        seed,
        total * scale / pages,
        copy * scale / pages,
        copy / total if total else 0.0,
        pages,
        len(recs),
        copy,
        dma_ps,
    )


def platform_preset() -> str:
    return PLATFORM


@dataclass
class Cell:
    """Mean ± SD of the runs of one (config, size)."""

    config: str
    size: str
    migrate_pages: Summary
    folio_copy: Summary
    F: Summary

    def within_band(self) -> dict[str, bool]:
        ref = seed_row(self.config, self.size)
        return {
            "migrate_pages": abs(self.migrate_pages.mean / ref.migrate_pages.mean - 1)
            <= CYCLES_TOLERANCE,
            "folio_copy": abs(self.folio_copy.mean / ref.folio_copy.mean - 1) <= CYCLES_TOLERANCE,
            "F": abs(self.F.mean - ref.F.mean) <= F_TOLERANCE,
        }


def summarize_runs(results: Sequence[RunResult]) -> list[Cell]:
    cells: list[Cell] = []
    for config in CONFIGS:
        for size in SIZES:
            rs = [r for r in results if r.config == config and r.size == size]
            if not rs:
                continue
            cells.append(
                Cell(
                    config,
                    size,
                    summarize([r.migrate_pages_cycles_per_page for r in rs]),
                    summarize([r.folio_copy_cycles_per_page for r in rs]),
                    summarize([r.F for r in rs]),
                )
            )
    return cells


def dma_net_throughput_mbps(results: Sequence[RunResult]) -> float:
    """Bytes moved by the DMA configuration over its copy time, largest workload (MB/s)."""
    dma = [r for r in results if r.config == "dma"]
    if not dma:
        return 0.0
    largest = max(SIZE_BYTES[r.size] for r in dma)
    rs = [r for r in dma if SIZE_BYTES[r.size] == largest]
    nbytes = sum(r.pages * 4096 for r in rs)
    secs = sum(r.dma_copy_ps for r in rs) / 1e12
    return nbytes / secs / 1e6 if secs else 0.0


def _run_task(task: tuple[str, str, int]) -> RunResult:
    """One run in a worker process; the previous run's machine is collected first."""
    gc.collect()
    config, size, seed = task
    return run_once(config, size, seed)


def run_experiment(
    sizes: Sequence[str],
    configs: Sequence[str],
    runs: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> list[RunResult]:
    """Every (config, size) ``runs`` times; run i of every cell uses seed ``seed + i``.

    With ``jobs`` > 1 the runs are spread over worker processes, largest first; each run
    depends only on its seed, so the results are the same for any ``jobs``.
    """
    tasks = [(config, size, seed + i) for size in sizes for config in configs for i in range(runs)]
    results: dict[int, RunResult] = {}

    def done(k: int, r: RunResult) -> None:
        results[k] = r
        if progress is not None:
            progress(f"{CONFIG_LABELS[r.config]} {r.size} seed {r.seed}")

    if jobs <= 1:
        for k, task in enumerate(tasks):
            done(k, run_once(*task))
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        order = sorted(range(len(tasks)), key=lambda k: -SIZE_BYTES[tasks[k][1]])
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_run_task, tasks[k]): k for k in order}
            for fut in as_completed(futures):
                done(futures[fut], fut.result())
    return [results[k] for k in range(len(tasks))]


def to_json(cells: Sequence[Cell], results: Sequence[RunResult], runs: int, seed: int) -> dict:
    return {
        "platform": PLATFORM,
        "runs": runs,
        "seed": seed,
        "rows": [
            {
                "size": c.size,
                "config": c.config,
                "migrate_pages_cycles_per_page": c.migrate_pages.as_dict(),
                "folio_copy_cycles_per_page": c.folio_copy.as_dict(),
                "F": c.F.as_dict(),
            }
            for c in cells
        ],
        "dma_net_throughput_MBps": dma_net_throughput_mbps(results),
    }


def print_table(console: Console, cells: Sequence[Cell], results: Sequence[RunResult]) -> bool:
    """The seed's table with the model beside it; returns True when every cell is in band."""
    table = Table(
        title=f"Seed RFC reproduction on {PLATFORM}: cycles per 4 KiB page (model vs seed)",
        caption="ratio = model / seed; F difference = model − seed; "
        f"bands: ±{CYCLES_TOLERANCE:.0%} cycles, ±{F_TOLERANCE} F",
    )
    for col in (
        "Configuration",
        "Workload",
        "migrate_pages (model)",
        "seed",
        "ratio",
        "folio_copy (model)",
        "seed",
        "ratio",
        "F (model)",
        "seed",
        "ΔF",
    ):
        table.add_column(col, justify="right")
    ok_all = True
    for c in cells:
        ref = seed_row(c.config, c.size)
        band = c.within_band()
        ok_all &= all(band.values())

        def mark(ok: bool, text: str) -> str:
            return f"[green]{text}[/green]" if ok else f"[red]{text}[/red]"

        table.add_row(
            CONFIG_LABELS[c.config],
            c.size,
            c.migrate_pages.fmt(2),
            f"{ref.migrate_pages.mean:.2f}±{ref.migrate_pages.sd:.2f}",
            mark(band["migrate_pages"], f"{c.migrate_pages.mean / ref.migrate_pages.mean:.3f}"),
            c.folio_copy.fmt(2),
            f"{ref.folio_copy.mean:.2f}±{ref.folio_copy.sd:.2f}",
            mark(band["folio_copy"], f"{c.folio_copy.mean / ref.folio_copy.mean:.3f}"),
            c.F.fmt(4),
            f"{ref.F.mean:.4f}±{ref.F.sd:.4f}",
            mark(band["F"], f"{c.F.mean - ref.F.mean:+.4f}"),
        )
    console.print(table)
    tput = dma_net_throughput_mbps(results)
    if tput:
        console.print(
            f"DMA net throughput (folio copy of the largest workload, CPU re-copy included): "
            f"[bold]{tput:.0f} MB/s[/bold] (seed: {SEED_DMA_NET_THROUGHPUT_MBPS:.0f} MB/s)"
        )
    verdict = (
        "[green]every cell inside its band[/green]"
        if ok_all
        else "[red]cells outside their band[/red]"
    )
    console.print(f"Accuracy: {verdict}. All figures are simulated time from the event kernel.")
    return ok_all


def write_csv(path: Path, cells: Sequence[Cell]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "config",
                "size",
                "migrate_pages_mean",
                "migrate_pages_sd",
                "folio_copy_mean",
                "folio_copy_sd",
                "F_mean",
                "F_sd",
                "seed_migrate_pages",
                "seed_folio_copy",
                "seed_F",
            ]
        )
        for c in cells:
            ref = seed_row(c.config, c.size)
            w.writerow(
                [
                    c.config,
                    c.size,
                    c.migrate_pages.mean,
                    c.migrate_pages.sd,
                    c.folio_copy.mean,
                    c.folio_copy.sd,
                    c.F.mean,
                    c.F.sd,
                    ref.migrate_pages.mean,
                    ref.folio_copy.mean,
                    ref.F.mean,
                ]
            )


def write_plot(path: Path, cells: Sequence[Cell]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    sizes = [s for s in SIZES if any(c.size == s for c in cells)]
    width = 0.12
    for ax, metric, label in zip(
        axes,
        ("migrate_pages", "folio_copy", "F"),
        ("migrate_pages cycles/page", "folio_copy cycles/page", "F"),
        strict=True,
    ):
        for k, config in enumerate(CONFIGS):
            xs, model, seed_vals = [], [], []
            for i, size in enumerate(sizes):
                cell = next((c for c in cells if c.config == config and c.size == size), None)
                if cell is None:
                    continue
                xs.append(i)
                model.append(getattr(cell, metric).mean)
                seed_vals.append(getattr(seed_row(config, size), metric).mean)
            off = (k - 1) * 2 * width
            ax.bar([x + off - width / 2 for x in xs], model, width, label=f"{config} model")
            ax.bar(
                [x + off + width / 2 for x in xs],
                seed_vals,
                width,
                alpha=0.45,
                label=f"{config} seed",
            )
        ax.set_xticks(range(len(sizes)), sizes)
        ax.set_title(label)
        if metric != "F":
            ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle("dcbm-emu: seed RFC reproduction (model = solid, seed = light)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Reproduce the seed RFC's table: move_pages() promotion of 4KB..1GB, remote -> local,
    on generic, CPU-batch and DMA (DCBM v1) kernels; cycles per page of migrate_pages() and
    of the folio copy, and F, from the simulated clock, beside the seed's figures."""
    console = wide_console()
    sizes = tuple(args.sizes.split(",")) if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    for s in sizes:
        if s not in SIZE_BYTES:
            console.print(f"[red]unknown size {s!r}; one of {', '.join(SIZES)}[/red]")
            return 2
    runs = args.runs if args.runs is not None else (2 if args.quick else 3)
    configs = CONFIGS
    total = len(sizes) * len(configs) * runs
    with progress_bar(console) as bar:
        task = bar.add_task("reproducing the seed's table", total=total)

        def tick(what: str) -> None:
            bar.update(task, advance=1, description=what)

        results = run_experiment(sizes, configs, runs, args.seed, tick, jobs=max(1, args.jobs))
    cells = summarize_runs(results)
    ok = print_table(console, cells, results)
    doc = to_json(cells, results, runs, args.seed)
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))
        console.print(f"wrote {args.json}")
    if args.csv:
        write_csv(Path(args.csv), cells)
        console.print(f"wrote {args.csv}")
    if args.plot:
        write_plot(Path(args.plot), cells)
        console.print(f"wrote {args.plot}")
    return 0 if ok or not args.check else 1


def register(sub: Any) -> None:
    p = sub.add_parser(
        "reproduce",
        help="the seed RFC's table (default command)",
        description=cmd_reproduce.__doc__,
    )
    p.add_argument("--sizes", help=f"comma-separated workloads (default {','.join(SIZES)})")
    p.add_argument("--runs", type=int, help="runs per cell (default 3, --quick 2)")
    p.add_argument("--seed", type=int, default=1, help="seed of run 1 (run i uses seed+i-1)")
    p.add_argument("--quick", action="store_true", help=f"only {','.join(QUICK_SIZES)}, 2 runs")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--csv", metavar="PATH", help="write the results as CSV")
    p.add_argument("--plot", metavar="PATH", help="write a PNG comparing model and seed")
    p.add_argument(
        "--check", action="store_true", help="exit 1 when a cell leaves its accuracy band"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: every CPU; results do not depend on it)",
    )
    p.set_defaults(func=cmd_reproduce)
