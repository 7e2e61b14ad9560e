"""move_pages(2) / migrate_pages(2) status codes and errors (v6.8 semantics)."""

from __future__ import annotations

import numpy as np

from drivers.mm.errno import EACCES, EBUSY, EFAULT, EINVAL, ENODEV, ENOENT, EPERM, ESRCH
from drivers.mm.syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL

from .helpers import checksums, make_env, move, populate


def test_status_codes_per_page() -> None:
    env = make_env("latest")
    r = populate(env, 4, node=1)
    mm = r.task.mm
    assert mm is not None
    hole = mm.mmap(4 * 4096)  # a VMA never faulted in
    other = env.mm.create_process("peer")
    shared = populate(env, 1, node=1, task=r.task)
    env.mm.share_mapping(r.task, shared.addr, 4096, other)
    on0 = populate(env, 1, node=0, task=r.task)
    pages = [r.addr, 0x1000, hole, shared.addr, on0.addr, r.addr + 4096]
    status = [-999] * len(pages)
    rc = env.call(env.sys.move_pages, r.task.pid, pages, [0] * len(pages), status, MPOL_MF_MOVE)
    assert rc == 0
    assert status == [0, -EFAULT, -ENOENT, -EACCES, 0, 0]
    assert mm.folio_at(shared.addr).nid == 1  # type: ignore[union-attr]
    assert mm.folio_at(r.addr).nid == 0  # type: ignore[union-attr]


def test_status_array_shorter_than_pages_faults_after_the_last_slot() -> None:
    """The pages migrate; status is stored up to the end of the user's array, then the
    store faults (-EFAULT), for a list and for any other mutable sequence alike."""
    import array

    for make in (list, lambda xs: array.array("i", xs)):
        env = make_env()
        r = populate(env, 6, node=1)
        pages = [r.addr + i * 4096 for i in range(6)]
        status = make([-999] * 4)
        rc = env.call(env.sys.move_pages, r.task.pid, pages, [0] * 6, status, MPOL_MF_MOVE)
        assert rc == -EFAULT
        assert list(status) == [0, 0, 0, 0]
        assert r.task.mm is not None
        assert all(r.task.mm.folio_at(p).nid == 0 for p in pages)  # type: ignore[union-attr]


def test_query_mode() -> None:
    env = make_env()
    r = populate(env, 2, node=1)
    status = [-999] * 3
    rc = env.call(env.sys.move_pages, r.task.pid, [r.addr, r.addr + 4096, 0x5000], None, status)
    assert rc == 0 and status == [1, 1, -EFAULT]


def test_move_all_needs_privilege() -> None:
    env = make_env()
    r = populate(env, 1, node=1)
    user = r.task
    assert move(env, r, 0, flags=MPOL_MF_MOVE_ALL, caller=user)[0] == -EPERM
    assert move(env, r, 0, flags=0x100)[0] == -EINVAL
    # with CAP_SYS_NICE a shared page moves
    other = env.mm.create_process("peer")
    env.mm.share_mapping(r.task, r.addr, 4096, other)
    assert move(env, r, 0, caller=user)[1] == [-EACCES]
    nice = env.mm.create_process("admin", cap_sys_nice=True)
    rc, status = move(env, r, 0, flags=MPOL_MF_MOVE_ALL, caller=nice)
    assert rc == 0 and status == [0]


def test_bad_pid_and_permission() -> None:
    env = make_env()
    r = populate(env, 1, node=1)
    st = [0]
    assert env.call(env.sys.move_pages, 4242, [r.addr], [0], st, MPOL_MF_MOVE) == -ESRCH
    stranger = env.mm.create_process("stranger", uid=2000)
    rc = env.call(env.sys.move_pages, r.task.pid, [r.addr], [0], st, MPOL_MF_MOVE,
                  caller=stranger)
    assert rc == -EPERM
    # pid 0 = the caller itself
    rc = env.call(env.sys.move_pages, 0, [r.addr], [0], st, MPOL_MF_MOVE, caller=r.task)
    assert rc == 0 and st == [0]


def test_bad_nodes() -> None:
    env = make_env()
    r = populate(env, 2, node=1)
    for node in (5, -1, 64, 1000):
        st = [-999, -999]
        rc = env.call(env.sys.move_pages, r.task.pid, [r.addr, r.addr + 4096], [node, node], st,
                      MPOL_MF_MOVE)
        assert rc == -ENODEV and st == [-999, -999]
    limited = env.mm.create_process("limited", mems_allowed=[1])
    rl = populate(env, 1, node=1, task=limited)
    st = [-999]
    rc = env.call(env.sys.move_pages, limited.pid, [rl.addr], [0], st, MPOL_MF_MOVE)
    assert rc == -EACCES


def test_thp_subpages_second_address_is_busy() -> None:
    env = make_env("generic")
    r = populate(env, 512, node=1, order=9)
    before = checksums(env, r)
    rc, status = move(env, r, 0, per_page=True)
    assert rc == 0
    assert status[0] == 0 and status[1] == -EBUSY and set(status[2:]) == {0}
    assert np.array_equal(checksums(env, r), before)


def test_mixed_target_nodes_grouped() -> None:
    env = make_env("seed")
    r = populate(env, 6, node=1)
    nodes = [0, 0, 1, 1, 0, 0]
    st = [-999] * 6
    rc = env.call(env.sys.move_pages, r.task.pid, r.page_addrs, nodes, st, MPOL_MF_MOVE)
    assert rc == 0 and st == nodes
    assert r.task.mm.page_nodes(r.addr, 6) == nodes  # type: ignore[union-attr]


def test_migrate_pages_syscall() -> None:
    env = make_env("v3")
    r = populate(env, 300, node=1)
    thp = populate(env, 512, node=1, order=9, task=r.task)
    before = checksums(env, r), checksums(env, thp)
    rc = env.call(env.sys.migrate_pages, r.task.pid, 3, [1], [0])
    assert rc == 0
    assert set(r.task.mm.page_nodes(r.addr, 300)) == {0}  # type: ignore[union-attr]
    assert env.mm.folios_of(thp.task, thp.addr, 512 * 4096)[0].nid == 0
    assert np.array_equal(checksums(env, r), before[0])
    assert np.array_equal(checksums(env, thp), before[1])
    # 0b11 with maxnode 3 -> nodes {0,1}; swap them back
    assert env.call(env.sys.migrate_pages, r.task.pid, 3, 0b01, 0b10) == 0
    assert set(r.task.mm.page_nodes(r.addr, 300)) == {1}  # type: ignore[union-attr]


def test_migrate_pages_syscall_errors_and_shared() -> None:
    env = make_env()
    r = populate(env, 4, node=1)
    user = r.task
    assert env.call(env.sys.migrate_pages, 999, 3, [1], [0]) == -ESRCH
    assert env.call(env.sys.migrate_pages, r.task.pid, 128, 1 << 70, [0]) == -EINVAL
    stranger = env.mm.create_process("stranger", uid=2000)
    assert env.call(env.sys.migrate_pages, r.task.pid, 3, [1], [0], caller=stranger) == -EPERM
    limited = env.mm.create_process("limited", mems_allowed=[1])
    assert env.call(env.sys.migrate_pages, limited.pid, 3, [1], [0], caller=limited) == -EPERM
    # a shared page is skipped (not an error) for an unprivileged caller
    other = env.mm.create_process("peer")
    env.mm.share_mapping(r.task, r.addr, 4096, other)
    rc = env.call(env.sys.migrate_pages, 0, 3, [1], [0], caller=user)
    assert rc == 0
    assert user.mm.page_nodes(r.addr, 4) == [1, 0, 0, 0]  # type: ignore[union-attr]
