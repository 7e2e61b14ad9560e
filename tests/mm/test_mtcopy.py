"""mtcopy: the split rule, thread placement (CCD port sharing), limits and fallbacks."""

from __future__ import annotations

import numpy as np

from drivers.mm.errno import EINVAL
from drivers.mm.migrate import poison_folio
from drivers.mm.mtcopy import MtCopy

from .helpers import checksums, make_env, move, populate


def mt_env(threads: int, cpuselect: str | None = None, flavour: str = "v3"):  # type: ignore[no-untyped-def]
    env = make_env(flavour)
    mt = env.kernel.subsystem(MtCopy)
    assert mt.set_threads(threads) == 0
    mt.cpuselect = cpuselect
    if flavour == "latest":
        mt.interface = "offload"
    assert env.call(mt.set_offloading, True) == 0
    return env, mt


def test_split_rule_small_batch_chunks_every_folio() -> None:
    env, mt = mt_env(4)
    r = populate(env, 2, node=1)
    before = checksums(env, r)
    assert move(env, r, 0)[0] == 0
    plan = mt.last_plan
    assert [len(items) for items in plan] == [2, 2, 2, 2]  # n=2 < T=4: 4 chunks per folio
    assert {it.chunk_size for items in plan for it in items} == {1024}
    assert [it.frm - r.folios[0].phys for it in [p[0] for p in plan]] == [0, 1024, 2048, 3072]
    assert np.array_equal(checksums(env, r), before)


def test_split_rule_large_batch_contiguous_runs() -> None:
    env, mt = mt_env(4)
    r = populate(env, 10, node=1)
    src = [f.phys for f in r.folios]
    before = checksums(env, r)
    assert move(env, r, 0)[0] == 0
    runs = [[it.frm for it in items] for items in mt.last_plan]
    assert runs == [src[0:3], src[3:6], src[6:8], src[8:10]]  # 10 = 3+3+2+2, in order
    assert np.array_equal(checksums(env, r), before)


def test_indivisible_chunk_loses_the_remainder() -> None:
    env, mt = mt_env(3)
    r = populate(env, 1, node=1)
    before = checksums(env, r)
    assert move(env, r, 0)[0] == 0
    assert mt.warnings and "not divisible" in mt.warnings[0]
    assert not np.array_equal(checksums(env, r), before)  # the last byte was never copied


def test_thread_limits() -> None:
    env = make_env("v3")
    mt = env.kernel.subsystem(MtCopy)
    assert mt.set_threads(0) == -EINVAL
    assert mt.set_threads(65) == -EINVAL
    assert mt.set_threads(64) == 0


def _copy_ps(cpuselect: str) -> tuple[int, list[int]]:
    env, mt = mt_env(4, cpuselect)
    r = populate(env, 4 * 512, node=1, order=9)
    assert move(env, r, 0)[0] == 0
    ccds = [env.kernel.cpu.cores[c].ccd for c in mt.last_cpus]
    return env.core.records[-1].copy_ps, ccds


def test_placement_spread_beats_fill() -> None:
    fill_ps, fill_ccds = _copy_ps("fill")
    spread_ps, spread_ccds = _copy_ps("spread")
    assert len(set(fill_ccds)) == 1  # cores 0..3 share one CCD port
    assert len(set(spread_ccds)) == 4
    assert spread_ps < fill_ps * 0.6


def test_copy_failure_gives_eagain_and_serial_fallback() -> None:
    env, _mt = mt_env(2)
    r = populate(env, 6, node=1)
    poison_folio(r.folios[4])
    before = checksums(env, r)
    rc, _ = move(env, r, 0)
    assert rc == 1
    assert r.task.mm.page_nodes(r.addr, 6) == [0, 0, 0, 0, 1, 0]  # type: ignore[union-attr]
    assert np.array_equal(checksums(env, r), before)


def test_mtcopy_on_latest_interface() -> None:
    env, mt = mt_env(4, "spread", flavour="latest")
    r = populate(env, 64, node=1)
    before = checksums(env, r)
    assert move(env, r, 0)[0] == 0
    assert len(mt.last_plan) == 4
    assert env.core.records[-1].migrator == "CPU_MT_COPY"
    assert np.array_equal(checksums(env, r), before)
    assert env.call(mt.set_offloading, False) == 0
