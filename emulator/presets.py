"""Platform presets: every timing parameter of a platform, named, with its unit and source.

One place per platform. Hardware parameters come from ../shared/reference/ptdma-model.md §8
and calibration.md §1; "est" marks an engineering estimate (a calibration knob), never a
per-experiment correction factor. Software costs are CPU cycles of named kernel operations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GiB = 1 << 30


@dataclass(frozen=True)
class ClockParams:
    cpu_freq_hz: int = 2_000_000_000  # seed: cpuinfo_cur_freq 2 GHz, performance governor
    device_freq_hz: int = 1_000_000_000  # ptdma-model §2 EXT_TIMEBASE = 1000 ps


@dataclass(frozen=True)
class TopologyParams:
    sockets: int = 2  # seed: 2 sockets, 1 NUMA node each
    node_size_bytes: int = 64 * GiB  # est; the seed does not state the memory size
    ccds_per_socket: int = 4  # est: 16-core Zen 3 EPYC part with 4 CCDs (e.g. 7313)
    cores_per_ccd: int = 4  # seed: "32 cores" over 2 sockets
    dma_engine_slots: int = 16  # ptdma-model §1: N = 1..16 engines
    # Node of each DMA engine (PCI device node): the first half on socket 0. est
    dma_engines_per_node: int = 8
    mmio_base: int = 0xFE_0000_0000  # above both nodes' RAM; 64 KiB window per engine
    mmio_window: int = 0x1_0000  # ptdma-model §1


@dataclass(frozen=True)
class MemoryTimingParams:
    read_latency_local_ns: float = 120.0  # ptdma-model §8 (Rome DRAM 122 ns, NPS1)
    read_latency_remote_ns: float = 200.0  # ptdma-model §8, est
    write_latency_local_ns: float = 80.0  # ptdma-model §8, est
    write_latency_remote_ns: float = 160.0  # ptdma-model §8, est
    node_bandwidth_gbps: float = 160.0  # calibration §1: 8 x DDR4-3200 sustained, est
    link_bandwidth_gbps: float = 70.0  # ptdma-model §8: xGMI per direction, est
    line_bytes: int = 64


@dataclass(frozen=True)
class MmioParams:
    posted_write_ns: float = 150.0  # ptdma-model §8: posted PCIe write until visible, est
    # Uncached MMIO read round trip. ptdma-model §8: 800 ns est, range 300-1500; 700 ns puts the
    # v1 polled path (4 reads per page) at calibration §2's 5.2 us per page.
    read_round_trip_ns: float = 700.0


@dataclass(frozen=True)
class InterruptParams:
    msi_to_handler_ns: float = 1000.0  # ptdma-model §8: MSI -> handler entry, est
    handler_software_ns: float = 200.0  # ptdma-model §8: handler work excluding MMIO, est


@dataclass(frozen=True)
class CpuCopyParams:
    """CPU memcpy timing. Hardware prefetch hides DRAM latency in a streaming copy, so a
    copy costs a short exposed start-up plus bytes at the streaming rate (calibration §5:
    ~0.40 us per 4 KiB remote->local page, ~11 GB/s for a 2 MiB folio)."""

    core_copy_gbps: float = 12.0  # est: one Zen 3 core streaming remote->local with prefetch
    ccd_copy_gbps: float = 11.0  # calibration §1: copies confined to one CCD cap near 11 GB/s
    copy_startup_ns: float = 30.0  # est: exposed first-miss latency of a prefetched copy
    llc_copy_gbps: float = 18.0  # est: copy whose source is resident in the local L3
    llc_bytes_per_ccd: int = 32 << 20  # Zen 3 (Milan): 32 MB of L3 per CCD


@dataclass(frozen=True)
class DmaEngineParams:
    """PTDMA engine timing (ptdma-model §8); the device clock is ClockParams.device_freq_hz."""

    desc_fetch_extra_ns: float = 100.0  # fetch = local DRAM latency + 100 ns ~ 220 ns, est
    decode_cycles: int = 20  # descriptor decode / setup, est
    completion_cycles: int = 50  # write-backs, HEAD update, MSI send, est
    # Outstanding 64 B read lines. ptdma-model §8 sizes 32 for 160 ns; Little's law for the
    # remote read latency (12.5 GB/s x 200 ns / 64 B = 39) needs 40 for the 12.5 GB/s one-channel
    # 2 MiB point (calibration §4) when the engine reads the remote node. Range 16-64.
    rd_slots: int = 40
    engine_cap_gbps: float = 12.5  # per-engine streaming cap (token bucket), calibration §4
    ring_entries: int = 32  # CMD_Q_LEN
    # Dynamic clock gating (CLK_GATE_CTL[0], which pt_core_init sets with 0x1001): after
    # ``clock_gate_idle_ns`` without work the engine gates its clock, and the next descriptor
    # waits ``clock_ungate_ns`` for it to come back. est: the seed's single-page DMA row
    # (calibration §2) costs ~21.8k cycles (10.9 us) more per page than its large workloads,
    # which pay it once per 512-page batch at most.
    clock_gate_idle_ns: float = 50_000.0
    clock_ungate_ns: float = 10_900.0
    max_ring_log2: int = 8  # model accepts N = 2..256


@dataclass(frozen=True)
class HostSoftwareParams:
    """Host-side costs of the DMA software path (ptdma-model §8), in ns."""

    dma_map_ns: float = 150.0  # dma_map_page / unmap, each, est
    workqueue_wakeup_ns: float = 5000.0  # AE4 worker wake-up, est


@dataclass(frozen=True)
class JitterParams:
    """Run-to-run variation of a real machine (DRAM refresh and page placement, cache and TLB
    state, frequency), applied as one seeded multiplicative draw per parameter per run.

    Relative standard deviations; sources: the seed's SDs (calibration.md §2: 1-5 % for large
    workloads, ~25 % for single-page calls dominated by cold per-call work), est.
    """

    latency_sigma: float = 0.03  # memory, MMIO and interrupt latencies
    bandwidth_sigma: float = 0.02  # streaming rates and bandwidth caps
    op_cost_sigma: float = 0.03  # per-operation CPU cycle costs
    cold_call_sigma: float = 0.10  # fixed per-call costs (cpu_op_cycles keys ending "_call")


# Cycle costs of kernel operations charged by the ports (CPU cycles at ClockParams.cpu_freq_hz).
# Sources: est, to be calibrated against calibration.md §2 (seed table) with one parameter set.
DEFAULT_CPU_OP_CYCLES: dict[str, int] = {
    "syscall_entry": 400,  # entry/exit + copy_from_user of the argument arrays, est
    "migrate_pages_call": 10_300,  # per-call fixed work in migrate_pages(), est (seed 4KB rows)
    "migrate_pages_batch_call": 300,  # per batch: list setup, stats, est
    "isolate_folio": 300,  # folio_isolate_lru + list add, est
    "alloc_dst_folio": 520,  # get_new_folio -> alloc_pages on the target node, est
    "folio_lock": 50,  # folio_trylock / folio_unlock pair, est
    "unmap_per_mapping": 900,  # try_to_migrate_one: rmap walk, migration PTE, est
    "tlb_flush_batch": 2_000,  # try_to_unmap_flush: IPIs, est
    "metadata_copy": 300,  # folio_migrate_flags + mapping, est
    "pte_restore_per_mapping": 750,  # remove_migration_ptes per mapping (rmap walk + set_pte), est
    "lru_add": 150,  # folio_add_lru, est
    "folio_put": 50,  # reference drop, est
    "migrate_folio_done": 100,  # stats + putback, est
    "kmalloc": 100,  # small slab allocation, est
    "cond_resched": 20,  # est
    "list_op": 10,  # list_add / list_del / list_cut, est
    "copy_cold_start": 280,  # first folio copy of a migrate_pages() call: direct-map TLB misses
    # for src and dst + cold copy routine, est (seed 4KB rows: ~795 cycles for one page vs
    # ~515 per page for the L3-resident 2MB workload)
    # drivers/mm (issue 5): further named costs of the migration core, est
    "copy_mc_fault": 2_000,  # machine check recovery in copy_mc_to_kernel, est
    "tlb_flush_single": 1_500,  # try_to_migrate without TTU_BATCH_FLUSH: flush now, est
    "anon_vma_ref": 40,  # folio_get_anon_vma / put_anon_vma pair, est
    "page_cache_replace": 200,  # folio_migrate_mapping: ref freeze + xas_store, est
    "flush_dcache_folio": 10,  # no-op on x86 beyond the call, est
    "lru_add_drain": 500,  # lru_add_drain after an mlocked folio, est
    "migrate_folio_undo": 200,  # undo_src bookkeeping (PTE restore charged separately), est
    "writeback_folio": 5_000,  # writeout() of a dirty file folio (I/O not modelled), est
    "split_folio": 20_000,  # split_folio_to_list of a 2 MiB THP, est
    "hugetlb_move_state": 200,  # move_hugetlb_state, est
    "putback_folio": 200,  # putback_movable_pages per folio (folio_putback_lru), est
    "follow_page": 250,  # move_pages: vma_lookup + follow_page per address, est
    "store_status": 5,  # put_user of one status word, est
    "lru_cache_disable": 2_000,  # lru_cache_disable: drain per-CPU LRU caches, est
    "queue_pages_pte": 60,  # migrate_pages(2) page-table walk per entry, est
    "mtcopy_setup": 600,  # mtcopy: kzalloc of T work items + chunk tables, est
    "queue_work": 400,  # queue_work_on: enqueue + wake a kworker, est
    "kworker_wakeup": 4_000,  # kworker scheduled on an idle CPU until it runs, est
    "flush_work": 300,  # flush_work on an item (completion wait excluded), est
    "page_fault": 1_000,  # user fault on a migration entry before sleeping, est
}


# Cycle costs of the DMA software path (dmaengine, virt-dma, the PTDMA driver, DCBM), charged
# by drivers/dmaengine/costs.charge_op. est, sized against calibration.md §5's decomposition
# (prep + submit + issue_pending ~0.3 us per descriptor); dma_map_page is host.dma_map_ns.
DRIVER_CPU_OP_CYCLES: dict[str, int] = {
    "dmaengine_prep": 250,  # pt_prep_dma_memcpy: kmem_cache_zalloc + vchan_tx_prep
    "dmaengine_submit": 100,  # vchan_tx_submit: dma_cookie_assign + list_move_tail
    "dma_issue_pending": 100,  # pt_issue_pending: vc.lock + vchan_issue_pending splice
    "dmaengine_callback": 200,  # pt_handle_active_desc: cookie, unmap, callback, fini
    "cpu_relax": 20,  # one dma_sync_wait iteration besides the MMIO read
    "dmaengine_tx_status": 30,  # dma_async_is_tx_complete + dma_cookie_status
    "dmaengine_terminate": 200,  # pt_terminate_all: vchan_get_all_descriptors + frees
    "vchan_synchronize": 100,  # vchan_synchronize: tasklet_kill + vd_terminated
    "vchan_desc_free": 50,  # one kmem_cache_free of a descriptor
    "dma_chan_request": 600,  # __dma_request_channel: mutex, device walk, chan_get
    "dma_chan_release": 300,  # dma_release_channel: mutex, dma_chan_put
    "pt_build_desc": 150,  # pt_core_perform_passthru + execute_cmd: dw0..dw5, 32 B memcpy
    "pt_irq_software": 60,  # pt_core_irq_handler body besides MMIO (counters, calls)
    "sg_alloc_entry": 15,  # sg_alloc_table per entry (chained kmalloc + sg_init)
    "sg_set_entry": 10,  # sg_set_folio per entry
    "dma_map_sg_entry": 40,  # iommu_map of one page-table entry inside dma_map_sg
    "dcbm_folio": 30,  # per-folio list walk / bookkeeping in folios_copy_dma
    "dcbm_setup": 300,  # per call: kcalloc(works) + mask setup
    "mutex_op": 40,  # mutex_trylock / mutex_unlock pair, uncontended
    "complete_wakeup": 600,  # complete() -> wake_up of the waiter + context switch
}


# Linux 6.16-rc6 (the kernel of RFC v3's runs, calibration.md §4) versus 6.8 (the seed's):
# the same box migrates 4 KiB pages at 1.10 us per page for the whole move_pages() in v3's
# vanilla baseline, against 1.885 us per page inside migrate_pages() alone in the seed's
# generic runs. Folio conversion, batched rmap and TLB work between the two releases cut the
# per-folio software costs; the copy and the hardware are unchanged. One cost table per
# kernel release, each fitted to its own release's published runs (est): the overrides below
# bring the per-page non-copy work of move_pages() to ~1.39k cycles (0.70 us), which both v3
# single-channel 4 KiB points imply (calibration.md §5).
LINUX_6_16_OP_CYCLES: dict[str, int] = {
    "unmap_per_mapping": 350,
    "pte_restore_per_mapping": 300,
    "alloc_dst_folio": 200,
    "isolate_folio": 120,
    "metadata_copy": 120,
    "follow_page": 100,
    "lru_add": 60,
    "folio_lock": 20,
    "migrate_folio_done": 40,
    "folio_put": 20,
    "anon_vma_ref": 16,
    "cond_resched": 8,
    "kmalloc": 40,
}

KERNEL_OP_CYCLES: dict[str, dict[str, int]] = {"6.8": {}, "6.16": LINUX_6_16_OP_CYCLES}


@dataclass(frozen=True)
class PlatformPreset:
    """Everything that defines one emulated platform."""

    name: str
    description: str
    clocks: ClockParams = field(default_factory=ClockParams)
    topology: TopologyParams = field(default_factory=TopologyParams)
    memory: MemoryTimingParams = field(default_factory=MemoryTimingParams)
    mmio: MmioParams = field(default_factory=MmioParams)
    interrupts: InterruptParams = field(default_factory=InterruptParams)
    cpu_copy: CpuCopyParams = field(default_factory=CpuCopyParams)
    dma: DmaEngineParams = field(default_factory=DmaEngineParams)
    host: HostSoftwareParams = field(default_factory=HostSoftwareParams)
    cpu_op_cycles: dict[str, int] = field(
        default_factory=lambda: {**DEFAULT_CPU_OP_CYCLES, **DRIVER_CPU_OP_CYCLES}
    )
    # Per kernel release: overrides of cpu_op_cycles ("6.8" is the table above itself).
    kernel_op_cycles: dict[str, dict[str, int]] = field(
        default_factory=lambda: {k: dict(v) for k, v in KERNEL_OP_CYCLES.items()}
    )
    jitter: JitterParams = field(default_factory=JitterParams)

    def perturbed(self, rng: np.random.Generator) -> PlatformPreset:
        """This preset with every timing parameter drawn around its value (one seeded run).

        Latencies (``*_ns``), rates (``*_gbps``) and cycle costs each get a factor
        ``1 + sigma * N(0, 1)`` (clipped to [0.5, 2]); sizes, counts and clocks never change.
        """
        j = self.jitter

        def factor(sigma: float) -> float:
            return float(np.clip(1.0 + sigma * rng.standard_normal(), 0.5, 2.0))

        changes: dict[str, Any] = {}
        for section in ("memory", "mmio", "interrupts", "cpu_copy", "dma", "host"):
            cur = getattr(self, section)
            vals: dict[str, Any] = {}
            for f in dataclasses.fields(cur):
                v = getattr(cur, f.name)
                if f.name.endswith("_ns"):
                    vals[f.name] = v * factor(j.latency_sigma)
                elif f.name.endswith("_gbps"):
                    vals[f.name] = v * factor(j.bandwidth_sigma)
                elif f.name.endswith("_cycles") and isinstance(v, int):
                    vals[f.name] = max(1, round(v * factor(j.op_cost_sigma)))
            changes[section] = dataclasses.replace(cur, **vals)
        changes["cpu_op_cycles"] = {
            k: max(
                0, round(v * factor(j.cold_call_sigma if k.endswith("_call") else j.op_cost_sigma))
            )
            for k, v in sorted(self.cpu_op_cycles.items())
        }
        return dataclasses.replace(self, **changes)

    def op_cycles_for(self, kernel_release: str) -> dict[str, int]:
        """The CPU cost table of ``kernel_release`` ("6.8" or "6.16")."""
        try:
            overrides = self.kernel_op_cycles[kernel_release]
        except KeyError:
            known = ", ".join(self.kernel_op_cycles)
            raise ValueError(
                f"no cost table for kernel {kernel_release!r}; known: {known}"
            ) from None
        return {**self.cpu_op_cycles, **overrides}

    def replace(self, **changes: Any) -> PlatformPreset:
        """A copy with whole sections or ``section__field`` values changed.

        Example: ``preset.replace(dma__engine_cap_gbps=16.0, mmio__read_round_trip_ns=500)``.
        """
        direct = {k: v for k, v in changes.items() if "__" not in k}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            if "__" in key:
                section, name = key.split("__", 1)
                nested.setdefault(section, {})[name] = value
        for section, values in nested.items():
            current = getattr(self, section)
            if isinstance(current, dict):
                merged = dict(current)
                merged.update(values)
                direct[section] = merged
            else:
                direct[section] = dataclasses.replace(current, **values)
        return dataclasses.replace(self, **direct)


PRESETS: dict[str, PlatformPreset] = {
    "zen3-epyc-2s": PlatformPreset(
        name="zen3-epyc-2s",
        description=(
            "AMD Zen 3 EPYC, 2 sockets / 2 NUMA nodes, 2 GHz, PTDMA engines "
            "(the seed RFC's test box, calibration.md §1)"
        ),
    ),
}


def get_preset(name: str = "zen3-epyc-2s") -> PlatformPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown platform preset {name!r}; known: {', '.join(PRESETS)}") from None
