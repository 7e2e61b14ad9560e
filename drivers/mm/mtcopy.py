"""mtcopy: the multi-threaded CPU batch copier of RFC v2/v3 6/9 + 9/9
(``drivers/migoffcopy/mtcopy/copy_pages.c``, linux-design §3.1).

Migrator "CPU_MT_COPY" with ``migrate_offc = copy_page_lists_mt``. ``limit_mt_num`` (T,
sysfs ``/sys/kernel/cpu_mt/threads``, 1..64, default 4) work items copy the batch:

- n < T folios: every folio is split into T chunks of ``folio_size // T`` bytes (the
  remainder is not copied: ``VM_WARN_ON``), thread t copies chunk t of every folio;
- n >= T: whole folios, thread t takes ``n // T + (t < n % T)`` folios as a contiguous run.

Each work item runs as a kworker process on a chosen CPU (``queue_work_on``; 9/9
``cpuselect``: "spread" = one CPU per CCD in turn, "fill" = CPUs 0..31; None = the unbound
workqueue, CPUs of the caller's node) and is timed by the CPU model, so threads on one CCD
share its fabric port. The caller ``flush_work``s every item; any copy failure gives
-EAGAIN (the batch move then falls back to a serial copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.event_kernel import Process

from . import cost
from .errno import EAGAIN, EINVAL, ENOMEM
from .folio import FOLIO_CONTENT_COPIED, Folio, PG_hwpoison
from .migrate_copy_offload import MigrateCopyOffload, OffloadMigrator
from .migrate_dma import Migrator, MigratorRegistry
from .module import Module

if TYPE_CHECKING:
    from drivers.kernel import Kernel

MAX_NUM_COPY_THREADS = 64
MAX_CPUSELECT_THREADS = 32  # v2 9/9: the CPU lists hold 32 entries


@dataclass
class CopyItem:
    """One ``{to, from, chunk_size}`` entry of a ``copy_page_info`` work item."""

    to: int
    frm: int
    chunk_size: int
    src: Folio


class MtCopy:
    """The mtcopy module for one kernel (``kernel.subsystem(MtCopy)``)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.module = Module("mtcopy")
        self.limit_mt_num = 4
        self.cpuselect: str | None = None  # None (unbound wq) | "spread" | "fill"
        self.interface = "offc"  # "offc" (v2/v3 registry) | "offload" (latest interface)
        self.alloc_fault = False  # kzalloc(GFP_NOWAIT) failure injection
        self.offloading = False
        self.migrator = Migrator("CPU_MT_COPY", self.copy_page_lists_mt, None, self.module)
        self.offload_migrator = OffloadMigrator("CPU_MT_COPY", self._offload_copy, self.module)
        self.warnings: list[str] = []
        self.last_plan: list[list[CopyItem]] = []
        self.last_cpus: list[int] = []

    # ------------------------------------------------------------------ sysfs
    def set_threads(self, n: int) -> int:
        """``threads`` store: 1..MAX_NUM_COPY_THREADS, else -EINVAL."""
        if not 1 <= n <= MAX_NUM_COPY_THREADS:
            return -EINVAL
        self.limit_mt_num = n
        return 0

    def set_offloading(self, on: bool) -> int:
        """``offloading`` store: start/stop offloading through the selected interface."""
        if on == self.offloading:
            return 0
        if self.interface == "offload":
            reg = self.kernel.subsystem(MigrateCopyOffload)
            if on:
                rc = reg.migrate_offload_register(self.offload_migrator, (1 << 10) - 1)
                if rc:
                    return rc
            else:
                reg.migrate_offload_unregister(self.offload_migrator)
        else:
            registry = self.kernel.subsystem(MigratorRegistry)
            if on:
                registry.start_offloading(self.migrator)
            else:
                registry.stop_offloading()
        self.offloading = on
        return 0

    # ------------------------------------------------------------------ placement
    def cpu_list(self) -> list[int]:
        """The CPUs work items are queued on, in order (v2 9/9 ``cpu_id_list_0/1``)."""
        cpu = self.kernel.cpu
        cores = cpu.cores
        if self.cpuselect == "fill":
            return [c.id for c in cores][:MAX_CPUSELECT_THREADS]
        if self.cpuselect == "spread":
            ccds = sorted({c.ccd for c in cores})
            per_ccd = {d: [c.id for c in cores if c.ccd == d] for d in ccds}
            depth = max(len(v) for v in per_ccd.values())
            out = [per_ccd[d][k] for k in range(depth) for d in ccds if k < len(per_ccd[d])]
            return out[:MAX_CPUSELECT_THREADS]
        me = cpu.current_core()
        local = [c.id for c in cores if c.node == me.node and c.id != me.id]
        return local or [me.id]

    # ------------------------------------------------------------------ copy
    def plan(self, dst_list: list[Folio], src_list: list[Folio], nr: int, threads: int
             ) -> list[list[CopyItem]]:
        """The work items' copy lists (the split rule of copy_page_lists_mt)."""
        items: list[list[CopyItem]] = [[] for _ in range(threads)]
        n = min(nr, len(src_list), len(dst_list))
        if n < threads:
            for d, s in zip(dst_list[:n], src_list[:n], strict=True):
                chunk = s.size // threads
                if chunk * threads != s.size:
                    self.warnings.append(f"VM_WARN_ON: {s.size} B folio not divisible by {threads}")
                for t in range(threads):
                    items[t].append(CopyItem(d.phys + t * chunk, s.phys + t * chunk, chunk, s))
        else:
            per, extra = divmod(n, threads)
            k = 0
            for t in range(threads):
                cnt = per + (1 if t < extra else 0)
                for d, s in zip(dst_list[k : k + cnt], src_list[k : k + cnt], strict=True):
                    items[t].append(CopyItem(d.phys, s.phys, s.size, s))
                k += cnt
        return items

    def _work(self, items: list[CopyItem], result: list[int], slot: int) -> None:
        """A kworker running one ``copy_page_info``: ``copy_mc_to_kernel`` per entry."""
        cpu = self.kernel.cpu
        cpu.op("kworker_wakeup")
        good = []
        for it in items:
            if it.src.flags & PG_hwpoison:
                result[slot] = it.chunk_size  # bytes not copied
                break
            good.append(it)
        if good:
            cpu.copy_many([g.to for g in good], [g.frm for g in good],
                          [g.chunk_size for g in good], what="mtcopy")

    def copy_page_lists_mt(self, dst_list: list[Folio], src_list: list[Folio],
                           folio_cnt: int) -> int:
        """``copy_page_lists_mt``: split the batch over T kworkers, wait for all of them."""
        kernel = self.kernel
        threads = min(self.limit_mt_num, MAX_NUM_COPY_THREADS)
        cpus = self.cpu_list()
        if self.cpuselect is not None:
            threads = min(threads, MAX_CPUSELECT_THREADS)
        cost.op(kernel, "mtcopy_setup")
        if self.alloc_fault:
            return -ENOMEM
        plan = self.plan(dst_list, src_list, folio_cnt, threads)
        self.last_plan = plan
        result = [0] * threads
        procs: list[Process] = []
        used: list[int] = []
        cost.flush(kernel)
        for t in range(threads):
            core = cpus[t % len(cpus)]
            used.append(core)
            kernel.cpu.op("queue_work")  # queue_work_on(cpu, system_unbound_wq, ...)
            procs.append(kernel.sim.spawn(self._work, plan[t], result, t, core=core,
                                          name=f"kworker/{core}:mtcopy"))
        self.last_cpus = used
        for p in procs:
            kernel.cpu.op("flush_work")
            p.join()
        n = min(folio_cnt, len(src_list), len(dst_list))
        if n != folio_cnt:
            self.warnings.append(f"only {n} out of {folio_cnt} pages are transferred")
        if any(result):
            return -EAGAIN
        return 0

    def _offload_copy(self, dst_list: list[Folio], src_list: list[Folio], cnt: int) -> int:
        """The latest-interface wrapper: copy, then mark every dst FOLIO_CONTENT_COPIED."""
        rc = self.copy_page_lists_mt(dst_list, src_list, cnt)
        if rc == 0:
            for d in dst_list[:cnt]:
                d.migrate_info |= FOLIO_CONTENT_COPIED
        return rc
