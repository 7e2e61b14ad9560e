"""DCBM v1 / v3 / latest on the PTDMA stack: correct bytes for 1..1024 folios over 1..16
channels, the control surface, registration, and the error / timeout behaviours
(linux-design §2.5, §4, §5.3, §6.5; ptdma-model §9 H)."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.dcbm.dcbm import Dcbm
from drivers.dcbm.dcbm_latest import DcbmLatest
from drivers.dcbm.dcbm_v1 import DcbmV1
from drivers.dcbm.dcbm_v3 import DcbmV3
from drivers.dmaengine.dmaengine import DmaEngine, ErrPtr, KernelOops
from drivers.kernel import Kernel
from drivers.mm.errno import EBUSY, EINVAL, EIO, ENODEV, ENOENT, ETIMEDOUT
from drivers.mm.folio import FOLIO_CONTENT_COPIED, Folio, PG_private
from drivers.mm.migrate_copy_offload import MigrateCopyOffload
from drivers.mm.migrate_dma import MigratorRegistry
from emulator.event_kernel import S
from emulator.platform import Platform
from tests.drivers.conftest import Batch, Stack, core_fallback, make_batch, make_stack, wrong_folios


def enable(s: Stack, version: str, nch: int = 1, **attrs: Any) -> Dcbm:
    d = s.kernel.subsystem(Dcbm)
    for k, v in attrs.items():
        assert d.store(k, v) > 0
    assert s.call(d.enable, version, nch) == 0
    return d


def copy(s: Stack, d: Dcbm, b: Batch, core: int = 0) -> int:
    rc = s.call(d.folios_copy_dma, b.dsts, b.srcs, len(b.srcs), core=core)
    assert isinstance(rc, int)
    return rc


# --------------------------------------------------------------------------- correctness
@pytest.mark.parametrize(("version", "n", "nch", "engines"), [
    ("v1", 1, 1, 1),
    ("v1", 512, 1, 2),
    ("v1", 1024, 16, 16),
    ("v3", 1, 1, 1),
    ("v3", 7, 3, 4),
    ("v3", 512, 1, 1),
    ("v3", 1024, 16, 16),
    ("v3", 100, 16, 16),
    ("latest", 1, 1, 1),
    ("latest", 7, 3, 4),
    ("latest", 1024, 16, 16),
])
def test_each_form_copies_correct_bytes(version: str, n: int, nch: int, engines: int) -> None:
    s = make_stack(engines)
    d = enable(s, version, nch)
    b = make_batch(s.platform, n)
    assert copy(s, d, b) == 0
    if version == "latest":
        assert all(f.migrate_info & FOLIO_CONTENT_COPIED for f in b.dsts)
        assert core_fallback(s.kernel, b) == 0  # nothing left for the CPU
    assert wrong_folios(s.platform, b) == []
    assert d.folios_migrated == n and d.folios_failures == 0
    assert all(not pt.late_completions for pt in s.pts)  # no premature completion anywhere
    if version == "v3":
        v3 = d.impl()
        assert isinstance(v3, DcbmV3)
        assert v3.last_channels == min(nch, n, engines, 16)
        assert v3.last_descs == n  # IOMMU off: no merging, one descriptor per folio
        # channels are requested per call and released afterwards
        assert all(pt.dma_dev.channels[0].client_count == 0 for pt in s.pts)


@pytest.mark.parametrize("version", ["v3", "latest"])
def test_large_and_mixed_folios(version: str) -> None:
    s = make_stack(4)
    d = enable(s, version, 4)
    b = make_batch(s.platform, 6, order=[0, 9, 4, 0, 9, 2])
    assert copy(s, d, b) == 0
    core_fallback(s.kernel, b)
    assert wrong_folios(s.platform, b) == []


@pytest.mark.parametrize("version", ["v1", "v3", "latest"])
def test_translated_iommu_copies_correct_bytes(version: str) -> None:
    s = make_stack(2, iommu="translated")
    d = enable(s, version, 2)
    b = make_batch(s.platform, 64)
    assert copy(s, d, b) == 0
    core_fallback(s.kernel, b) if version == "latest" else None
    assert wrong_folios(s.platform, b) == []
    # every streaming mapping was torn down again (only the rings stay mapped)
    for e in s.engines:
        assert s.platform.iommu.domain(e.pci.dma_name).mapped_pages <= 1


def test_v3_descriptor_count_depends_on_iommu_merging() -> None:
    descs = {}
    for mode in ("passthrough", "translated"):
        s = make_stack(1, iommu=mode)
        d = enable(s, "v3", 1)
        b = make_batch(s.platform, 64)
        assert copy(s, d, b) == 0
        assert wrong_folios(s.platform, b) == []
        v3 = d.impl()
        assert isinstance(v3, DcbmV3)
        descs[mode] = v3.last_descs
    assert descs == {"passthrough": 64, "translated": 4}  # 16 pages per 64 KiB segment


# --------------------------------------------------------------------------- control surface
def test_registration_through_the_mm_interfaces() -> None:
    s = make_stack(2)
    k = s.kernel
    reg = k.subsystem(MigratorRegistry)
    off = k.subsystem(MigrateCopyOffload)
    d = enable(s, "v1")
    assert reg.get_active_migrator_name() == "DCBM"
    assert d.store("version", "v3") == -EBUSY  # only while offloading is off
    assert s.call(d.disable) == 0
    assert reg.get_active_migrator_name() == "kernel"
    d = enable(s, "v3")
    assert reg.active.name == "DCBM" and reg.active.can_migrate_dma is None
    assert s.call(d.disable) == 0
    d = enable(s, "latest", 2)
    assert off.get_active_migrator_name() == "DCBM" and off.enabled
    assert reg.get_active_migrator_name() == "kernel"
    latest = d.impl()
    assert isinstance(latest, DcbmLatest) and len(latest.chans) == 2
    assert s.call(d.disable) == 0
    assert off.get_active_migrator_name() == "kernel" and not latest.chans


def test_sysfs_attributes_and_errnos() -> None:
    s = make_stack(2)
    d = s.kernel.subsystem(Dcbm)
    assert d.store("nr_dma_chan", "0") == -EINVAL
    assert d.store("nr_dma_chan", "17") == -EINVAL
    assert d.store("nr_dma_chan", "abc") == -EINVAL
    assert d.store("nr_dma_chan", "2") == 1 and d.show("nr_dma_chan") == "2"
    assert d.store("offloading", "maybe") == -EINVAL
    assert d.store("no_such_attr", "1") == -ENOENT
    assert d.store("version", "v9") == -EINVAL
    assert d.show("cache_ctrl") == "Y" and d.store("cache_ctrl", "0") == 1
    assert d.show("cache_ctrl") == "N"
    assert d.show("sg_elems") == "32" and d.store("sg_elems", "0") == -EINVAL
    assert d.store("reason_mask", "compaction,demotion") > 0
    assert d.show("reason_mask") == "compaction,demotion"
    assert d.store("reason_mask", "bogus") == -EINVAL
    assert s.call(d.store, "offloading", "1") == 1
    assert d.show("offloading") == "1"
    assert d.store("nr_dma_chan", "1") == -EBUSY  # latest: only while disabled
    assert s.call(d.store, "offloading", "1") == 1  # already ON is not an error
    b = make_batch(s.platform, 8)
    copy(s, d, b)
    assert d.show("folios_migrated") == "8"
    assert d.store("folios_migrated", "whatever") > 0 and d.show("folios_migrated") == "0"


def test_v1_store_returns_sizeof_int_and_count_when_fixed() -> None:
    s = make_stack(1)
    d = s.kernel.subsystem(Dcbm)
    assert d.set_version("v1") == 0
    assert s.call(d.store, "offloading", "1\n") == 4  # sizeof(action), as posted
    assert s.call(d.store, "offloading", "0\n") == 4
    assert d.store("v1_double_copy", "0") > 0
    assert s.call(d.store, "offloading", "1\n") == 2  # count = len("1\n")


# --------------------------------------------------------------------------- v1 specifics
def test_v1_can_migrate_dma_is_order0_only() -> None:
    p = Platform(seed=0)
    f0 = Folio(p.alloc_pages(0), 0, 0)
    g0 = Folio(p.alloc_pages(0), 0, 0)
    big = Folio(p.alloc_pages(0, 9), 9, 0)
    big2 = Folio(p.alloc_pages(0, 9), 9, 0)
    assert DcbmV1.can_migrate_dma(g0, f0)
    assert not DcbmV1.can_migrate_dma(big2, big)  # THP -> CPU path
    assert not DcbmV1.can_migrate_dma(big, f0)
    hug = Folio(p.alloc_pages(0), 0, 0, hugetlb=True)
    assert not DcbmV1.can_migrate_dma(g0, hug)
    priv = Folio(p.alloc_pages(0), 0, 0, flags=PG_private)
    assert not DcbmV1.can_migrate_dma(priv, f0)


@pytest.mark.parametrize("double_copy", [True, False])
def test_v1_double_copy(double_copy: bool) -> None:
    s = make_stack(1)
    d = enable(s, "v1", v1_double_copy="1" if double_copy else "0")
    n = 16
    b = make_batch(s.platform, n)
    cpu_bytes0 = sum(c.copy_bytes for c in s.platform.cpu.cores)
    assert copy(s, d, b) == 0
    cpu_bytes = sum(c.copy_bytes for c in s.platform.cpu.cores) - cpu_bytes0
    assert wrong_folios(s.platform, b) == []
    v1 = d.impl()
    assert isinstance(v1, DcbmV1) and v1.pages_dma == n
    assert cpu_bytes == (n * 4096 if double_copy else 0)
    # one dmaengine_terminate_sync per page
    assert s.platform.cpu.op_counts["dmaengine_terminate"] == n


def test_v1_failed_enable_leaves_err_ptr_which_oopses() -> None:
    p = Platform(seed=0)
    s = Stack(p, Kernel(p), [], [])
    d = s.kernel.subsystem(Dcbm)
    d.set_version("v1")
    assert s.call(d.store, "offloading", "1") == -ENODEV
    v1 = d.impl()
    assert isinstance(v1, DcbmV1) and isinstance(v1.chan, ErrPtr)
    b = make_batch(p, 2)
    with pytest.raises(KernelOops, match="ERR_PTR"):
        copy(s, d, b)
    # with the quirks off, the channel stays NULL and the batch is CPU-copied
    d.v1_double_copy = False
    assert s.call(d.store, "offloading", "1") == -ENODEV
    assert v1.chan is None
    assert copy(s, d, b) == 0 and wrong_folios(p, b) == []


@pytest.mark.parametrize(("reporting", "double_copy", "wrong"), [
    ("faithful", True, []),  # the trailing CPU copy hides the lost page
    ("faithful", False, [2]),  # §6.5: the error completes as NOERROR, no fallback
    ("strict", False, []),  # DMA_ERROR -> per-page folio_copy
])
def test_v1_device_error(reporting: str, double_copy: bool, wrong: list[int]) -> None:
    s = make_stack(1, error_reporting=reporting)
    d = enable(s, "v1", v1_double_copy="1" if double_copy else "0")
    b = make_batch(s.platform, 5)
    bad = b.srcs[2].phys
    s.engines[0].faults.inject("read", "SLVERR", addr_range=(bad, bad + 4096))
    assert copy(s, d, b) == 0
    assert wrong_folios(s.platform, b) == wrong
    v1 = d.impl()
    assert isinstance(v1, DcbmV1)
    assert len(s.pts[0].errors_logged) == 1
    assert v1.pages_cpu_fallback == (1 if reporting == "strict" else 0)


def test_v1_hang_times_out_per_page_and_falls_back() -> None:
    s = make_stack(1)
    d = enable(s, "v1", v1_double_copy="0")
    b = make_batch(s.platform, 4)
    bad = b.srcs[1].phys
    s.engines[0].faults.hang("read", addr_range=(bad, bad + 4096))
    t0 = s.platform.sim.now
    assert copy(s, d, b) == 0
    dt = s.platform.sim.now - t0
    assert wrong_folios(s.platform, b) == []
    v1 = d.impl()
    assert isinstance(v1, DcbmV1)
    # the engine stays stuck on page 1: pages 1..3 each wait 5 s, then folio_copy
    assert v1.pages_dma == 1 and v1.pages_cpu_fallback == 3
    assert 15 * S <= dt < 16 * S
    assert s.kernel.subsystem(DmaEngine).sync_wait_timeouts == 3


@pytest.mark.parametrize("double_copy", [True, False])
def test_v1_concurrent_batches_race_on_the_one_channel(double_copy: bool) -> None:
    """Two migrations share v1's single channel. Both poll it, and pt_check_status_trans
    has no lock: a status read by both pollers completes the next, not yet run,
    descriptor (reported as "double_status"). Without the trailing CPU copy a page is lost
    silently; with it the data is right."""
    s = make_stack(1)
    d = enable(s, "v1", v1_double_copy="1" if double_copy else "0")
    p = s.platform
    b1, b2 = make_batch(p, 32, seed=1), make_batch(p, 32, seed=2)
    procs = [p.spawn(d.folios_copy_dma, b.dsts, b.srcs, 32, core=c)
             for c, b in ((0, b1), (1, b2))]
    p.sim.run_until(lambda: all(x.finished for x in procs))
    assert all(x.exception is None for x in procs)
    kinds = {lc.kind for lc in s.pts[0].late_completions}
    assert kinds == {"double_status"}
    lost = wrong_folios(p, b1) + wrong_folios(p, b2)
    if double_copy:
        assert lost == []
    else:
        assert lost  # a premature completion, then the batch moved on: no error anywhere
        assert d.folios_failures == 0


# --------------------------------------------------------------------------- v3 specifics
def test_v3_hang_times_out_and_cpu_copies_the_batch() -> None:
    s = make_stack(2)
    d = enable(s, "v3", 2)
    b = make_batch(s.platform, 8)
    bad = b.srcs[6].phys  # on the second channel's slice
    s.engines[1].faults.hang("read", addr_range=(bad, bad + 4096))
    t0 = s.platform.sim.now
    assert copy(s, d, b) == 0
    dt = s.platform.sim.now - t0
    assert wrong_folios(s.platform, b) == []
    v3 = d.impl()
    assert isinstance(v3, DcbmV3)
    assert v3.fallbacks == 1 and v3.last_error == -ETIMEDOUT
    assert 10 * S <= dt < 10 * S + 1_000_000_000  # the 10 s wait, then cleanup and CPU copy
    assert d.folios_failures == 8
    # the pending channel was terminated; both channels were released
    assert s.platform.cpu.op_counts["dmaengine_terminate"] == 1
    assert all(pt.dma_dev.channels[0].client_count == 0 for pt in s.pts)


@pytest.mark.parametrize("reporting", ["faithful", "strict"])
def test_v3_never_sees_device_errors(reporting: str) -> None:
    """v3 waits only for the last descriptor's callback and never checks a status: an
    error on an earlier descriptor goes unnoticed in either reporting mode."""
    s = make_stack(1, error_reporting=reporting)
    d = enable(s, "v3", 1)
    b = make_batch(s.platform, 6)
    bad = b.srcs[3].phys
    s.engines[0].faults.inject("read", "SLVERR", addr_range=(bad, bad + 4096))
    assert copy(s, d, b) == 0
    assert wrong_folios(s.platform, b) == [3]
    assert d.folios_migrated == 6 and d.folios_failures == 0


def test_v3_nents_mismatch_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import drivers.dcbm.dcbm_v3 as m
    from drivers.dmaengine.dma_mapping import DMA_FROM_DEVICE, dma_map_sgtable

    def uneven(dev: Any, sgt: Any, direction: int, attrs: int = 0) -> int:
        ret = dma_map_sgtable(dev, sgt, direction, attrs)
        if direction == DMA_FROM_DEVICE and sgt.nents > 1:
            sgt.nents -= 1  # an IOMMU that merged the two sides differently
        return ret

    monkeypatch.setattr(m, "dma_map_sgtable", uneven)
    s = make_stack(1)
    d = enable(s, "v3", 1)
    b = make_batch(s.platform, 4)
    assert copy(s, d, b) == 0
    v3 = d.impl()
    assert isinstance(v3, DcbmV3) and v3.last_error == -EINVAL
    assert wrong_folios(s.platform, b) == []


def test_v3_without_free_channels_cpu_copies() -> None:
    s = make_stack(1)
    d = enable(s, "v3", 1)
    from drivers.dmaengine.dmaengine import DMA_MEMCPY, DmaCapMask, dma_request_channel
    held = dma_request_channel(s.kernel, DmaCapMask(DMA_MEMCPY))
    assert held is not None
    b = make_batch(s.platform, 3)
    assert copy(s, d, b) == 0
    v3 = d.impl()
    assert isinstance(v3, DcbmV3) and v3.last_error == -ENODEV
    assert wrong_folios(s.platform, b) == []


# --------------------------------------------------------------------------- latest specifics
@pytest.mark.parametrize("reporting", ["faithful", "strict"])
def test_latest_device_error(reporting: str) -> None:
    s = make_stack(1, error_reporting=reporting)
    d = enable(s, "latest", 1)
    b = make_batch(s.platform, 5)
    bad = b.srcs[1].phys
    s.engines[0].faults.inject("read", "SLVERR", addr_range=(bad, bad + 4096))
    rc = copy(s, d, b)
    if reporting == "faithful":
        # §6.5: NOERROR reaches callback_result, DCBM marks the folio copied: data lost
        assert rc == 0 and all(f.migrate_info & FOLIO_CONTENT_COPIED for f in b.dsts)
        assert core_fallback(s.kernel, b) == 0
        assert wrong_folios(s.platform, b) == [1]
    else:
        assert rc == -EIO and not any(f.migrate_info & FOLIO_CONTENT_COPIED for f in b.dsts)
        assert d.folios_failures == 5
        assert core_fallback(s.kernel, b) == 5
        assert wrong_folios(s.platform, b) == []


def test_latest_all_busy_is_refused_then_cpu_copied() -> None:
    s = make_stack(1)
    d = enable(s, "latest", 1)
    p = s.platform
    b1, b2 = make_batch(p, 64, seed=1), make_batch(p, 8, seed=2)
    rcs: dict[str, int] = {}

    def batch(name: str, b: Batch) -> None:
        rcs[name] = d.folios_copy_dma(b.dsts, b.srcs, len(b.srcs))

    p1 = p.spawn(batch, "a", b1, core=0)
    p2 = p.spawn(batch, "b", b2, core=1, delay=1000_000)  # 1 µs later: channel taken
    p.sim.run_until(lambda: p1.finished and p2.finished)
    assert rcs == {"a": 0, "b": -EBUSY}
    assert d.batches_refused == 1 and d.show("batches_refused") == "1"
    assert not any(f.migrate_info & FOLIO_CONTENT_COPIED for f in b2.dsts)
    s.call(core_fallback, s.kernel, b1)
    s.call(core_fallback, s.kernel, b2)
    assert wrong_folios(p, b1) == [] and wrong_folios(p, b2) == []


def test_latest_concurrent_batches_use_different_channels() -> None:
    s = make_stack(2)
    d = enable(s, "latest", 2)
    p = s.platform
    latest = d.impl()
    assert isinstance(latest, DcbmLatest)
    b1, b2 = make_batch(p, 32, seed=1), make_batch(p, 32, seed=2)

    def batch(b: Batch) -> None:
        assert d.folios_copy_dma(b.dsts, b.srcs, len(b.srcs)) == 0

    p1 = p.spawn(batch, b1, core=0)
    p2 = p.spawn(batch, b2, core=1, delay=1000_000)
    p.sim.run_until(lambda: p1.finished and p2.finished)
    assert p1.exception is None and p2.exception is None
    assert d.batches_refused == 0
    # PTDMA: one channel per device, so one group per channel and one channel per batch
    assert len(latest.groups) == 2 and all(g.nr == 1 for g in latest.groups)
    assert sorted(c for claim in latest.claims for c in claim) == ["dma0chan0", "dma1chan0"]
    assert wrong_folios(p, b1) == [] and wrong_folios(p, b2) == []


def test_latest_prefers_the_destination_node_with_a_rotating_cursor() -> None:
    s = make_stack(16)  # engines 0-7 on node 0, 8-15 on node 1
    d = enable(s, "latest", 16)
    latest = d.impl()
    assert isinstance(latest, DcbmLatest)
    by_name = {pt.dma_dev.channels[0].name: pt.dev.node for pt in s.pts}
    used: dict[int, set[str]] = {0: set(), 1: set()}
    for i in range(6):
        dst_node = i % 2
        b = make_batch(s.platform, 4, src_node=1 - dst_node, dst_node=dst_node, seed=i)
        assert copy(s, d, b) == 0
        assert wrong_folios(s.platform, b) == []
        (name,) = latest.last_claimed
        assert by_name[name] == dst_node
        used[dst_node].add(name)
    assert len(used[0]) == 3 and len(used[1]) == 3  # the cursor rotates over the groups


def test_latest_hang_blocks_forever_and_never_terminates() -> None:
    s = make_stack(1)
    d = enable(s, "latest", 1)
    p = s.platform
    b = make_batch(p, 4)
    s.engines[0].faults.hang("read")
    proc = p.spawn(d.folios_copy_dma, b.dsts, b.srcs, 4)
    p.run(until=p.sim.now + 60 * S)
    assert not proc.finished  # wait_for_completion has no timeout
    assert p.cpu.op_counts["dmaengine_terminate"] == 0
